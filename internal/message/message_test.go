package message

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func parse(t *testing.T, in string) (*Header, string) {
	t.Helper()
	h, body, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return h, string(b)
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in, rcpt string
		fields, body   string
		loop           bool
		msgid          string
	}{
		{
			name: "plain CRLF", rcpt: "a@x",
			in:     "Subject: hi\r\nMessage-ID: <1@x>\r\n\r\nbody\r\nline2\r\n",
			fields: "Subject: hi\nMessage-ID: <1@x>\n\n", body: "body\nline2\n", msgid: "<1@x>",
		},
		{
			name: "postfix DR prepended", rcpt: "a@x",
			in:     "Return-Path: <s@y>\nDelivered-To: a@x\nSubject: hi\n\nb\n",
			fields: "Subject: hi\n\n", body: "b\n",
		},
		{
			name: "postfix ROD prepended", rcpt: "A@X",
			in:     "Return-Path: <s@y>\nX-Original-To: alias@x\nDelivered-To: a@x\nSubject: hi\n\nb\n",
			fields: "X-Original-To: alias@x\nSubject: hi\n\nb\n"[:len("X-Original-To: alias@x\nSubject: hi\n\n")], body: "b\n",
		},
		{
			name: "loop below other fields", rcpt: "a@x", loop: true,
			in:     "Received: by z\nDelivered-To: a@x\nSubject: hi\n\nb\n",
			fields: "Received: by z\nDelivered-To: a@x\nSubject: hi\n\n", body: "b\n",
		},
		{
			name: "loop after postfix copy", rcpt: "a@x", loop: true,
			in:     "Return-Path: <s@y>\nDelivered-To: a@x\nReceived: by z\nDelivered-To: <a@x>\n\nb\n",
			fields: "Received: by z\nDelivered-To: <a@x>\n\n", body: "b\n",
		},
		{
			name: "folded value naming the recipient is no loop", rcpt: "a@x",
			in:     "Delivered-To: other@x\n  (for <a@x>)\nSubject: s\n\nb\n",
			fields: "Delivered-To: other@x\n  (for <a@x>)\nSubject: s\n\n", body: "b\n",
		},
		{
			name: "angle brackets and comment", rcpt: "a@x", loop: true,
			in:     "Received: by z\nDelivered-To: <a@x> (forwarded)\n\nb\n",
			fields: "Received: by z\nDelivered-To: <a@x> (forwarded)\n\n", body: "b\n",
		},
		{
			name: "other recipient's delivered-to kept", rcpt: "a@x",
			in:     "Delivered-To: other@x\nSubject: s\n\nb\n",
			fields: "Delivered-To: other@x\nSubject: s\n\n", body: "b\n",
		},
		{
			name: "return-path anywhere dropped", rcpt: "a@x",
			in:     "Subject: s\nReturn-Path: <evil@z>\n  folded\nX: y\n\nb\n",
			fields: "Subject: s\nX: y\n\n", body: "b\n",
		},
		{
			name: "mbox from line", rcpt: "a@x",
			in:     "From s@y Mon Jan  1 00:00:00 2024\nSubject: s\n\nb\n",
			fields: "Subject: s\n\n", body: "b\n",
		},
		{
			name: "no blank line", rcpt: "a@x",
			in:     "Subject: s\nthis is body\nmore\n",
			fields: "Subject: s\n", body: "this is body\nmore\n",
		},
		{
			name: "no header at all", rcpt: "a@x",
			in: "just text\n", fields: "", body: "just text\n",
		},
		{
			name: "empty", rcpt: "a@x", in: "", fields: "", body: "",
		},
		{
			name: "header only no newline", rcpt: "a@x",
			in: "Subject: s", fields: "Subject: s", body: "",
		},
		{
			name: "body bytes untouched", rcpt: "a@x",
			in:     "S: 1\r\n\r\n\x00\xff\rx\r\r\n.\r\n",
			fields: "S: 1\n\n", body: "\x00\xff\rx\r\n.\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, body := parse(t, tc.in)
			f, loop := h.For(tc.rcpt)
			if string(f) != tc.fields {
				t.Errorf("fields = %q, want %q", f, tc.fields)
			}
			if body != tc.body {
				t.Errorf("body = %q, want %q", body, tc.body)
			}
			if loop != tc.loop {
				t.Errorf("loop = %v, want %v", loop, tc.loop)
			}
			if h.MessageID != tc.msgid {
				t.Errorf("msgid = %q, want %q", h.MessageID, tc.msgid)
			}
		})
	}
}

func TestLFReader(t *testing.T) {
	for _, in := range []string{
		"", "a", "\r", "\r\n", "a\r\nb\r\n", "a\rb", "\r\r\n\r", strings.Repeat("x\r\n", 10000) + "\r",
	} {
		want := strings.ReplaceAll(in, "\r\n", "\n")
		for _, wrap := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r },
			iotest.OneByteReader,
			iotest.HalfReader,
			iotest.DataErrReader,
		} {
			got, err := io.ReadAll(NewLFReader(wrap(strings.NewReader(in))))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Errorf("LFReader(%q) = %q, want %q", in, got, want)
			}
		}
	}
}

func FuzzLFReader(f *testing.F) {
	f.Add([]byte("a\r\nb\rc\r"))
	f.Fuzz(func(t *testing.T, in []byte) {
		want := bytes.ReplaceAll(in, []byte("\r\n"), []byte("\n"))
		got, err := io.ReadAll(NewLFReader(iotest.OneByteReader(bytes.NewReader(in))))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("Return-Path: <a@b>\r\nDelivered-To: x@y\r\nSubject: s\r\n\r\nbody\r\n"), "x@y")
	f.Add([]byte("From x\nA: b\n c\nnot a header\n"), "a@b")
	f.Fuzz(func(t *testing.T, in []byte, rcpt string) {
		h, body, err := Parse(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := h.For(rcpt)
		// Nothing is invented: header + body never exceed the input (LF
		// conversion and dropped fields only shrink it).
		if len(f)+len(b) > len(in) {
			t.Fatalf("output %d bytes > input %d", len(f)+len(b), len(in))
		}
		if bytes.Contains(bytes.ToLower(f), []byte("\nreturn-path:")) || bytes.HasPrefix(bytes.ToLower(f), []byte("return-path:")) {
			t.Fatalf("return-path kept: %q", f)
		}
	})
}
