package lmtp

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"maildeliver/internal/config"
)

// holdLock makes another process, running as the mailbox owner, flock the
// maildir exclusively and keep it (issue 17 item 1:
// setpriv --reuid=U --regid=U --clear-groups flock -x <Maildir> sleep 300).
// It returns once the lock is held; release ends that process group.
func holdLock(t *testing.T, maildir string, uid int) (release func()) {
	t.Helper()
	args := []string{"flock", "-x", maildir, "sh", "-c", "echo locked; exec sleep 300"}
	if isRoot() {
		id := strconv.Itoa(uid)
		args = append([]string{"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	released := false
	release = func() {
		if released {
			return
		}
		released = true
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // flock(1) and its sleep
		cmd.Wait()
	}
	t.Cleanup(release)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("lock holder: %q %v", line, err)
	}
	return release
}

// quotaEnv: every user has a quota, so every delivery takes the maildir's
// quota lock; alice's maildir exists (one message delivered).
func quotaEnv(t *testing.T, lockTimeout time.Duration, more func(*config.Config)) *env {
	t.Helper()
	e := newEnv(t, envOptions{config: func(c *config.Config) {
		c.Quota.Default = "1G"
		c.Quota.LockTimeout = config.Duration(lockTimeout)
		if more != nil {
			more(c)
		}
	}})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n")
	for range 4 {
		c.reply()
	}
	c.send(msg("first", "x") + ".\r\n")
	savedID(t, c.reply(), "alice@domain.org")
	c.send("QUIT\r\n")
	c.expect("221 ")
	c.closed() // its slot is free again
	return e
}

// TestOwnerLockedMaildirReplies: with alice's maildir flocked by alice,
// the other recipients of the same transaction get their 250 at once, not
// when alice's delivery ends (it waits for the lock meanwhile), and other
// connections deliver as usual. Then shutdown's deadline ends the wait:
// Shutdown returns, alice is not acknowledged, nothing is left in tmp/.
func TestOwnerLockedMaildirReplies(t *testing.T) {
	e := quotaEnv(t, time.Hour, nil) // only the shutdown ends alice's wait
	release := holdLock(t, e.users["alice@domain.org"].maildir, e.users["alice@domain.org"].uid)
	defer release()

	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<bob@foo.org>\r\n" +
		"RCPT TO:<carol@domain.org>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n")
	for range 6 {
		c.reply()
	}
	c.send(msg("locked", "x") + ".\r\n")
	// Before the fix these waited behind alice's reply, in the write
	// batch: here, until the read deadline.
	savedID(t, c.reply(), "bob@foo.org")
	savedID(t, c.reply(), "carol@domain.org")

	// Another connection, another user: unaffected.
	o := e.raw("tcp")
	o.send("LHLO client.test\r\nMAIL FROM:<s@example.net> SIZE=100\r\nRCPT TO:<bob@foo.org>\r\nDATA\r\n")
	for range 4 {
		o.reply()
	}
	o.send(msg("other", "x") + ".\r\n")
	savedID(t, o.reply(), "bob@foo.org")

	done := make(chan error, 1)
	e.stopped = true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want deadline exceeded", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Shutdown did not return: it waits for a delivery blocked on the maildir lock")
	}
	for _, r := range c.closed() {
		if !strings.HasPrefix(r, "4") {
			t.Errorf("alice, cut by shutdown, answered %q", r)
		}
	}
	if n := len(e.files("alice@domain.org", "new")); n != 1 {
		t.Errorf("alice: %d messages, want only the first", n)
	}
	if n := e.files("alice@domain.org", "tmp"); len(n) != 0 {
		t.Errorf("alice: tmp/ holds %v", n)
	}
	if n := len(e.files("bob@foo.org", "new")); n != 2 {
		t.Errorf("bob: %d messages, want 2", n)
	}
}

// TestOwnerLockedMaildirTimeout: alice's recipients get 4.2.0 once
// [quota] lock_timeout has passed, at RCPT (SIZE=) and after DATA, while
// the other recipient of the transaction is delivered; connections whose
// client gave up while RCPT waited do not keep their slots.
func TestOwnerLockedMaildirTimeout(t *testing.T) {
	const lockTimeout = time.Second
	e := quotaEnv(t, lockTimeout, func(c *config.Config) { c.LMTP.MaxConnections = 3 })
	holdLock(t, e.users["alice@domain.org"].maildir, e.users["alice@domain.org"].uid)

	c := e.raw("unix")
	start := time.Now()
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net> SIZE=100\r\nRCPT TO:<alice@domain.org>\r\nRSET\r\n")
	c.expect("250-")
	c.expect("250 ")
	c.expect("451 4.2.0 mailbox is locked, try again later [")
	c.expect("250 ")
	if d := time.Since(start); d < lockTimeout {
		t.Errorf("4.2.0 after %v, before lock_timeout %v", d, lockTimeout)
	}

	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRCPT TO:<bob@foo.org>\r\nDATA\r\n")
	for range 4 {
		c.reply()
	}
	c.send(msg("timeout", "x") + ".\r\n")
	c.expect("451 4.2.0 <alice@domain.org> mailbox is locked, try again later [")
	savedID(t, c.reply(), "bob@foo.org")
	if n := len(e.files("alice@domain.org", "new")); n != 1 {
		t.Errorf("alice: %d messages, want only the first", n)
	}
	if n := e.files("alice@domain.org", "tmp"); len(n) != 0 {
		t.Errorf("alice: tmp/ holds %v", n)
	}
	c.send("QUIT\r\n")
	c.expect("221 ")
	c.closed()

	// Clients that send RCPT for alice and give up, as many as
	// max_connections: the slots come back once their RCPTs time out.
	for range e.cfg.LMTP.MaxConnections {
		a := e.raw("unix")
		a.send("LHLO client.test\r\nMAIL FROM:<s@example.net> SIZE=100\r\nRCPT TO:<alice@domain.org>\r\n")
		a.c.Close()
	}
	deadline := time.Now().Add(ioTimeout)
	for {
		nc := e.dial("tcp")
		nc.SetReadDeadline(time.Now().Add(ioTimeout))
		line, err := bufio.NewReader(nc).ReadString('\n')
		nc.Close()
		if strings.HasPrefix(line, "220 ") {
			break
		}
		if !strings.HasPrefix(line, "421 ") || time.Now().After(deadline) {
			t.Fatalf("connection after abandoned RCPTs: %q %v", line, err)
		}
		time.Sleep(50 * time.Millisecond) // polling for the slots, bounded by deadline
	}
}
