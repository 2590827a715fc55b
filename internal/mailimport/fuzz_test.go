package mailimport

import (
	"strings"
	"testing"
)

// FuzzMboxRoundTrip: messages written as an mboxrd (or mboxo) writer does
// come back from the splitter byte for byte. The fuzzer's input is the
// messages, separated by NUL; CR is dropped (the splitter reads CRLF as
// LF, tested apart), and a message gets the final LF an mbox writer adds.
func FuzzMboxRoundTrip(f *testing.F) {
	f.Add("Subject: a\n\nFrom x\n>From y\n\x00Subject: b\n\n\n", false)
	f.Add("\x00\x00From a@b Tue Dec  1 15:23:54 2026\n>>From q\n", true)
	f.Add("Subject: \xff\xfe\n\n\n\n\n", false)
	f.Fuzz(func(t *testing.T, in string, mboxo bool) {
		format := MboxRD
		if mboxo {
			format = MboxO
			// mboxo cannot carry a line ">From " (escaping is lossy):
			// only what it can carry is round-tripped.
			in = strings.ReplaceAll(in, ">", "")
		}
		msgs := strings.Split(strings.ReplaceAll(in, "\r", ""), "\x00")
		for i, m := range msgs {
			if !strings.HasSuffix(m, "\n") {
				msgs[i] = m + "\n"
			}
		}
		_, got, err := split(t, writeMbox(msgs, format), format)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(msgs) {
			t.Fatalf("%d messages, want %d", len(got), len(msgs))
		}
		for i := range msgs {
			if got[i] != msgs[i] {
				t.Fatalf("message %d:\n got %q\nwant %q", i, got[i], msgs[i])
			}
		}
	})
}

// FuzzMboxSplit: any input either is refused as not an mbox or splits into
// messages that together hold no more bytes than the input, with a From_
// line for each, the same way every time.
func FuzzMboxSplit(f *testing.F) {
	f.Add("From a@b Tue Dec  1 15:23:54 2026\nSubject: x\n\nFrom y\n\nFrom c@d Dec 1 15:23 2026\n>From z")
	f.Add("From a@b Tue Dec  1 15:23:54 2026\r\n\r\n\r\n")
	f.Add("Subject: not an mbox\n")
	f.Fuzz(func(t *testing.T, in string) {
		froms, msgs, err := split(t, in, MboxRD)
		if err != nil {
			return
		}
		total := 0
		for _, m := range msgs {
			total += len(m)
		}
		if total > len(in) {
			t.Fatalf("%d bytes out of %d", total, len(in))
		}
		if len(froms) != len(msgs) || len(msgs) > strings.Count(in, "From ") {
			t.Fatalf("%d messages, %d From_ lines", len(msgs), len(froms))
		}
		_, again, _ := split(t, in, MboxRD)
		if strings.Join(again, "\x00") != strings.Join(msgs, "\x00") {
			t.Fatal("not deterministic")
		}
	})
}
