package lmtp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/config"
	"maildeliver/internal/sieve"
	"maildeliver/internal/smtpsink"
)

// redirect :copy and vacation go to submission_host: the redirected copy
// with the sender as envelope sender and our loop field, the reply from
// the null sender, once per sender (the record in the home, owned by the
// user); the message is kept. editheader changes the stored copy.
func TestSieveRedirectVacation(t *testing.T) {
	k, addr := smtpsink.Start(t)
	e := sieveEnv(t, func(c *config.Config) { c.Sieve.SubmissionHost = addr })
	e.script("alice@domain.org", `require ["copy", "vacation"];
redirect :copy "carol@example.net";
vacation :days 1 :addresses ["someone@domain.org"] "I am away.";
`)
	e.script("bob@foo.org", "require \"editheader\";\naddheader \"X-Edited\" \"yes\";\n")
	for i := 0; i < 2; i++ {
		if r := e.transaction(msg("away", "x"), "alice@domain.org", "bob@foo.org"); !strings.HasPrefix(r[0], "250 ") || !strings.HasPrefix(r[1], "250 ") {
			t.Fatalf("delivery %d: %q", i, r)
		}
	}
	if n := e.files("alice@domain.org", "new"); len(n) != 2 {
		t.Fatalf("alice new/ = %q: redirect :copy keeps", n)
	}
	for _, m := range e.messages("bob@foo.org") {
		if !strings.Contains(m, "\nX-Edited: yes\nFrom: sender@example.net\n") {
			t.Fatalf("bob's copy:\n%s", m)
		}
	}
	var redirects, replies []smtpsink.Message
	for _, m := range k.Messages() {
		if m.From == "" {
			replies = append(replies, m)
		} else {
			redirects = append(redirects, m)
		}
	}
	// The same message (one Message-ID) delivered twice is redirected once
	// (Pigeonhole's sieve_redirect_duplicate_period) and answered once per
	// sender and period.
	if len(redirects) != 1 || len(replies) != 1 {
		t.Fatalf("sink got %d redirects, %d replies, want 1 and 1 (one redirect per message, one reply per sender): %+v", len(redirects), len(replies), k.Messages())
	}
	rd := redirects[0]
	if rd.From != "sender@example.net" || strings.Join(rd.To, ",") != "carol@example.net" ||
		!strings.Contains(rd.Data, sieve.RedirectedHeader+": alice@domain.org\r\n") || !strings.Contains(rd.Data, "Subject: away\r\n") {
		t.Fatalf("redirect %+v", rd)
	}
	rp := replies[0]
	if strings.Join(rp.To, ",") != "sender@example.net" || !strings.Contains(rp.Data, "Auto-Submitted: auto-replied") ||
		!strings.Contains(rp.Data, "I am away.") {
		t.Fatalf("reply %+v", rp)
	}
	if n := strings.Count(e.logs.String(), `msg="sieve: vacation reply sent"`); n != 1 {
		t.Fatalf("%d vacation replies logged as sent, want 1", n)
	}
	rec := filepath.Join(e.home("alice@domain.org"), sieve.VacationRecordFile)
	if owner(t, rec) != e.users["alice@domain.org"].uid {
		t.Fatalf("%s not owned by the user", rec)
	}
}

// lmtpd runs as root: the scripts and records in a user's home are read
// and written as the user, so a symlink the user planted there cannot make
// lmtpd overwrite (or give away) a file the user cannot write.
func TestSieveRecordAsUser(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root: lmtpd's identity switch")
	}
	k, addr := smtpsink.Start(t)
	e := sieveEnv(t, func(c *config.Config) { c.Sieve.SubmissionHost = addr })
	e.script("alice@domain.org", "require \"vacation\";\nvacation :addresses [\"someone@domain.org\"] \"Away.\";\n")
	precious := filepath.Join(e.dir, "precious")
	if err := os.WriteFile(precious, []byte("root's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(e.home("alice@domain.org"), sieve.VacationRecordFile)
	if err := os.Symlink(precious, rec+".tmp"); err != nil {
		t.Fatal(err)
	}
	if r := e.transaction(msg("attack", "x"), "alice@domain.org"); !strings.HasPrefix(r[0], "250 ") {
		t.Fatalf("reply %q", r)
	}
	if b, _ := os.ReadFile(precious); string(b) != "root's\n" || owner(t, precious) != 0 {
		t.Fatalf("the file behind the symlink was written: %q, owner %d", b, owner(t, precious))
	}
	if len(k.Messages()) != 1 {
		t.Fatalf("sink got %d messages, want the reply", len(k.Messages()))
	}
	e.only("alice@domain.org")
}
