package sievedeliver

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/lookup"
	"maildeliver/internal/sieve"
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

// sentMail is an Outbox that keeps what it is given.
type sentMail struct{ to []string }

func (s *sentMail) Send(_ context.Context, _ string, to []string, _ []byte) error {
	s.to = append(s.to, to...)
	return nil
}

// A second message from the same sender within the period gets no reply,
// and the delivery's log says why (as Pigeonhole logs its "discarded
// duplicate vacation response"): the administrator's answer to "why did
// my correspondent get no reply".
func TestVacationOncePerPeriodLogged(t *testing.T) {
	uid, base := os.Geteuid(), t.TempDir()
	home := filepath.Join(base, "bob")
	os.Mkdir(home, 0o700)
	if uid == 0 { // as root, the record is written as the user
		uid = 1001
		os.Chmod(filepath.Dir(base), 0o755)
		os.Chmod(base, 0o755)
		os.Chown(home, uid, uid)
	}
	var logged bytes.Buffer
	out := &sentMail{}
	d := &Decider{log: slog.New(slog.NewTextHandler(&logged, nil)), mailer: &sieve.Mailer{Outbox: out}}
	tg := &delivery.Target{Recipient: "bob@example.org", UID: uid, GID: uid,
		User: &lookup.User{Address: "bob@example.org", Home: home}}
	in := &sieve.Input{Envelope: sieve.Envelope{From: "alice@example.net", To: "bob@example.org"},
		Message: sieve.NewMessage([]byte("From: alice@example.net\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nhello\r\n"))}
	v := sieve.Vacation{To: "alice@example.net", Subject: "away", Body: "away", Seconds: 86400}
	for i := range 2 {
		if err := d.vacation(tg, "d"+strconv.Itoa(i), in, v).Do(t.Context()); err != nil {
			t.Fatalf("vacation %d: %v", i, err)
		}
	}
	if len(out.to) != 1 {
		t.Fatalf("replies sent to %q, want one", out.to)
	}
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `msg="sieve: vacation reply sent" id=d0`) ||
		!strings.Contains(lines[1], `msg="sieve: vacation reply not sent" id=d1`) || !strings.Contains(lines[1], "already replied") {
		t.Errorf("log:\n%s", logged.String())
	}
}
