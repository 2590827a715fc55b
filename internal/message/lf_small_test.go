package message

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestLFReaderSmallBuffer: a Read into a 1-byte buffer returns at most one
// byte and loses nothing (bufio.Writer.ReadFrom offers the last free byte
// of its buffer; a larger count made it panic on messages over 64 KiB).
func TestLFReaderSmallBuffer(t *testing.T) {
	for _, in := range []string{"ab\r\ncd", "\r\r\n\r", "x\ry\r\n", strings.Repeat("line\r\n", 50)} {
		r := NewLFReader(strings.NewReader(in))
		var out []byte
		p := make([]byte, 1)
		for {
			n, err := r.Read(p)
			if n > len(p) {
				t.Fatalf("%q: Read returned %d > len(p) %d", in, n, len(p))
			}
			out = append(out, p[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if want := strings.ReplaceAll(in, "\r\n", "\n"); string(out) != want {
			t.Errorf("%q: got %q, want %q", in, out, want)
		}
	}
	// The way the delivery core uses it: io.Copy into a bufio.Writer that
	// is one byte short of full.
	var dst bytes.Buffer
	w := bufio.NewWriterSize(&dst, 64)
	w.WriteString(strings.Repeat("h", 63))
	in := strings.Repeat("ab\r\n", 100)
	if _, err := io.Copy(w, NewLFReader(strings.NewReader(in))); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if want := strings.Repeat("h", 63) + strings.ReplaceAll(in, "\r\n", "\n"); dst.String() != want {
		t.Errorf("copy through bufio.Writer: got %d bytes, want %d", dst.Len(), len(want))
	}
}
