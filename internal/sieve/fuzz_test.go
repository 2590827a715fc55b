package sieve

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzMessage: the header split never loses or reorders bytes, and an
// edit that matches nothing returns the message byte for byte (stored
// bytes stay unchanged unless a script edits them).
func FuzzMessage(f *testing.F) {
	ents, _ := filepath.Glob("testdata/diff/messages/*.eml")
	for _, p := range ents {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("No-Colon-Line\r\n\r\n"))
	f.Add([]byte(" leading continuation\r\nA: b\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := NewMessage(raw)
		var joined []byte
		for _, fl := range m.fields {
			joined = append(joined, fl.raw...)
		}
		if !bytes.HasPrefix(raw, joined) {
			t.Fatalf("fields are not the message's first bytes")
		}
		if m.body < len(joined) || m.body > len(raw) {
			t.Fatalf("body offset %d outside [%d, %d]", m.body, len(joined), len(raw))
		}
		got := ApplyEdits(raw, []HeaderEdit{{Name: "X-Not-There-Zz"}})
		if !bytes.Equal(got, raw) {
			t.Fatalf("no-op edit changed the message")
		}
	})
}

// FuzzScript: any script text compiles or fails cleanly, and a run never
// ends without the implicit keep or an explicit action.
func FuzzScript(f *testing.F) {
	ents, _ := filepath.Glob("testdata/diff/scripts/*.sieve")
	for _, p := range ents {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	raw, _ := os.ReadFile("testdata/diff/messages/plain.eml")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte) {
		e, err := New(Options{}) // fresh: no cache across inputs of one size
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "fuzz.sieve")
		if err := os.WriteFile(p, src, 0o644); err != nil {
			t.Fatal(err)
		}
		plan, err := e.Decide(context.Background(), &Input{
			Envelope: Envelope{From: "alice@example.org", To: "bob@example.com"},
			Message:  NewMessage(raw), Scripts: Scripts{User: p, PersonalDir: dir},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Actions) == 0 {
			t.Fatal("empty plan: the message would be lost silently")
		}
	})
}
