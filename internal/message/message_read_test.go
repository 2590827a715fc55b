package message

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// A message read from a ReaderAt gives the same header and body as Parse,
// any number of times; a stream gives its body once, and again only after
// Spool, identical each time.
func TestMessageBodyRereadable(t *testing.T) {
	in := "Return-Path: <a@b>\r\nSubject: s\r\n\r\nline 1\r\nline 2\r\r\n"
	h, b, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(b)
	read := func(m *Message) string {
		t.Helper()
		r, err := m.Body()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}
	m, err := Read(bytes.NewReader([]byte(in)), int64(len(in)))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Rereadable() || !bytes.Equal(m.Header.Fields, h.Fields) {
		t.Fatalf("Read: rereadable %v, fields %q", m.Rereadable(), m.Header.Fields)
	}
	for range 2 {
		if got := read(m); got != string(want) {
			t.Fatalf("body %q, want %q", got, want)
		}
	}

	s, err := ReadStream(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if s.Rereadable() {
		t.Fatal("a stream says it is rereadable")
	}
	if got := read(s); got != string(want) {
		t.Fatalf("stream body %q, want %q", got, want)
	}
	if _, err := s.Body(); !errors.Is(err, ErrBodyRead) {
		t.Fatalf("second Body of a stream = %v, want ErrBodyRead", err)
	}

	s, _ = ReadStream(strings.NewReader(in))
	if err := s.Spool(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 {
		if got := read(s); got != string(want) {
			t.Fatalf("spooled body %q, want %q", got, want)
		}
	}
}
