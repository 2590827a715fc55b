package lmtp

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/message"
	"maildeliver/internal/status"
)

func TestSpoolData(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 100, 4096, 100000} {
		in := bytes.Repeat([]byte("0123456789abcde\n"), size/16+1)[:size]
		for _, mem := range []int64{0, 100, 1 << 20} {
			sp, err := spoolData(iotest.HalfReader(bytes.NewReader(in)), mem, dir)
			if err != nil {
				t.Fatal(err)
			}
			if (sp.file != nil) != (int64(size) > mem) {
				t.Errorf("size %d mem %d: file=%v", size, mem, sp.file != nil)
			}
			got, _ := io.ReadAll(io.NewSectionReader(sp, 0, sp.size))
			if !bytes.Equal(got, in) {
				t.Errorf("size %d mem %d: content differs", size, mem)
			}
			sp.Close()
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool dir not empty: %v", ents)
	}
}

// TestSpoolErrors: failures to read are classified, a failing spool
// directory still consumes the message.
func TestSpoolErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{smtp.ErrDataTooLarge, "5.3.4"},
		{smtp.ErrTooLongLine, "4.6.0"},
		{errDataTimeoutRead, "4.4.2"},
		{io.ErrUnexpectedEOF, "4.4.2"},
		{smtp.ErrDataReset, "4.4.2"},
	} {
		r := io.MultiReader(strings.NewReader("Subject: x\r\n"), iotest.ErrReader(tc.err))
		_, err := spoolData(r, 1<<20, t.TempDir())
		if st := status.From(err); string(st.Enhanced) != tc.code {
			t.Errorf("%v: %v, want %s", tc.err, err, tc.code)
		}
	}
	in := strings.NewReader(strings.Repeat("x", 5000))
	_, err := spoolData(in, 10, "/nonexistent/spool")
	if st := status.From(err); !st.Temporary() {
		t.Errorf("bad spool dir: %v", err)
	}
	if in.Len() != 0 {
		t.Errorf("%d bytes of the message left unread", in.Len())
	}
}

// parseBoth checks that the shared header plus the body from its offset
// equals what message.Parse gives on its own.
func parseBoth(t *testing.T, in []byte) {
	sp := &spool{mem: in, size: int64(len(in))}
	p, err := parse(sp)
	if err != nil {
		t.Fatal(err)
	}
	h, b, err := message.Parse(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // every recipient gets the same body
		body, err := p.Body()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || !bytes.Equal(p.Header.Fields, h.Fields) {
			t.Fatalf("%q: body %q, want %q (offset %d)", in, got, want, p.Header.BodyOffset)
		}
	}
}

func TestParseOnce(t *testing.T) {
	for _, m := range []string{
		"", "\r\n", "\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n.\r\n", "Subject: x\n\nbody",
		"Subject: x\r\nno blank line\r\nmore\r\n", "Subject: x\r\n", "Subject: x", "From a@b Mon\r\nSubject: y\r\n\r\nz\r\n",
		"Subject: x\r\n\r\n\r\n\r\n", "Subject: x\r\n\tcontinued\r\n\r\nbody\r",
		"Subject: " + strings.Repeat("h", 70000) + "\r\n\r\nbody\r\n",
		strings.Repeat("X-Many: yes\r\n", 100000) + "\r\nbody\r\n",
		// Past message.MaxHeader: the body starts at the cut line (or
		// at the field it continues), read from the spool at its offset.
		"Subject: x\r\nX-Long: " + strings.Repeat("y", 2<<20) + "\r\n\r\nbody\r\n",
		"Subject: x\r\nX-Long: a\r\n\t" + strings.Repeat("y", 2<<20) + "\r\n\r\nbody\r\n",
		strings.Repeat("X-Many: yes\r\n", 100000) + "no colon, no blank line\r\nbody\r\n",
	} {
		parseBoth(t, []byte(m))
	}
}

func FuzzParseOnce(f *testing.F) {
	for _, s := range []string{"Subject: x\r\n\r\nbody\r\n", "a: b\nc\r\n", "\r\n\r\n", "From x\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { parseBoth(t, in) })
}
