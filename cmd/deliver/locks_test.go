package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOwnerLockedMaildir is issue 17 item 1 for deliver: the mailbox
// owner flocks the maildir and keeps it (setpriv --reuid=1001
// --regid=1001 --clear-groups flock -x <Maildir> sleep 300). With a quota
// set, deliver must give up after [quota] lock_timeout with exit 75
// (4.2.0), leaving nothing behind; it used to block in flock(2) for as
// long as the lock was held. Other mailboxes are unaffected.
func TestOwnerLockedMaildir(t *testing.T) {
	requireRoot(t)
	const lockTimeout = time.Second
	e := sqliteEnv(t, "[quota]\ndefault = \"1G\"\nlock_timeout = \"1s\"\n")
	md := filepath.Join(e.dir, "home/domain.org/mails/user/Maildir")
	checkOutcome(t, e.deliver(testMsg, "-f", "a@b", "-d", "user@domain.org"), 0, "")

	holder := exec.Command("setpriv", "--reuid=1001", "--regid=1001", "--clear-groups",
		"flock", "-x", md, "sh", "-c", "echo locked; exec sleep 300")
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-holder.Process.Pid, syscall.SIGKILL) // flock(1) and its sleep
		holder.Wait()
	})
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("lock holder: %q %v", line, err)
	}

	// Bounded here so that the old behaviour fails instead of hanging.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-c", e.conf, "-f", "a@b", "-d", "user@domain.org")
	cmd.Stdin = strings.NewReader(testMsg)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("deliver still waiting for the maildir lock after %v", elapsed)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	checkOutcome(t, result{out: buf.String(), code: code}, 75, "4.2.0 ")
	if elapsed < lockTimeout {
		t.Errorf("gave up after %v, before lock_timeout", elapsed)
	}
	if n := others(t, filepath.Join(md, "new"), ""); len(n) != 1 {
		t.Errorf("new/ holds %v, want only the first message", n)
	}
	if n := others(t, filepath.Join(md, "tmp"), ""); len(n) != 0 {
		t.Errorf("tmp/ holds %v", n)
	}
	// Another user, same uid, same time: delivered.
	checkOutcome(t, e.deliver(testMsg, "-f", "a@b", "-d", "user2@domain.org"), 0, "")
	if _, err := os.Stat(filepath.Join(e.dir, "home/domain.org/mails/user2/Maildir/new")); err != nil {
		t.Error(err)
	}
}
