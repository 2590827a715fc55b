//go:build faults

package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestFSRace: the mailbox owner (uid 1001) attacks its own maildir while
// lmtpd runs as root. Nothing may be written as root or outside the
// mailbox, nothing may hang, every 250 must be in new/, and another
// user's deliveries in the same transactions must go on.
func TestFSRace(t *testing.T) {
	runRow(t, "mailbox owner races", "new/ swapped for a symlink in a loop", func(t *testing.T, r *row) {
		swapRace(r, "user@domain.org", "new")
	})
	runRow(t, "mailbox owner races", "folder swapped for a symlink in a loop", func(t *testing.T, r *row) {
		swapRace(r, "user+f@domain.org", ".f")
	})
	runRow(t, "mailbox owner races", "Maildir swapped for a symlink in a loop", func(t *testing.T, r *row) {
		swapRace(r, "user@domain.org", "")
	})
	for _, kind := range []string{"symlink to a root file", "FIFO", "1 GB sparse file", "directory"} {
		runRow(t, "mailbox owner races", "maildirsize as "+kind, func(t *testing.T, r *row) { maildirsizeTrap(r, kind) })
	}
	runRow(t, "mailbox owner races", "Maildir flock-held by its owner", flockHeld)
}

// swapEnv starts lmtpd as root over a SQLite userdb with a 1G quota and
// primes the maildirs of user@domain.org (folder .f too) and user@foo.org.
func swapEnv(r *row, extraLMTP string) (*env, *daemon) {
	e := newEnv(r.t, nil)
	cfg := e.config("race", section{"userdb": `timeout = "5s"`, "quota": `default = "1G"`, "lmtp": extraLMTP})
	d := startLmtpd(r.t, cfg)
	rr, err := deliverLMTP(e.sock(), []string{"user@domain.org", "user+f@domain.org", "user@foo.org"}, testMessage(subject("prime", 100), 100), 20*time.Second)
	if err != nil || len(rr) != 3 || !strings.HasPrefix(rr[0].reply, "250") || !strings.HasPrefix(rr[1].reply, "250") {
		r.t.Fatalf("priming delivery: %v %v", rr, err)
	}
	return e, d
}

// victim is a world-writable root directory outside every mailbox: a
// write that followed the owner's symlink would land there.
func victim(e *env) string {
	v := filepath.Join(e.dir, "victim")
	os.Mkdir(v, 0o777)
	os.Chmod(v, 0o777)
	return v
}

// swapRace swaps rel (inside rcpt's maildir; "" is the maildir itself)
// for a symlink to a victim directory in a loop while messages go to rcpt
// and to user@foo.org.
func swapRace(r *row, rcpt, rel string) {
	e, d := swapEnv(r, "")
	md := e.maildir("user@domain.org")
	path := filepath.Join(md, rel)
	v := victim(e)
	ct := map[string]bool{}
	h := startHelper(r.t, uid1, "swap", path, v)
	r.tries = tries(60, 300)
	for i := 0; i < r.tries; i++ {
		subj := subject(fmt.Sprintf("r%d", i), 1000)
		rr, err := deliverLMTP(e.sock(), []string{rcpt, "user@foo.org"}, testMessage(subj, 1000), 20*time.Second)
		if err != nil {
			r.count("hang or error", 1)
			r.fail("message %d: %v", i, err)
			break
		}
		for _, x := range rr {
			switch {
			case x.rcpt != rcpt && strings.HasPrefix(x.reply, "250 "):
				r.count("other user 250", 1)
			case x.rcpt != rcpt:
				r.count("other user refused", 1)
				r.fail("user@foo.org: %q", x.reply)
			case strings.HasPrefix(x.reply, "250 "):
				r.count("250", 1)
				ct[subj] = true
			case strings.HasPrefix(x.reply, "4"):
				r.count("4.x.x", 1)
			default:
				r.count("5xx", 1)
				r.fail("%s: %q", rcpt, x.reply)
			}
		}
	}
	h.stop()
	var st stored
	target := md
	if rel != "" {
		target = filepath.Join(md, rel)
	}
	for _, dir := range []string{target, target + ".real"} {
		if fi, err := os.Lstat(dir); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			continue
		}
		scanNew(dir, nil, &st)
		if rel == "new" {
			scanFiles(dir, &st)
		}
	}
	lost := 0
	for s := range ct {
		if st.subject[s] != 1 {
			lost++
		}
	}
	r.count("lost", int64(lost))
	r.count("written outside", int64(countDir(v)+len(outside(e))))
	r.count("owned by root", int64(len(st.rootOwn)))
	r.count("corrupt", int64(len(st.corrupt)))
	if !d.alive() {
		r.fail("lmtpd died")
	}
	r.mustZero("lost", "written outside", "owned by root", "corrupt", "5xx", "hang or error")
}

// scanFiles reads dir itself as a new/ directory (new/ renamed to new.real).
func scanFiles(dir string, into *stored) {
	tmp, err := os.MkdirTemp("", "faults-scan-")
	if err != nil {
		return
	}
	defer os.RemoveAll(tmp)
	if os.Symlink(dir, filepath.Join(tmp, "new")) == nil {
		scanNew(tmp, nil, into)
	}
}

// maildirsizeTrap replaces maildirsize with kind, then delivers: each
// message 250 or 4.x.x within 20 s, the trap's target untouched, RSS
// bounded.
func maildirsizeTrap(r *row, kind string) {
	e, d := swapEnv(r, "")
	idle := d.status("VmRSS")
	md := e.maildir("user@domain.org")
	ms := filepath.Join(md, "maildirsize")
	os.Remove(ms)
	secret := filepath.Join(e.dir, "secret")
	os.WriteFile(secret, []byte("root's file\n"), 0o600)
	switch kind {
	case "symlink to a root file":
		os.Symlink(secret, ms)
	case "FIFO":
		syscall.Mkfifo(ms, 0o600)
	case "1 GB sparse file":
		f, _ := os.Create(ms)
		f.WriteString("1000S,1C\n")
		f.Truncate(1 << 30)
		f.Close()
	case "directory":
		os.Mkdir(ms, 0o700)
	}
	os.Lchown(ms, uid1, uid1)
	r.tries = 5
	for i := 0; i < r.tries; i++ {
		subj := subject(fmt.Sprintf("q%d", i), 1000)
		start := time.Now()
		rr, err := deliverLMTP(e.sock(), []string{"user@domain.org"}, testMessage(subj, 1000), 20*time.Second)
		switch {
		case err != nil || len(rr) != 1:
			r.count("hang or error", 1)
			r.fail("message %d: %v %v after %s", i, rr, err, time.Since(start).Round(time.Millisecond))
		case strings.HasPrefix(rr[0].reply, "250 "):
			r.count("250", 1)
		case strings.HasPrefix(rr[0].reply, "4"):
			r.count("4.x.x", 1)
		default:
			r.count("5xx", 1)
			r.fail("%q", rr[0].reply)
		}
		if err != nil {
			break
		}
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "root's file\n" {
		r.count("target changed", 1)
	}
	if fi, err := os.Stat(secret); err == nil && (fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != 0) {
		r.count("target changed", 1)
	}
	peak := d.status("VmHWM")
	r.note("peak RSS %d MB", peak>>10)
	if peak-idle > rssBudget {
		r.fail("peak RSS %d kB over idle", peak-idle)
	}
	r.count("written outside", int64(len(outside(e))))
	r.mustZero("hang or error", "5xx", "target changed", "written outside")
}

// flockHeld: the owner holds an exclusive flock on its maildir (issue 17
// #1). Its recipients must get 4.x.x within lockBound (RCPT with SIZE,
// after DATA, and deliver exit 75), the other user in the same
// transaction 250, and SIGTERM must end lmtpd within shutdown_timeout.
func flockHeld(t *testing.T, r *row) {
	const lockBound = 30 * time.Second
	const shutdown = 5 * time.Second
	e, d := swapEnv(r, fmt.Sprintf("shutdown_timeout = %q", shutdown.String()))
	startHelper(t, uid1, "flock", e.maildir("user@domain.org"))
	r.tries = 3
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // RCPT with SIZE checks the quota at once
		defer wg.Done()
		cl, _, err := dialLMTP(e.sock(), 10*time.Second)
		if err != nil {
			r.fail("connect: %v", err)
			return
		}
		defer cl.Close()
		cl.cmd("LHLO faults.test")
		cl.cmd("MAIL FROM:<sender@example.net> SIZE=1000")
		start := time.Now()
		cl.deadline(lockBound)
		rp, err := cl.cmd("RCPT TO:<user@domain.org>")
		judgeLocked(r, "RCPT with SIZE", rp, err, time.Since(start), "4", "250")
	}()
	go func() {
		defer wg.Done()
		start := time.Now()
		rr, err := deliverLMTP(e.sock(), []string{"user@domain.org", "user@foo.org"}, testMessage(subject("locked", 100), 100), lockBound)
		took := time.Since(start)
		if err != nil || len(rr) != 2 {
			judgeLocked(r, "DATA", fmt.Sprint(rr), fmt.Errorf("%v", err), took, "4")
			return
		}
		judgeLocked(r, "DATA, locked user", rr[0].reply, nil, took, "4")
		judgeLocked(r, "DATA, other user", rr[1].reply, nil, took, "250")
	}()
	go func() {
		defer wg.Done()
		start := time.Now()
		code, out := runDeliverKill(e.config("race", section{"userdb": `timeout = "5s"`, "quota": `default = "1G"`}), testMessage(subject("locked-pipe", 100), 100), lockBound)
		judgeLocked(r, "deliver", fmt.Sprintf("%d %s", code, out), nil, time.Since(start), "75 4.")
	}()
	wg.Wait()
	start := time.Now()
	if !d.stop(shutdown + slack) {
		r.count("SIGTERM over shutdown_timeout", 1)
		r.fail("SIGTERM: lmtpd still running after %s (shutdown_timeout %s)", time.Since(start).Round(time.Millisecond), shutdown)
	}
	r.count("SIGTERM over shutdown_timeout", 0)
}

func judgeLocked(r *row, what, reply string, err error, took time.Duration, want ...string) {
	for _, w := range want {
		if err == nil && strings.HasPrefix(reply, w) {
			r.count(what+" "+strings.TrimSpace(w), 1)
			r.note("%s after %s", what, took.Round(100*time.Millisecond))
			return
		}
	}
	r.count(what+" wrong or hung", 1)
	r.fail("%s: %q %v after %s (want %v within 30s)", what, trunc(reply, 60), err, took.Round(time.Millisecond), want)
}
