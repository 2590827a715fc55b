// Command fsynclimit measures the disk's ceiling for durable Maildir
// delivery: how many deliveries per second the file system takes when a
// delivery does nothing but the steps that maildeliver (and Dovecot)
// cannot skip without breaking the durability promise:
//
//	openat(tmp/, UNIQUE, O_CREAT|O_EXCL)  write  fsync(file)  close
//	renameat2(tmp/UNIQUE, new/UNIQUE,S=n, RENAME_NOREPLACE)
//	fsync(new/)
//
// No lookup, no parsing, no network, no identity switch. The tmp/ and new/
// directories are opened once per maildir, as package maildir keeps them
// open for the duration of a delivery. Every figure of bench/run.sh has the
// matching ceiling beside it.
//
// Goroutines deliver in parallel, each into its own maildir (mode spread)
// or all into one (mode same). -sync file skips the fsync of new/ and -sync
// none both fsyncs; those rows are not durable and only show what the
// syncs cost.
//
// -sync syncfs and syncfs2 measure cross-directory group commit: instead
// of each delivery's fsync of its new/, one syncfs(2) of the whole file
// system that started after the rename covers every delivery waiting for
// it, in any directory (syncfs: the file still fsynced on its own; syncfs2:
// no fsync at all, a shared syncfs before the rename for the data and one
// after it for the name). Both are durable; whether they are cheaper than
// the per-delivery fsyncs that the journal already batches is what the
// rows say.
//
// Output: one CSV row per run, in bench/run.sh's runs.csv format (no
// header unless -header):
//
//	phase,side,size,conc,rcpts,mode,variant,rep,msgs,deliv,seconds,ok,rss0_kb,hwm_kb,busy_pct,cpu_us
//
// busy_pct is the machine's CPU busy share during the run (/proc/stat) and
// cpu_us this process's CPU time (user + system, nearly all of it in the
// kernel) per delivery: what the disk's ceiling costs in CPU.
//
// Configurations are run round-robin, one rep of each in turn, because
// this kind of VM's metadata speed drifts by several times within minutes;
// interleaving spreads the drift over all configurations.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

type config struct {
	size       int
	sizeLabel  string
	conc       int
	mode, sync string
	n          int
}

func main() {
	root := flag.String("root", "", "directory for the test maildirs, on the mail store's file system (required)")
	sizes := flag.String("size", "4k,100k", "comma-separated message sizes (suffix k or m: powers of 1024)")
	concs := flag.String("c", "1,8,32", "comma-separated numbers of concurrent deliverers")
	modes := flag.String("mode", "spread,same", "comma-separated: spread (a maildir per deliverer) | same (one maildir)")
	syncs := flag.String("sync", "full", "comma-separated: full (file + new/) | syncfs (file, then one syncfs shared by all deliverers) | syncfs2 (shared syncfs before and after the rename, no fsync) | file (file only) | none")
	n := flag.Int("n", 2000, "deliveries per run (rounded down to a multiple of the concurrency)")
	reps := flag.Int("reps", 3, "runs per configuration")
	header := flag.Bool("header", false, "print the CSV header first")
	flag.Parse()
	if *root == "" {
		fail(errors.New("-root is required"))
	}
	var cfgs []config
	for _, sy := range split(*syncs) {
		if sy != "full" && sy != "file" && sy != "none" && sy != "syncfs" && sy != "syncfs2" {
			fail(fmt.Errorf("bad -sync %q", sy))
		}
		for _, sz := range split(*sizes) {
			size, err := parseSize(sz)
			if err != nil {
				fail(err)
			}
			for _, cs := range split(*concs) {
				c, err := strconv.Atoi(cs)
				if err != nil || c < 1 {
					fail(fmt.Errorf("bad -c %q", cs))
				}
				for _, m := range split(*modes) {
					if m != "spread" && m != "same" {
						fail(fmt.Errorf("bad -mode %q", m))
					}
					if c == 1 && m == "same" && strings.Contains(*modes, "spread") {
						continue // one deliverer: same as spread
					}
					cfgs = append(cfgs, config{size: size, sizeLabel: sz, conc: c, mode: m, sync: sy, n: max(*n/c*c, c)})
				}
			}
		}
	}
	if err := os.MkdirAll(*root, 0o755); err != nil {
		fail(err)
	}
	if *header {
		fmt.Println("phase,side,size,conc,rcpts,mode,variant,rep,msgs,deliv,seconds,ok,rss0_kb,hwm_kb,busy_pct,cpu_us")
	}
	run := 0
	for rep := 1; rep <= *reps; rep++ {
		for _, c := range cfgs {
			run++
			dir := filepath.Join(*root, "run"+strconv.Itoa(run))
			busy0, total0 := machineCPU()
			cpu0 := selfCPU()
			secs, err := runOnce(dir, c)
			cpu := selfCPU() - cpu0
			busy1, total1 := machineCPU()
			os.RemoveAll(dir)
			unix.Sync() // the cleanup's writeback must not land in the next run
			if err != nil {
				fail(err)
			}
			busy := ""
			if total1 > total0 {
				busy = fmt.Sprintf("%.0f", 100*float64(busy1-busy0)/float64(total1-total0))
			}
			fmt.Printf("fsync,disk,%s,%d,1,%s,%s,%d,%d,%d,%.6f,1,,,%s,%.0f\n",
				c.sizeLabel, c.conc, c.mode, c.sync, rep, c.n, c.n, secs, busy, float64(cpu.Microseconds())/float64(c.n))
			fmt.Fprintf(os.Stderr, "fsync-limit sync=%-4s %-4s c=%-2d %-6s rep=%d  %6.0f deliveries/s\n",
				c.sync, c.sizeLabel, c.conc, c.mode, rep, float64(c.n)/secs)
		}
	}
}

// selfCPU is this process's CPU time so far, user + system.
func selfCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU reads /proc/stat's cpu line: busy (all but idle and iowait)
// and total jiffies; zeros when it cannot.
func machineCPU() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0
	}
	var idle uint64
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return total - idle, total
}

// maildir is one test maildir with its tmp/ and new/ held open.
type maildir struct{ tmp, new int }

func makeMaildir(path string) (maildir, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(path, sub), 0o700); err != nil {
			return maildir{}, err
		}
	}
	tmp, err := unix.Open(filepath.Join(path, "tmp"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return maildir{}, err
	}
	nw, err := unix.Open(filepath.Join(path, "new"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(tmp)
		return maildir{}, err
	}
	return maildir{tmp: tmp, new: nw}, nil
}

var seq atomic.Uint64

// deliver is the minimal durable delivery of msg into md.
func deliver(md maildir, msg []byte, syncMode, pid string) error {
	now := time.Now()
	name := strconv.FormatInt(now.Unix(), 10) + ".M" + strconv.Itoa(now.Nanosecond()/1000) +
		"P" + pid + "Q" + strconv.FormatUint(seq.Add(1), 10) + ".fsynclimit"
	fd, err := unix.Openat(md.tmp, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create tmp/%s: %w", name, err)
	}
	for p := msg; len(p) > 0; {
		w, err := unix.Write(fd, p)
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("write: %w", err)
		}
		p = p[w:]
	}
	if syncMode == "syncfs2" {
		if err := fsGroup.wait(md.new); err != nil {
			unix.Close(fd)
			return fmt.Errorf("syncfs: %w", err)
		}
	} else if syncMode != "none" {
		if err := unix.Fsync(fd); err != nil {
			unix.Close(fd)
			return fmt.Errorf("fsync file: %w", err)
		}
	}
	if err := unix.Close(fd); err != nil {
		return err
	}
	final := name + ",S=" + strconv.Itoa(len(msg))
	if err := unix.Renameat2(md.tmp, name, md.new, final, unix.RENAME_NOREPLACE); err != nil {
		return fmt.Errorf("rename into new/: %w", err)
	}
	switch syncMode {
	case "full":
		if err := unix.Fsync(md.new); err != nil {
			return fmt.Errorf("fsync new/: %w", err)
		}
	case "syncfs", "syncfs2":
		if err := fsGroup.wait(md.new); err != nil {
			return fmt.Errorf("syncfs: %w", err)
		}
	}
	return nil
}

// syncGroup shares syncfs(2) calls between deliverers: wait returns once
// a syncfs that started after wait was called has finished, so one call
// covers every rename made before it, in any directory.
type syncGroup struct {
	mu            sync.Mutex
	cond          *sync.Cond
	started, done uint64
	running       bool
	err           error
}

var fsGroup = func() *syncGroup { g := &syncGroup{}; g.cond = sync.NewCond(&g.mu); return g }()

func (g *syncGroup) wait(fd int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	target := g.started + 1
	for g.done < target {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		gen := g.started
		g.mu.Unlock()
		err := unix.Syncfs(fd)
		g.mu.Lock()
		g.running = false
		g.done = gen
		if err != nil {
			g.err = err
		}
		g.cond.Broadcast()
	}
	return g.err
}

// runOnce runs one configuration once and returns the elapsed seconds.
func runOnce(dir string, c config) (float64, error) {
	msg := body(c.size)
	nmd := c.conc
	if c.mode == "same" {
		nmd = 1
	}
	mds := make([]maildir, nmd)
	for i := range mds {
		md, err := makeMaildir(filepath.Join(dir, "box"+strconv.Itoa(i), "Maildir"))
		if err != nil {
			return 0, err
		}
		defer unix.Close(md.tmp)
		defer unix.Close(md.new)
		mds[i] = md
	}
	unix.Sync() // the new directories are durable before the clock starts
	pid := strconv.Itoa(os.Getpid())
	per := c.n / c.conc
	errs := make(chan error, c.conc)
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < c.conc; g++ {
		wg.Add(1)
		go func(md maildir) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if err := deliver(md, msg, c.sync, pid); err != nil {
					errs <- err
					return
				}
			}
		}(mds[g%nmd])
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return secs, nil
}

// body is a plain-text message of exactly size bytes.
func body(size int) []byte {
	line := "The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrstu\n"
	b := make([]byte, size)
	for i := range b {
		b[i] = line[i%len(line)]
	}
	return b
}

func parseSize(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"):
		mult = 1 << 10
	case strings.HasSuffix(s, "m"):
		mult = 1 << 20
	}
	v, err := strconv.Atoi(strings.TrimRight(s, "km"))
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return v * mult, nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fsynclimit:", err)
	os.Exit(1)
}
