package sieve

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// A stream message decides as the same message in memory, and its body
// is opened only by the tests that need it: not at all for header tests,
// once for size and for body.
func TestStreamMessage(t *testing.T) {
	const header = "From: a@example.net\r\nSubject: Hello\r\n\r\n"
	const body = "line one\r\nsecret word\r\n"
	dir := t.TempDir()
	e := newEngine(t, Options{})
	for i, tc := range []struct {
		script string
		opens  int
	}{
		{`require "fileinto"; if header :contains "subject" "hello" { fileinto "H"; }`, 0},
		{`require "fileinto"; if size :over 60 { fileinto "S"; }`, 1},
		{`require ["fileinto", "body"]; if body :contains "secret" { fileinto "B"; }`, 1},
		{`require ["fileinto", "body"]; if allof (size :under 100, body :contains "nothing") { fileinto "N"; }`, 2},
	} {
		opens := 0
		msg := NewStreamMessage([]byte(header), func() (io.Reader, error) {
			opens++
			return strings.NewReader(body), nil
		}, nil)
		sc := Scripts{User: writeScript(t, dir, fmt.Sprintf("s%d.sieve", i), tc.script)} // one path each: the cache keys on it
		p, err := e.Decide(context.Background(), &Input{Envelope: Envelope{From: "a@example.net", To: "bob@example.com"}, Message: msg, Scripts: sc})
		if err != nil {
			t.Fatal(err)
		}
		want := actionLines(decide(t, e, sc, "a@example.net", header+body))
		if got := actionLines(p); got != want || opens != tc.opens {
			t.Errorf("%s: %q with %d body reads, want %q with %d", tc.script, got, opens, want, tc.opens)
		}
		if msg.MessageSize() != len(header+body) {
			t.Errorf("size %d", msg.MessageSize())
		}
	}
}

// HeaderGet's values (cut from the header string) are the fields' values
// as edits.go reads them: folded, CRLF or LF, blanks before the colon,
// an empty value, the last field without a line end.
func TestHeaderGetValues(t *testing.T) {
	for _, raw := range []string{
		"From: a@example.net\r\nSubject: one\r\n two\r\n\tthree\r\nX-Empty:\r\nX-Blank :  spaced \r\n\r\nbody\r\n",
		"From: a@example.net\nSubject:\tfolded\n more\nTo: b@example.org",
	} {
		m := NewMessage([]byte(raw))
		for _, f := range m.fields {
			got, _ := m.HeaderGet(strings.ToUpper(f.name))
			if len(got) != 1 || got[0] != f.value() {
				t.Errorf("%q: HeaderGet %q, value %q", f.name, got, f.value())
			}
		}
		if len(m.fields) < 3 {
			t.Errorf("%q: %d fields", raw, len(m.fields))
		}
	}
}
