package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sendmail_path runs as the mailbox owner, as Pigeonhole's does inside
// dovecot-lda/lmtp (which run as the user): the real lmtpd (root, its
// capabilities dropped to the identity switch) runs a vacation script
// whose reply goes through a sendmail that records who it is. The fake
// sendmail is a real program at the real boundary (exec): its uid, gid,
// groups, effective capabilities and environment are the child's.
func TestSieveSendmailAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: lmtpd switches to the mailbox owner")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	sendmail := filepath.Join(dir, "sendmail")
	cfg, maildir := setup(t, strconv.Quote("unix:"+filepath.Join(dir, "lmtp.sock")),
		fmt.Sprintf("[sieve]\nenabled = true\nsendmail_path = %q\n", sendmail))
	home := filepath.Dir(maildir)
	out := filepath.Join(home, "sendmail.out")
	script := fmt.Sprintf("#!/bin/sh\n{ id -u; id -g; id -G; grep '^CapEff:' /proc/self/status; pwd; env | sort; echo \"args $*\"; cat; } > %s\n", out)
	if err := os.WriteFile(sendmail, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(home, 1001, 1001)
	if err := os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("require \"vacation\";\nvacation \"Away.\";\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, exec.Command(os.Args[0], "-c", cfg))
	d.waitState("READY=1")
	c, err := net.Dial("unix", filepath.Join(dir, "lmtp.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	fmt.Fprintf(c, "LHLO t\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n"+
		"From: s@example.net\r\nTo: alice@domain.org\r\nSubject: hello\r\n\r\nx\r\n.\r\nQUIT\r\n")
	if replies, _ := io.ReadAll(c); !strings.Contains(string(replies), "250 2.0.0 <alice@domain.org> saved as ") {
		t.Fatalf("replies %q", replies)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("sendmail did not run: %v\nlmtpd: %s", err, d.stderr.String())
	}
	lines := strings.Split(string(b), "\n")
	want := []string{"1001", "1001", "1001", "CapEff:\t0000000000000000", "/", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "PWD=/",
		"args -i -f <> -- s@example.net"}
	if len(lines) < len(want) || strings.Join(lines[:len(want)], "\n") != strings.Join(want, "\n") {
		t.Fatalf("sendmail saw:\n%s\nwant it to start with:\n%s", b, strings.Join(want, "\n"))
	}
	if !strings.Contains(string(b), "Away.") {
		t.Fatalf("no reply on sendmail's stdin:\n%s", b)
	}
}

// lmtpd -check compiles the global Sieve scripts too: a broken before
// script fails it with its file:line:col.
func TestCheckSieve(t *testing.T) {
	before := filepath.Join(t.TempDir(), "before.sieve")
	if err := os.WriteFile(before, []byte("keep;\nfileinto \"X\";\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _ := setup(t, `"unix:/run/nowhere/lmtp"`, fmt.Sprintf("[sieve]\nenabled = true\nbefore = [%q]\n", before))
	code, out, errOut := runLmtpd("-c", cfg, "-check")
	oneStatusLine(t, errOut, "4.3.5 configuration error: sieve: before "+before+":2:1: ")
	if code != 75 {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}
