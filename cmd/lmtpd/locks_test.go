package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// holdLock runs flock(1) as the mailbox owner on maildir, as in issue 17
// item 1 (setpriv --reuid=U --regid=U --clear-groups flock -x <Maildir>
// sleep 300), and returns once the lock is held.
func holdLock(t *testing.T, maildir string) {
	t.Helper()
	args := []string{"flock", "-x", maildir, "sh", "-c", "echo locked; exec sleep 300"}
	if os.Geteuid() == 0 {
		args = append([]string{"setpriv", "--reuid=1001", "--regid=1001", "--clear-groups"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // flock(1) and its sleep
		cmd.Wait()
	})
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("lock holder: %q %v", line, err)
	}
}

// TestDaemonOwnerLockedMaildir: the lmtpd binary with alice's maildir
// flocked by alice. Her delivery waits for the quota lock (lock_timeout
// is long here); SIGTERM still ends lmtpd within shutdown_timeout (plus
// the bounded wait for deliveries writing, which are cancelled), and alice
// is not acknowledged. Before the fix lmtpd never exited.
func TestDaemonOwnerLockedMaildir(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "lmtp.sock")
	const shutdown = time.Second
	cfg, maildir := setup(t, strconv.Quote("unix:"+sock),
		fmt.Sprintf("shutdown_timeout = %q\n[quota]\ndefault = \"1G\"\nlock_timeout = \"1h\"\n", shutdown))
	d := startDaemon(t, exec.Command(os.Args[0], "-c", cfg))
	d.waitState("READY=1")
	deliver(t, "unix", sock, "before") // creates the maildir
	holdLock(t, maildir)

	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "LHLO t\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n")
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("before DATA: %v", err)
		}
		if strings.HasPrefix(l, "354 ") {
			break
		}
	}
	fmt.Fprintf(c, "Subject: locked\r\n\r\nx\r\n.\r\n")
	// The message is spooled and its delivery waits for the lock; the
	// log says so only at the end, so nothing to wait for here but the
	// data phase to begin, which the 354 and the sent dot mean.

	start := time.Now()
	d.signal(syscall.SIGTERM)
	d.waitState("STOPPING=1")
	if code := d.wait(); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	// Bounded by shutdown_timeout plus inflightGrace (5 s); in practice
	// just over shutdown_timeout, as the wait is cancelled at once.
	if el := time.Since(start); el > shutdown+10*time.Second {
		t.Errorf("lmtpd took %v to stop, shutdown_timeout %v", el, shutdown)
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			break
		}
		if !strings.HasPrefix(l, "4") {
			t.Errorf("alice, cut by shutdown, answered %q", l)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(maildir, "new")); len(ents) != 1 {
		t.Errorf("%d files in new/, want only the first", len(ents))
	}
	if ents, _ := os.ReadDir(filepath.Join(maildir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ holds %d files", len(ents))
	}
}
