package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A log file the pipe user cannot write must not defer the message
// (issue 15 item 8: every delivery got "4.3.5 configuration error: log
// file: permission denied"). deliver runs as uid 1002, the file is root's.
func TestUnwritableLogFile(t *testing.T) {
	requireRoot(t)
	e := sqliteEnv(t, "")
	rootLog := filepath.Join(e.dir, "root-only.log")
	if err := os.WriteFile(rootLog, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(e.conf)
	if err := os.WriteFile(e.conf, []byte(strings.Replace(string(b), e.log, rootLog, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runDeliver(t, binary, &syscall.Credential{Uid: 1002, Gid: 1002}, nil, testMsg,
		"-c", e.conf, "-f", "a@b", "-d", "user@foo.org")
	checkOutcome(t, r, 0, "")
	checkDelivered(t, filepath.Join(e.dir, "home/foo.org/mails/user/Maildir/new"), "a@b", "user@foo.org", 1002, 1002, wantStored)
	// -check, run as that user, says so.
	r = runDeliver(t, binary, &syscall.Credential{Uid: 1002, Gid: 1002}, nil, "", "-c", e.conf, "-check")
	if !strings.Contains(r.out, "# log: WARNING "+rootLog+" cannot be written by uid 1002") {
		t.Errorf("-check output lacks the log warning:\n%s", r.out)
	}
}
