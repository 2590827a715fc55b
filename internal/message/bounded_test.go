package message

import (
	"bytes"
	"crypto/sha256"
	"io"
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes f allocates on the heap. TotalAlloc only
// grows, so no collection can hide anything; allocations of other
// goroutines can only add a little, never make a bound pass wrongly.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// foldedField is one field of n bytes made of "\tx" continuation lines.
func foldedField(name string, n int) string {
	var b strings.Builder
	b.WriteString(name + ": start\n")
	for b.Len() < n {
		b.WriteString("\tx\n")
	}
	return b.String()
}

// TestParseLinear: header unfolding does work proportional to the header
// section, measured as bytes allocated (a deterministic count, no clock).
// Rebuilding the unfolded value per continuation line (the old code)
// allocates the square of the field's size: 64 KiB of "\tx" lines cost
// about 450 MB there; the bound here is 32 bytes per input byte.
func TestParseLinear(t *testing.T) {
	for _, tc := range []struct{ name, header string }{
		{"one folded field", foldedField("X-Folded", 64<<10)},
		{"folded delivered-to", foldedField("Delivered-To", 64<<10)},
		{"ten folded fields", strings.Repeat(foldedField("X-Ten", 16<<10), 10)},
		{"folded return-path", foldedField("Return-Path", 64<<10)},
	} {
		msg := tc.header + "Subject: s\n\nbody\n"
		n := allocated(func() {
			h, body, err := Parse(strings.NewReader(msg))
			if err != nil || h == nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, body); err != nil {
				t.Fatal(err)
			}
		})
		if limit := uint64(32 * len(msg)); n > limit {
			t.Errorf("%s: %d input bytes, %d bytes allocated (bound %d): not linear", tc.name, len(msg), n, limit)
		}
	}
}

// endless is an io.Reader of a message without storing it: prefix, then
// fill bytes of c, then suffix. It counts what was read.
type endless struct {
	prefix, suffix string
	c              byte
	fill, off, n   int
}

func (e *endless) Read(p []byte) (int, error) {
	total := len(e.prefix) + e.fill + len(e.suffix)
	if e.off >= total {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && e.off < total {
		switch {
		case e.off < len(e.prefix):
			p[k] = e.prefix[e.off]
		case e.off < len(e.prefix)+e.fill:
			p[k] = e.c
		default:
			p[k] = e.suffix[e.off-len(e.prefix)-e.fill]
		}
		k++
		e.off++
	}
	e.n += k
	return k, nil
}

// TestParseLongLineBounded: a 20 MB header line is not collected. Parse
// stops reading at MaxHeader plus its buffer, allocates a bounded amount,
// and the message is still stored unchanged (the line starts the body:
// the header size limit moves bytes to the body, it loses none).
func TestParseLongLineBounded(t *testing.T) {
	const fill = 20 << 20
	for _, tc := range []struct {
		name, prefix string
		wantFields   string
	}{
		{"first line", "X-Long: ", ""},
		{"after a field", "Subject: s\nX-Long: ", "Subject: s\n"},
		{"continuation takes its field", "Subject: s\nX-Long: a\n\t", "Subject: s\n"},
		{"no colon", "Subject: s\n", "Subject: s\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const suffix = "\r\n\r\nbody\r\n"
			src := &endless{prefix: tc.prefix, suffix: suffix, c: 'a', fill: fill}
			var h *Header
			var body io.Reader
			n := allocated(func() {
				var err error
				if h, body, err = Parse(src); err != nil {
					t.Fatal(err)
				}
			})
			if max := MaxHeader + 2*(64<<10); src.n > max {
				t.Errorf("read %d bytes before deciding, want <= %d", src.n, max)
			}
			if n > 8*MaxHeader {
				t.Errorf("allocated %d bytes for a %d-byte line, want <= %d", n, fill, 8*MaxHeader)
			}
			if string(h.Fields) != tc.wantFields {
				t.Errorf("fields %.60q (%d bytes), want %q", h.Fields, len(h.Fields), tc.wantFields)
			}
			// The body is the rest, byte for byte (LF endings).
			want := sha256.New()
			io.Copy(want, strings.NewReader(tc.prefix[len(tc.wantFields):]))
			io.Copy(want, io.LimitReader(&endless{c: 'a', fill: fill}, fill))
			io.WriteString(want, "\n\nbody\n")
			got := sha256.New()
			if _, err := io.Copy(got, body); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
				t.Error("body differs from the input after the header fields")
			}
		})
	}
}

// TestBodyOffset: reading the input from BodyOffset through NewLFReader
// gives exactly the body, for every way a header section ends (lmtpd
// relies on it to read each recipient's body from its spool).
func TestBodyOffset(t *testing.T) {
	long := strings.Repeat("y", MaxHeader)
	for _, in := range []string{
		"", "\r\n", "Subject: x\r\n\r\nbody\r\n", "Subject: x\r\nno blank line\r\nmore\r\n",
		"From a@b Mon Jan  1 00:00:00 2024\r\nSubject: y\r\n\r\nz\r\n", "Subject: x",
		"Subject: x\r\nX-Long: " + long + "\r\n\r\nbody\r\n",
		"Subject: x\r\nX-Long: a\r\n\t" + long + "\r\n\r\nbody\r\n",
		"Subject: x\r\n" + long + "\r\r\n",
		strings.Repeat("X-Many: yes\r\n", 100000) + "\r\nbody\r\n",
	} {
		h, body, err := Parse(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(body)
		got, _ := io.ReadAll(NewLFReader(strings.NewReader(in[h.BodyOffset:])))
		if !bytes.Equal(got, want) {
			t.Errorf("%.40q: body from offset %d differs from Parse's body", in, h.BodyOffset)
		}
	}
}

// TestEnvelopeFromMessage: the sender deliver takes without -f, as
// dovecot-lda 2.3 on this machine reads the mbox "From " line.
func TestEnvelopeFromMessage(t *testing.T) {
	for _, tc := range []struct {
		in, mbox, rp string
		hasRP        bool
	}{
		{in: "From x@y Mon Jan  1 00:00:00 2024\nSubject: t\n\nb\n", mbox: "x@y"},
		{in: "Return-Path: <a@b>\nSubject: t\n\nb\n", rp: "a@b", hasRP: true},
		{in: "From x@y Mon Jan  1 00:00:00 2024\nReturn-Path: <a@b>\n\nb\n", mbox: "x@y", rp: "a@b", hasRP: true},
		{in: "Subject: t\n\nb\n"},
		{in: "Return-Path: <>\nSubject: t\n\nb\n", hasRP: true},
		{in: "Return-Path: <a@b>\nReturn-Path: <c@d>\n\nb\n", rp: "a@b", hasRP: true},
		{in: "Return-Path:\n <a@b>\n\nb\n", rp: "a@b", hasRP: true},
		{in: "From x@Y.ORG Mon Jan  1 00:00:00 2024\n\nb\n", mbox: "x@Y.ORG"},
		{in: "From \"a b\"@y Mon Jan  1 00:00:00 2024\n\nb\n", mbox: "\"a b\"@y"},
		// dovecot-lda: "Invalid character", "Missing domain", no date, two spaces
		{in: "From <x@y> Mon Jan  1 00:00:00 2024\n\nb\n"},
		{in: "From - Mon Jan  1 00:00:00 2024\n\nb\n"},
		{in: "From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n\nb\n"},
		{in: "From x@y\n\nb\n"},
		{in: "From  x@y Mon Jan  1 00:00:00 2024\n\nb\n"},
		{in: "From <> Mon Jan  1 00:00:00 2024\n\nb\n"},
		{in: "Subject: t\nFrom x@y Mon Jan  1 00:00:00 2024\n\nb\n"}, // not the first line
	} {
		h, _ := parse(t, tc.in)
		if h.MboxFrom != tc.mbox || h.ReturnPath != tc.rp || h.HasReturnPath != tc.hasRP {
			t.Errorf("%q: mbox %q return-path %q (%v), want %q %q (%v)",
				tc.in, h.MboxFrom, h.ReturnPath, h.HasReturnPath, tc.mbox, tc.rp, tc.hasRP)
		}
	}
}

// failing returns data, then err once, then io.EOF: a read error that a
// reader reports once, in the middle of a line.
type failing struct {
	data string
	err  error
}

func (f *failing) Read(p []byte) (int, error) {
	if f.data == "" {
		err := f.err
		f.err = io.EOF
		return 0, err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestParseLongLineReadError: a read error inside a line longer than
// MaxHeader is reported, by Parse or by the body, never lost in the cut
// (the message would be stored truncated).
func TestParseLongLineReadError(t *testing.T) {
	for _, n := range []int{200 << 10, MaxHeader, MaxHeader + 1000, MaxHeader + 100<<10} {
		boom := io.ErrUnexpectedEOF
		_, body, err := Parse(&failing{data: "X-Long: " + strings.Repeat("a", n), err: boom})
		if err == nil {
			_, err = io.Copy(io.Discard, body)
		}
		if err != boom {
			t.Errorf("%d-byte line: %v, want %v", n, err, boom)
		}
	}
}
