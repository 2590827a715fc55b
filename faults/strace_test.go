//go:build faults

package faults

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"maildeliver/internal/testdb"
)

// TestInject: strace makes one system call fail at each step of a
// delivery (the Nth call of that syscall, for every N a clean delivery
// makes). A fault on the mailbox must end as exit 75 with a 4.x.x line,
// nothing in new/ and tmp/ empty; a fault elsewhere (the log, the
// runtime's own files) may also end in a clean delivery, but never in a
// deferral caused by logging, and never in any other exit code.
func TestInject(t *testing.T) {
	for _, f := range []struct{ name, trace, inject string }{
		{"deliver fsync EIO", "fsync,fdatasync", "fsync,fdatasync:error=EIO"},
		{"deliver write ENOSPC", "write,pwrite64", "write,pwrite64:error=ENOSPC"},
		{"deliver write EDQUOT", "write,pwrite64", "write,pwrite64:error=EDQUOT"},
		{"deliver rename/renameat2/link EIO", "rename,renameat,renameat2,link,linkat", "rename,renameat,renameat2,link,linkat:error=EIO"},
		{"deliver renameat2 EXDEV", "renameat2", "renameat2:error=EXDEV"},
		{"deliver openat EACCES", "open,openat", "open,openat:error=EACCES"},
		{"deliver mkdirat ENOSPC", "mkdir,mkdirat", "mkdir,mkdirat:error=ENOSPC"},
		{"deliver fstat EIO", "fstat,newfstatat,statx", "fstat,newfstatat,statx:error=EIO"},
	} {
		runRow(t, "strace inject", f.name, func(t *testing.T, r *row) { injectDeliver(r, f.trace, f.inject, "") })
	}
	// issue 17 #6: the clean-up unlink fails too, after each fsync's EIO
	runRow(t, "strace inject", "deliver fsync EIO + unlink EIO (double fault)", func(t *testing.T, r *row) {
		// tmp/ may keep the file the failing unlink could not remove
		r.note("tmp/ not judged")
		injectDeliver(r, "fsync,fdatasync,unlink,unlinkat", "fsync,fdatasync:error=EIO", "unlink,unlinkat:error=EIO")
	})
}

// TestInjectLmtpd: lmtpd runs under strace failing every Nth call of a
// syscall while 30 messages go to two recipients (two uids): each 250 must
// be in new/ whole and once, each refusal must be 4.x.x and leave nothing
// in new/, and tmp/ must be empty at the end. (write is left to deliver's
// rows: in lmtpd it would also fail the replies and the Go runtime's own
// eventfd.)
func TestInjectLmtpd(t *testing.T) {
	for _, f := range []struct{ name, inject string }{
		{"lmtpd fsync EIO, every 3rd call", "fsync,fdatasync:error=EIO:when=2+3"},
		// From the 2nd call: lmtpd's 1st rename puts its socket in place
		// (bound in a private directory, see internal/lmtp/unixsock.go).
		{"lmtpd renameat2/link EIO, every 2nd call", "rename,renameat,renameat2,link,linkat:error=EIO:when=2+2"},
		{"lmtpd openat EACCES, every 7th call", "open,openat:error=EACCES:when=7+7"},
		{"lmtpd mkdirat EDQUOT, every 3rd call", "mkdir,mkdirat:error=EDQUOT:when=3+3"},
	} {
		runRow(t, "strace inject", f.name, func(t *testing.T, r *row) { injectLmtpd(r, f.inject) })
	}
}

func injectLmtpd(r *row, inject string) {
	e := newEnv(r.t, testdb.MySQL(r.t)) // the userdb on MariaDB
	cfg := e.config("lmtpd", section{"userdb": `timeout = "5s"`, "mail": `detail_folder = true`})
	sys, _, _ := strings.Cut(inject, ":")
	d, err := tryStartUnder([]string{"strace", "-f", "-qq", "-o", "/dev/null", "-e", "signal=none", "-e", "trace=" + sys, "-e", "inject=" + inject}, cfg, 30*time.Second)
	if err != nil {
		r.fail("lmtpd under strace: %v", err)
		return
	}
	defer d.kill()
	rcpts := []string{"user@domain.org", "user+f@foo.org"}
	md := map[string]string{rcpts[0]: e.maildir(rcpts[0]), rcpts[1]: filepath.Join(e.maildir("user@foo.org"), ".f")}
	r.tries = 30
	for i := 0; i < r.tries; i++ {
		subj := subject(fmt.Sprintf("m%d", i), 2000+i*100)
		rr, err := deliverLMTP(e.sock(), rcpts, testMessage(subj, sizeOf(subj)), 20*time.Second)
		if err != nil {
			r.count("no reply", 1)
		}
		for _, x := range rr {
			var st stored
			scanNew(md[x.rcpt], nil, &st)
			switch {
			case strings.HasPrefix(x.reply, "250 "):
				r.count("250", 1)
				if st.subject[subj] != 1 {
					r.count("bad", 1)
					r.fail("%s: 250 for %s but %d copies in new/", x.rcpt, subj, st.subject[subj])
				}
			case strings.HasPrefix(x.reply, "4"):
				r.count("4.x.x", 1)
				if st.subject[subj] != 0 {
					r.count("bad", 1)
					r.fail("%s: %q for %s but it is in new/", x.rcpt, x.reply, subj)
				}
			default:
				r.count("bad", 1)
				r.fail("%s: %q (want 250 or 4.x.x)", x.rcpt, x.reply)
			}
		}
	}
	for _, m := range md {
		if n := countDir(filepath.Join(m, "tmp")); n != 0 {
			r.count("tmp leftovers", int64(n))
		}
		var st stored
		scanNew(m, nil, &st)
		r.count("corrupt", int64(len(st.corrupt)))
	}
	if !d.alive() {
		r.fail("lmtpd died: %s", lastLines(d.stderr.String(), 3))
	}
	r.mustZero("bad", "tmp leftovers", "corrupt")
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " / ")
}

// injectDeliver counts the calls a clean delivery makes of trace, then
// runs one delivery per N failing the Nth call as inject says (extra, if
// set, is a second fault injected on every call).
func injectDeliver(r *row, trace, inject, extra string) {
	e := newEnv(r.t, nil)
	cfg := e.config("deliver", section{"userdb": `timeout = "5s"`})
	md := e.maildir("user@domain.org")
	fresh := func() { os.RemoveAll(filepath.Dir(md)) }
	fresh()
	clean := straceDeliver(e, cfg, trace, nil, nil, subject("clean", 3000))
	if clean.code != 0 {
		r.fail("clean delivery under strace: exit %d %q", clean.code, clean.out)
		return
	}
	n := strings.Count(clean.trace, "\n")
	// the sweep is repeated (up to 5 times) until it has hit a call on the
	// message's own file in tmp/, when a clean delivery makes one
	fileStep := strings.Contains(clean.trace, "/Maildir/tmp/")
	sweeps := 0
	for hit := false; sweeps < 5 && (sweeps == 0 || fileStep && !hit); sweeps++ {
		for k := 1; k <= n; k++ {
			fresh()
			injects := []string{fmt.Sprintf("%s:when=%d", inject, k)}
			if extra != "" {
				injects = append(injects, extra)
			}
			subj := subject(fmt.Sprintf("k%d-%d", sweeps, k), 3000)
			run := straceDeliver(e, cfg, trace, nil, injects, subj)
			// a call on the file, or creating it (openat in tmp/)
			if injectedOn(run.trace, "/Maildir/tmp/") || injectedOn(run.trace, "/Maildir/tmp>, \"") {
				hit = true
				r.count("message file hit", 1)
			}
			judgeInjected(r, e, md, fmt.Sprintf("call %d", k), run, subj)
		}
	}
	// strace counts calls per thread, and the Go runtime moves a delivery
	// between threads, so "the Nth call" may miss a step; failing every
	// call on one directory of the maildir, or on the log (-P matches the
	// path and fds open on it), hits each of those steps for sure.
	dirs := []string{filepath.Dir(filepath.Dir(md)), filepath.Dir(md), md}
	for _, sub := range []string{"tmp", "new", "cur"} {
		dirs = append(dirs, filepath.Join(md, sub))
	}
	dirs = append(dirs, e.log) // and the log: it must never stop a delivery
	for i, dir := range dirs {
		fresh()
		injects := []string{inject}
		if extra != "" {
			injects = append(injects, extra)
		}
		subj := subject(fmt.Sprintf("p%d", i), 3000)
		run := straceDeliver(e, cfg, trace, []string{"-P", dir}, injects, subj)
		judgeInjected(r, e, md, "every call on "+strings.TrimPrefix(dir, e.dir+"/"), run, subj)
	}
	r.tries = sweeps*n + len(dirs)
	r.mustZero("bad")
}

type straceResult struct {
	code  int
	out   string
	trace string
}

// straceDeliver runs deliver under strace -f tracing trace (with -y, so
// each fd shows its path), more options (-P) and -e inject= specs.
func straceDeliver(e *env, cfg, trace string, opts, injects []string, subj string) straceResult {
	tf := filepath.Join(e.dir, "strace.out")
	args := append([]string{"-f", "-qq", "-y", "-e", "signal=none", "-o", tf, "-e", "trace=" + trace}, opts...)
	for _, in := range injects {
		args = append(args, "-e", "inject="+in)
	}
	args = append(args, "--", deliverBin(), "-c", cfg, "-f", "sender@example.net", "-d", "user@domain.org")
	cmd := exec.Command("strace", args...)
	cmd.Stdin = strings.NewReader(testMessage(subj, sizeOf(subj)))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		code = -1
	}
	tr, _ := os.ReadFile(tf)
	return straceResult{code: code, out: out.String(), trace: string(tr)}
}

// injectedOn reports whether an injected call in trace names path.
func injectedOn(trace, path string) bool {
	for _, l := range strings.Split(trace, "\n") {
		if strings.Contains(l, "(INJECTED)") && strings.Contains(l, path) {
			return true
		}
	}
	return false
}

// judgeInjected classifies one faulty delivery and fails the row for a
// wrong outcome.
func judgeInjected(r *row, e *env, md string, step string, run straceResult, subj string) {
	var hit string
	for _, l := range strings.Split(run.trace, "\n") {
		if strings.Contains(l, "(INJECTED)") {
			hit += l + "\n"
		}
	}
	var st stored
	scanNew(md, nil, &st)
	tmp := countDir(filepath.Join(md, "tmp"))
	if strings.Contains(hit, "unlink") {
		tmp = 0 // the double fault: an unlink that fails cannot clean tmp/
	}
	delivered := run.code == 0 && st.files == 1 && st.subject[subj] == 1 && len(st.corrupt) == 0 && tmp == 0
	// strace counts per thread, so a run can also fail the write of the
	// status line itself: then exit 75 alone says "temporary"
	lineLost := injectedOn(run.trace, "write(2<") || injectedOn(run.trace, "write(1<")
	deferred := run.code == 75 && (strings.HasPrefix(run.out, "4.") || lineLost) && st.files == 0 && tmp == 0
	onMailbox := strings.Contains(hit, e.home)
	onLog := strings.Contains(hit, e.log)
	// strace's when=N counts per thread, so one run can fail the log and
	// another call too (the userdb's open, say): a deferral is then that
	// other fault's right answer. The Go runtime's probe of the huge page
	// size ignores its error and justifies nothing.
	offLog := false
	for _, l := range strings.Split(strings.TrimSpace(hit), "\n") {
		if l != "" && !strings.Contains(l, e.log) && !strings.Contains(l, "/sys/kernel/mm/transparent_hugepage/") {
			offLog = true
		}
	}
	bad := func(why string) {
		r.count("bad", 1)
		r.fail("%s: %s: exit %d %q, %d in new/, %d in tmp/; injected: %s", step, why, run.code, strings.TrimSpace(run.out), st.files, tmp, strings.TrimSpace(hit))
	}
	switch {
	case hit == "":
		r.count("not reached", 1)
		if !delivered {
			bad("no fault injected, yet no clean delivery")
		}
	case strings.Contains(hit, "anon_inode:[eventfd]"):
		// the Go runtime's netpoll wake-up: a kernel eventfd write cannot
		// fail this way outside strace, so its outcome is not judged
		r.count("runtime eventfd, not judged", 1)
	case onMailbox && deferred:
		r.count("deferred clean", 1)
	case onMailbox:
		bad("fault on the mailbox must defer cleanly")
	case onLog && delivered:
		r.count("log fault, delivered", 1)
	case onLog && !offLog:
		bad("a logging fault must not stop the delivery (issue 15 #8)")
	case onLog && deferred:
		r.count("log and elsewhere, deferred clean", 1)
	case delivered:
		r.count("elsewhere, delivered", 1)
	case deferred:
		r.count("elsewhere, deferred clean", 1)
	default:
		bad("neither a clean delivery nor a clean deferral")
	}
}
