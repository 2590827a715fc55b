package mailimport

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

// split reads every message of an mbox.
func split(t testing.TB, in string, f Format) ([]FromLine, []string, error) {
	t.Helper()
	r := NewMboxReader(strings.NewReader(in), f)
	var froms []FromLine
	var msgs []string
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			return froms, msgs, nil
		}
		if err != nil {
			return froms, msgs, err
		}
		b, err := io.ReadAll(m.Body)
		if err != nil {
			return froms, msgs, err
		}
		froms = append(froms, m.From)
		msgs = append(msgs, string(b))
	}
}

var escapeRD = regexp.MustCompile(`(?m)^(>*From )`)
var escapeO = regexp.MustCompile(`(?m)^(From )`)

// writeMbox writes messages as an mbox writer of format f does: From_
// line, escaped message, one empty line as separator.
func writeMbox(msgs []string, f Format) string {
	var b strings.Builder
	for i, m := range msgs {
		if i%2 == 0 {
			b.WriteString("From alice@example.org Tue Dec  1 15:23:54 2026\n")
		} else {
			b.WriteString("From MAILER-DAEMON Thu Jan 1 00:00:00 +0100 1970\n")
		}
		if f == MboxO {
			b.WriteString(escapeO.ReplaceAllString(m, ">$1"))
		} else {
			b.WriteString(escapeRD.ReplaceAllString(m, ">$1"))
		}
		if !strings.HasSuffix(m, "\n") {
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestMboxSplitAndUnescape(t *testing.T) {
	msgs := []string{
		"Subject: one\n\nFrom here on, body\n>From quoted\n>>From twice\n\n\n",
		"Subject: two\n\n\xe9t\xe9 8-bit\nFrom a@b Mon Jan  2 03:04:05 2006\n",
		"Subject: three\n\n",
		"Subject: four\n\nlast\n",
	}
	_, got, err := split(t, writeMbox(msgs, MboxRD), MboxRD)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d messages, want %d: %q", len(got), len(msgs), got)
	}
	for i := range msgs {
		if got[i] != msgs[i] {
			t.Errorf("message %d:\n got %q\nwant %q", i, got[i], msgs[i])
		}
	}
	// mboxo: ">>From " was never escaped, so it stays.
	o := []string{"Subject: o\n\nFrom x\n>>From y\n"}
	_, got, err = split(t, writeMbox(o, MboxO), MboxO)
	if err != nil || len(got) != 1 || got[0] != o[0] {
		t.Fatalf("mboxo: %q %v", got, err)
	}
}

func TestMboxCRLFAndNoSeparator(t *testing.T) {
	in := "From a@b Tue Dec  1 15:23:54 2026\r\nSubject: x\r\n\r\nbody\r\n" +
		"From c@d Tue Dec  1 15:23:55 2026\r\nSubject: y\r\n\r\n>From z"
	froms, got, err := split(t, in, MboxRD)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Subject: x\n\nbody\n", "Subject: y\n\nFrom z"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %q", got)
	}
	if froms[1].Sender != "c@d" {
		t.Fatalf("sender %q", froms[1].Sender)
	}
}

func TestMboxNotMbox(t *testing.T) {
	if _, _, err := split(t, "Subject: x\n\nFrom a@b Tue Dec  1 15:23:54 2026\n", MboxRD); !errors.Is(err, ErrNotMbox) {
		t.Fatalf("err %v", err)
	}
	if _, got, err := split(t, "", MboxRD); err != nil || len(got) != 0 {
		t.Fatalf("empty: %q %v", got, err)
	}
}

// A line longer than the splitter's buffer passes through whole, and a
// "From " at the start of its second piece is not a boundary.
func TestMboxLongLine(t *testing.T) {
	long := strings.Repeat("x", mboxBuf-1) + "From a@b Tue Dec  1 15:23:54 2026\n"
	msgs := []string{"Subject: long\n\n" + long + "end\n"}
	_, got, err := split(t, writeMbox(msgs, MboxRD), MboxRD)
	if err != nil || len(got) != 1 || got[0] != msgs[0] {
		t.Fatalf("got %d messages, %v", len(got), err)
	}
}

func TestParseFromLine(t *testing.T) {
	utc1 := time.FixedZone("", 3600)
	for line, want := range map[string]*FromLine{
		"From a@b Tue Dec  1 15:23:54 2026\n":       {Sender: "a@b", Date: time.Date(2026, 12, 1, 15, 23, 54, 0, time.Local)},
		"From a@b Tue Dec 1 15:23:54 +0100 2026\n":  {Sender: "a@b", Date: time.Date(2026, 12, 1, 15, 23, 54, 0, utc1)},
		"From a@b Tue Dec 1 15:23:54 2026 +0100\n":  {Sender: "a@b", Date: time.Date(2026, 12, 1, 15, 23, 54, 0, utc1)},
		"From - Tue Dec 01 15:23 MET 2026\n":        {Sender: "-", Date: time.Date(2026, 12, 1, 15, 23, 0, 0, time.Local)},
		"From MAILER-DAEMON Dec  1 15:23:54 2026\n": {Sender: "MAILER-DAEMON", Date: time.Date(2026, 12, 1, 15, 23, 54, 0, time.Local)},
		"From here on, we go Tue Dec 1 15:23:54\n":  nil,
		"From here on it is simple\n":               nil,
		"From a@b Tue Dec  1 15:23:54 2026":         nil, // no LF: last line, not a boundary
		"From a@b Tue Dec 32 15:23:54 2026\n":       nil,
		"From a@b Tue Dec  1 15:23:54 2026 later\n": nil,
		">From a@b Tue Dec  1 15:23:54 2026\n":      nil,
		"from a@b Tue Dec  1 15:23:54 2026\n":       nil,
		"From a@b Tue Dec  1 1:23:54 2026\n":        nil,
		"From a@b Tue Foo  1 15:23:54 2026\n":       nil,
		"From  Tue Dec  1 15:23:54 2026\n":          {Sender: "", Date: time.Date(2026, 12, 1, 15, 23, 54, 0, time.Local)},
		"From  Dec  1 15:23:54 2026\n":              {Sender: "", Date: time.Date(2026, 12, 1, 15, 23, 54, 0, time.Local)},
		"From \n":                                   nil,
		"From \"a b\"@c Tue Dec  1 15:23:54 2026\n": {Sender: `"a b"@c`, Date: time.Date(2026, 12, 1, 15, 23, 54, 0, time.Local)},
		"From \"a b@c Tue Dec  1 15:23:54 2026\n":   nil,
		"From a@b\n": nil,
		"From a@b Tue Dec  1 15:23:54 2026 1999\n":   nil,
		"From a@b Tue Dec  1 15:23:54:01:02 2026\n":  nil,
		"From a@b Tue Dec  1 15:23:54 2026 +01:00\n": nil,
		"From a@b Tue Dec  1 15:23:54 2026 +0100x\n": nil,
		"From a@b\tTue Dec  1 15:23:54 2026 UTC\r\n": {Sender: "a@b", Date: time.Date(2026, 12, 1, 15, 23, 54, 0, time.Local)},
	} {
		got, ok := ParseFromLine([]byte(line))
		if want == nil {
			if ok {
				t.Errorf("%q parsed: %+v", line, got)
			}
			continue
		}
		if !ok || got.Sender != want.Sender || !got.Date.Equal(want.Date) {
			t.Errorf("%q: %+v %v, want %+v", line, got, ok, *want)
		}
	}
}

func TestEnvelopeSender(t *testing.T) {
	for s, want := range map[string]string{
		"a@b": "a@b", "<a@b>": "a@b", "MAILER-DAEMON": "", "mailer-daemon": "", "<>": "",
		"-": "none", "alice": "none", "a\"b@c": "none",
	} {
		got, ok := FromLine{Sender: s}.EnvelopeSender()
		if !ok {
			got = "none"
		}
		if got != want {
			t.Errorf("%q: %q, want %q", s, got, want)
		}
	}
}

var _ = bytes.Equal
