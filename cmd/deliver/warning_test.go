package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestQuotaWarningProcesses: 8 deliver processes at once take a mailbox
// from 78% across [quota] warning's 80%: exactly one warning message lands
// in the INBOX, owned by the mailbox's uid; the next delivery, still above
// 80%, sends none.
func TestQuotaWarningProcesses(t *testing.T) {
	requireRoot(t)
	e := sqliteEnv(t, "[quota]\ndefault = \"100k\"\nwarning = [\"95%\", \"80%\"]\n")
	msg := func(n int) string { return "Subject: fill\n\n" + strings.Repeat("x", n) + "\n" }
	if r := e.deliver(msg(78000), "-f", "s@example.net", "-d", "user@domain.org"); r.code != 0 {
		t.Fatalf("first delivery: exit %d %s", r.code, r.out)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if r := runDeliver(t, binary, nil, nil, msg(1000), "-c", e.conf, "-f", "s@example.net", "-d", "user@domain.org"); r.code != 0 {
				t.Errorf("exit %d %s", r.code, r.out)
			}
		})
	}
	wg.Wait()
	newDir := filepath.Join(e.dir, "home/domain.org/mails/user/Maildir/new")
	warnings := func() []string {
		ents, err := os.ReadDir(newDir)
		if err != nil {
			t.Fatal(err)
		}
		var ws []string
		for _, ent := range ents {
			p := filepath.Join(newDir, ent.Name())
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "\nAuto-Submitted: auto-generated\n") {
				var st syscall.Stat_t
				if syscall.Stat(p, &st) != nil || st.Uid != 1001 || st.Gid != 1001 {
					t.Errorf("warning owned by %d:%d, want 1001:1001", st.Uid, st.Gid)
				}
				ws = append(ws, string(b))
			}
		}
		return ws
	}
	ws := warnings()
	if len(ws) != 1 {
		t.Fatalf("%d warnings, want 1", len(ws))
	}
	for _, want := range []string{"Return-Path: <>\n", "To: <user@domain.org>\n", "Subject: Your mailbox is 80% full\n",
		"From: Mail Delivery System <postmaster@domain.org>\n", ".quota-warning@mx.test.example>\n"} {
		if !strings.Contains(ws[0], want) {
			t.Errorf("warning lacks %q:\n%s", want, ws[0])
		}
	}
	if r := e.deliver(msg(1000), "-f", "s@example.net", "-d", "user@domain.org"); r.code != 0 {
		t.Fatalf("exit %d %s", r.code, r.out)
	}
	if n := len(warnings()); n != 1 {
		t.Errorf("%d warnings after one more delivery above 80%%, want still 1", n)
	}
	log, _ := os.ReadFile(e.log)
	if n := strings.Count(string(log), `msg="quota warning"`); n != 1 {
		t.Errorf("%d quota warning log lines, want 1", n)
	}
}
