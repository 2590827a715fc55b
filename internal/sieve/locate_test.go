package sieve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/uservars"
)

func TestLocationsResolve(t *testing.T) {
	root := t.TempDir()
	before := filepath.Join(root, "before.d")
	os.MkdirAll(before, 0o755)
	for _, n := range []string{"20-b.sieve", "10-a.sieve", "notes.txt"} {
		os.WriteFile(filepath.Join(before, n), []byte("keep;"), 0o644)
	}
	l := Locations{Script: "~/.dovecot.sieve", Dir: "~/sieve", Global: root + "/global/%d",
		Before: []string{before, root + "/one.sieve"}, After: []string{root + "/after/%n.sieve"}}
	v := uservars.Values{User: "bob@example.com", Home: "/home/bob"}
	s, err := l.Resolve(v, "")
	if err != nil {
		t.Fatal(err)
	}
	want := Scripts{User: "/home/bob/.dovecot.sieve", PersonalDir: "/home/bob/sieve", GlobalDir: root + "/global/example.com",
		Before: []string{before + "/10-a.sieve", before + "/20-b.sieve", root + "/one.sieve"},
		After:  []string{root + "/after/bob.sieve"}}
	if strings.Join(s.Before, " ") != strings.Join(want.Before, " ") || s.User != want.User ||
		s.PersonalDir != want.PersonalDir || s.GlobalDir != want.GlobalDir || s.After[0] != want.After[0] {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
	// The userdb column `sieve` overrides script; relative to the home.
	s, _ = l.Resolve(v, "sieve/active.sieve")
	if s.User != "/home/bob/sieve/active.sieve" {
		t.Errorf("userdb sieve: %q", s.User)
	}
	s, _ = l.Resolve(v, "/srv/sieve/bob.sieve")
	if s.User != "/srv/sieve/bob.sieve" {
		t.Errorf("userdb sieve absolute: %q", s.User)
	}
	// A path needing the home fails without one (the delivery defers).
	if _, err := l.Resolve(uservars.Values{User: "bob@example.com"}, ""); err == nil {
		t.Error("~ expanded without a home")
	}
}
