package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestTerminalDetail: at a terminal a failed delivery prints, after the DSN
// line, the log's detail (maildir, uid/gid, the underlying error); with
// stderr a pipe, as under Postfix, the same failure is one line. script(1)
// gives deliver a pseudo-terminal as stdin, stdout and stderr.
func TestTerminalDetail(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatalf("this test needs script(1) (util-linux / bsdutils): %v", err)
	}
	e := sqliteEnv(t, "")
	msg := filepath.Join(e.dir, "msg.eml")
	if err := os.WriteFile(msg, []byte(testMsg), 0o644); err != nil {
		t.Fatal(err)
	}
	// As pipe(8) with user=1002 for a mailbox of uid 1001.
	uid1002 := &syscall.Credential{Uid: 1002, Gid: 1002}
	args := []string{"-c", e.conf, "-f", "a@b", "-p", msg, "-d", "user@domain.org"}
	const dsn = "4.3.0 mailbox belongs to another uid than this process"

	checkOutcome(t, runDeliver(t, binary, uid1002, nil, "", args...), 75, dsn)

	quoted := []string{binary}
	for _, a := range args {
		quoted = append(quoted, "'"+a+"'")
	}
	r := runDeliver(t, "script", uid1002, nil, "", "-qec", strings.Join(quoted, " "), "/dev/null")
	if r.code != 75 {
		t.Errorf("at a terminal: exit %d, want 75 (output %q)", r.code, r.out)
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(r.out, "\r\n", "\n"), "\n"), "\n")
	if lines[0] != dsn {
		t.Fatalf("at a terminal, first line %q, want the DSN line %q (output %q)", lines[0], dsn, r.out)
	}
	detail := strings.Join(lines[1:], "\n")
	t.Logf("at a terminal:\n%s", strings.Join(lines, "\n"))
	maildir := filepath.Join(e.dir, "home/domain.org/mails/user/Maildir")
	for _, want := range []string{"  to:       user@domain.org\n", "  maildir:  " + maildir + "\n",
		"  uid:      1001\n", "  gid:      1001\n", "  error:    ", "process uid 1002, mailbox uid 1001"} {
		if !strings.Contains(detail+"\n", want) {
			t.Errorf("detail lacks %q:\n%s", want, detail)
		}
	}
	if strings.Contains(detail, "reason:") || strings.Contains(detail, "code:") {
		t.Errorf("detail repeats the DSN line:\n%s", detail)
	}
}
