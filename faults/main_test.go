//go:build faults

package faults

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var (
	// binDir holds the binaries under attack, as scripts/build.sh builds them.
	binDir   string
	selected *regexp.Regexp
	long     = os.Getenv("FAULTS_LONG") == "1"
	seed     uint64
	results  table
)

func deliverBin() string { return filepath.Join(binDir, "deliver") }
func lmtpdBin() string   { return filepath.Join(binDir, "lmtpd") }

// TestMain builds the binaries, runs the rows and prints the table. The
// test binary doubles as the mailbox owner's attacker (see helperMain).
func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(helperMain(h, os.Args[1:]))
	}
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "faults: the fault suite needs root (lmtpd writes as several uids)")
		os.Exit(1)
	}
	if _, err := exec.LookPath("strace"); err != nil {
		fmt.Fprintln(os.Stderr, "faults: strace is required:", err)
		os.Exit(1)
	}
	if re := os.Getenv("FAULTS"); re != "" {
		var err error
		if selected, err = regexp.Compile(re); err != nil {
			fmt.Fprintln(os.Stderr, "faults: FAULTS:", err)
			os.Exit(1)
		}
	}
	seed = uint64(time.Now().UnixNano())
	if s := os.Getenv("FAULTS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "faults: FAULTS_SEED:", err)
			os.Exit(1)
		}
		seed = v
	}
	fmt.Printf("faults: seed %d (FAULTS_SEED=%d repeats the random choices), long mode %v\n", seed, seed, long)
	cleanup, err := buildBinaries()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	start := time.Now()
	code := m.Run()
	cleanup()
	results.print(os.Stdout, time.Since(start), 400)
	if f := os.Getenv("FAULTS_TABLE"); f != "" {
		w, err := os.Create(f)
		if err == nil {
			results.print(w, time.Since(start), 100)
			err = w.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "faults:", err)
			code = 1
		}
	}
	if results.failed() && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// buildBinaries runs scripts/build.sh into a temporary directory, unless
// FAULTS_BIN names a directory that already holds the binaries.
func buildBinaries() (cleanup func(), err error) {
	if d := os.Getenv("FAULTS_BIN"); d != "" {
		binDir = d
		h, err := os.MkdirTemp("", "faults-helper-")
		if err == nil {
			os.Chmod(h, 0o755)
			err = copyHelper(h)
		}
		return func() { os.RemoveAll(h) }, err
	}
	d, err := os.MkdirTemp("", "faults-bin-")
	if err != nil {
		return nil, err
	}
	os.Chmod(d, 0o755) // helpers running as a mailbox uid start binaries from here
	cmd := exec.Command("../scripts/build.sh", d)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(d)
		return nil, fmt.Errorf("scripts/build.sh: %v", err)
	}
	binDir = d
	if err := copyHelper(d); err != nil {
		os.RemoveAll(d)
		return nil, err
	}
	return func() { os.RemoveAll(d) }, nil
}

// rng returns a generator for one row, derived from the run's seed and the
// row's name, so that FAULTS_SEED repeats a row's choices even when other
// rows are left out.
func rng(name string) *rand.Rand {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return rand.New(rand.NewPCG(seed, h))
}

// tries returns n in CI and nLong in the longer mode.
func tries(n, nLong int) int {
	if long {
		return nLong
	}
	return n
}

// row is one line of the table: how often a fault was tried and what came
// of it. Figures keep the order in which they were first counted.
type row struct {
	t      *testing.T
	class  string
	name   string
	tries  int
	mu     sync.Mutex
	keys   []string
	counts map[string]int64
	notes  []string
	fails  []string
	pass   bool
	took   time.Duration
}

// count adds n to a figure (creating it at 0 if n is 0).
func (r *row) count(key string, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.counts[key]; !ok {
		r.keys = append(r.keys, key)
	}
	r.counts[key] += n
}

func (r *row) get(key string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[key]
}

// note adds a free-form figure such as a peak RSS.
func (r *row) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// fail marks the row failed with a reason shown in the table.
func (r *row) fail(format string, args ...any) {
	r.t.Helper()
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	if len(r.fails) < 3 {
		r.fails = append(r.fails, msg)
	}
	r.mu.Unlock()
	r.t.Error(msg)
}

// mustZero fails the row for each named figure that is not 0.
func (r *row) mustZero(keys ...string) {
	r.t.Helper()
	for _, k := range keys {
		r.count(k, 0)
		if n := r.get(k); n != 0 {
			r.fail("%s %d, want 0", k, n)
		}
	}
}

// runRow runs one row as a subtest when FAULTS selects it.
func runRow(t *testing.T, class, name string, fn func(t *testing.T, r *row)) {
	id := class + "/" + name
	if selected != nil && !selected.MatchString(id) {
		return
	}
	r := &row{class: class, name: name, counts: map[string]int64{}}
	start := time.Now()
	r.pass = t.Run(name, func(t *testing.T) {
		r.t = t
		fn(t, r)
	})
	r.took = time.Since(start)
	if !r.pass && len(r.fails) == 0 {
		r.fails = append(r.fails, "test failed (see its log)")
	}
	results.add(r)
}

// knownDefect names the open issue item a row's failure is expected
// from until its fix is merged (shown in the table, never a pass).
var knownDefect = map[string]string{
	"mailbox owner races/Maildir flock-held by its owner":                         "issue 17 #1",
	"hostile LMTP/1 MB of folded header lines":                                    "issue 17 #2",
	"socket directory owner/LMTP socket swapped for a symlink before its chmod":   "issue 17 #3",
	"socket directory owner/userdb socket swapped for a symlink before its chmod": "issue 17 #3",
	"resource limits/deliver under RLIMIT_NPROC 1-3 and RLIMIT_AS 730-800 MB":     "issue 17 #4",
	"silent database/mysql that hangs up at once: deliver":                        "issue 17 #5",
	"strace inject/deliver fsync EIO + unlink EIO (double fault)":                 "issue 17 #6",
	"hostile LMTP/4 x 20 MB header line (BDAT, concurrent)":                       "issue 17 #7",
	"userdb socket/300 clients hold every slot: deliver still delivers":           "issue 17 #8",
	"hostile LMTP/slowloris (one byte per second)":                                "issue 17 #9",
	"hostile LMTP/BDAT with bogus sizes":                                          "issue 17 #9",
	"hostile LMTP/header injection (ORCPT xtext CRLF, deliver -a/-f with LF)":     "issue 15 #1",
	"strace inject/deliver openat EACCES":                                         "issue 15 #8",
	"privileges/lmtpd as root: capabilities of every thread after deliveries":     "issue 15 #3",
}

type table struct {
	mu   sync.Mutex
	rows []*row
}

func (tb *table) add(r *row) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.rows = append(tb.rows, r)
}

func (tb *table) failed() bool {
	for _, r := range tb.rows {
		if !r.pass {
			return true
		}
	}
	return false
}

// print writes the table as Markdown, the form README's "Reliability"
// section quotes, with at most maxVerdict bytes of each failure's text
// (the test log has all of it).
func (tb *table) print(w io.Writer, took time.Duration, maxVerdict int) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	fmt.Fprintf(w, "\n## fault suite: %d rows, seed %d, long mode %v, %s\n\n", len(tb.rows), seed, long, took.Round(time.Second))
	fmt.Fprintln(w, "| class | fault | tries | outcome | verdict |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range tb.rows {
		var figs []string
		for _, k := range r.keys {
			figs = append(figs, fmt.Sprintf("%s %d", k, r.counts[k]))
		}
		figs = append(figs, r.notes...)
		verdict := "ok"
		if !r.pass {
			verdict = "**FAIL**: "
			if d := knownDefect[r.class+"/"+r.name]; d != "" {
				verdict = "**FAIL** (" + d + "): "
			}
			verdict += strings.Join(r.fails, "; ")
		}
		verdict = strings.NewReplacer("|", "/", "\n", " / ").Replace(verdict)
		if len(verdict) > maxVerdict {
			n := maxVerdict
			for n > 0 && !utf8.RuneStart(verdict[n]) {
				n--
			}
			verdict = verdict[:n] + "…"
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s |\n", r.class, r.name, r.tries, strings.Join(figs, ", "), verdict)
	}
	fmt.Fprintln(w)
}
