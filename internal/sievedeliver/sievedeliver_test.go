package sievedeliver

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/lookup"
	"maildeliver/internal/message"
	"maildeliver/internal/smtpsink"
)

// The scripts of a user: the userdb column overrides [sieve] script
// (relative to the home); without a home only the global scripts run,
// and a relative column is not taken relative to the process's directory.
func TestScripts(t *testing.T) {
	dir := t.TempDir()
	before := filepath.Join(dir, "before.sieve")
	os.WriteFile(before, []byte("keep;\n"), 0o644)
	cfg := config.Defaults()
	cfg.Sieve.Enabled, cfg.Sieve.Before = true, []string{before}
	d, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	target := func(home, col string) *delivery.Target {
		return &delivery.Target{Recipient: "bob@example.org", User: &lookup.User{Address: "bob@example.org", Home: home, Sieve: col}}
	}
	for _, tc := range []struct {
		home, col, user string
	}{
		{dir, "", filepath.Join(dir, ".dovecot.sieve")},
		{dir, "own.sieve", filepath.Join(dir, "own.sieve")},
		{dir, "/srv/sieve/bob.sieve", "/srv/sieve/bob.sieve"},
		{"", "", ""},
		{"", "own.sieve", ""},
		{"", "/srv/sieve/bob.sieve", "/srv/sieve/bob.sieve"},
	} {
		s := d.scripts(target(tc.home, tc.col))
		if s.User != tc.user || len(s.Before) != 1 || s.Before[0] != before {
			t.Errorf("home %q column %q: %+v, want user %q", tc.home, tc.col, s, tc.user)
		}
	}
	if got := d.Describe(target(dir, "")); !strings.HasPrefix(got, "on: before "+before+", no user script") {
		t.Errorf("Describe: %q", got)
	}
}

// A message delivered twice (an MTA retry, a second copy) is redirected
// once per address, as Pigeonhole's sieve_redirect_duplicate_period does:
// the record is in the user's home, written after the redirect went out.
// Another message is redirected again.
func TestRedirectOncePerMessage(t *testing.T) {
	sink, addr := smtpsink.Start(t)
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("redirect \"carol@example.net\";\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Sieve.Enabled, cfg.Sieve.SubmissionHost = true, addr
	d, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 { // as the mailbox user, never root: a home that user owns
		uid, gid = 1001, 1001
		for d := home; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		if err := os.Chown(home, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	target := &delivery.Target{Recipient: "bob@example.org", UID: uid, GID: gid,
		User: &lookup.User{Address: "bob@example.org", Home: home}}
	deliver := func(msgid string) {
		raw := "From: a@example.net\nMessage-ID: <" + msgid + ">\nSubject: s\n\nbody\n"
		msg, err := message.Read(strings.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := d.Decide(context.Background(), target, delivery.Request{ID: "t", Sender: "a@example.net"}, msg)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range plan {
			if s, ok := a.(delivery.Send); ok {
				if err := s.Do(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	deliver("m1@example.net")
	deliver("m1@example.net")
	deliver("m2@example.net")
	var got []string
	for _, m := range sink.Messages() {
		got = append(got, strings.Join(m.To, ","))
	}
	if len(got) != 2 {
		t.Fatalf("redirects sent: %q, want two (m1 once, m2 once)", got)
	}
}
