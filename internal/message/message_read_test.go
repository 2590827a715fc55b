package message

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
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

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// BodyBytes reads the body once for all its callers, concurrent ones
// included (lmtpd's recipients of one message: one copy, not one each),
// and Close lets it go.
func TestBodyBytesShared(t *testing.T) {
	raw := "Subject: x\r\n\r\n" + strings.Repeat("line\r\n", 10000)
	src := &countingReaderAt{r: strings.NewReader(raw)}
	m, err := Read(src, int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	before := src.n.Load()
	got := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := m.BodyBytes()
			if err != nil {
				t.Error(err)
			}
			got[i] = b
		}()
	}
	wg.Wait()
	if string(got[0]) != strings.Repeat("line\n", 10000) {
		t.Fatalf("body %q...", got[0][:20])
	}
	for _, b := range got[1:] {
		if &b[0] != &got[0][0] {
			t.Fatal("callers got different copies")
		}
	}
	if read := src.n.Load() - before; read > int64(len(raw))+64<<10 {
		t.Errorf("%d bytes read for a %d byte message: read more than once", read, len(raw))
	}
	m.Close()
	if m.bodyBytes != nil {
		t.Error("Close kept the copy")
	}
}
