package sievedeliver

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/lookup"
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
