package message

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Message is one message to deliver, the same for deliver and lmtpd: its
// header section, parsed once, and its body (LF line endings), which every
// store of a delivery plan reads from the start. A message read from a
// stream (deliver's stdin) can give its body once, which is all a plan of
// one store needs; Spool makes it re-readable for a plan of several.
type Message struct {
	Header *Header
	src    io.ReaderAt // the whole message; nil: a stream
	size   int64
	stream io.Reader // the body of a stream, until read
	spool  *os.File  // Spool's file, src then
	// bodyLF: src holds the body alone, LF line endings already (a
	// spooled stream body), to be read as it is.
	bodyLF bool

	bodyOnce  sync.Once // BodyBytes
	bodyBytes []byte
	bodyErr   error
}

// ErrBodyRead is a second Body of a message read from a stream that was
// not spooled: a bug in the caller.
var ErrBodyRead = errors.New("message: body of a stream already read")

// Read parses the header section of the message of size bytes in src
// (lmtpd's spool): its body can be read any number of times.
func Read(src io.ReaderAt, size int64) (*Message, error) {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(io.NewSectionReader(src, 0, size))
	h, _, err := Parse(br)
	// The header keeps copies of what it parsed (readLine's callers
	// copy), and the body is read from src again: br is free.
	br.Reset(nil)
	readerPool.Put(br)
	if err != nil {
		return nil, err
	}
	return &Message{Header: h, src: src, size: size}, nil
}

// ReadStream parses the header section from r, the start of the message;
// the body is read from r, once (see Spool).
func ReadStream(r io.Reader) (*Message, error) {
	h, body, err := Parse(r)
	if err != nil {
		return nil, err
	}
	return &Message{Header: h, stream: body}, nil
}

// readerPool holds Read's 64 KiB buffers: one per message was a third
// of lmtpd's allocation per delivery.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

// Rereadable reports whether Body can be called more than once.
func (m *Message) Rereadable() bool { return m.src != nil }

// Body returns a reader of the body from its start (LF line endings).
func (m *Message) Body() (io.Reader, error) {
	if m.bodyLF {
		return io.NewSectionReader(m.src, 0, m.size), nil
	}
	if m.src != nil {
		off := m.Header.BodyOffset
		return NewLFReader(io.NewSectionReader(m.src, off, m.size-off)), nil
	}
	if m.stream == nil {
		return nil, ErrBodyRead
	}
	r := m.stream
	m.stream = nil
	return r, nil
}

// BodyBytes returns the body (as Body reads it) in memory, read once and
// shared by every caller until Close: Sieve's body test needs bytes, and
// the recipients of one message then hold one copy, not one each. The
// message must be re-readable (Spool) or its body not yet read.
func (m *Message) BodyBytes() ([]byte, error) {
	m.bodyOnce.Do(func() {
		var r io.Reader
		if r, m.bodyErr = m.Body(); m.bodyErr == nil {
			m.bodyBytes, m.bodyErr = io.ReadAll(r)
		}
	})
	return m.bodyBytes, m.bodyErr
}

// Spool makes a stream's body re-readable: it is read to its end into an
// unnamed file in dir (created and unlinked at once, mode 0600), which
// Close releases. A message that is re-readable already is left as it is.
// The body read from the stream has LF line endings already; the spooled
// copy is the body alone, read back as it is.
func (m *Message) Spool(dir string) error {
	if m.src != nil {
		return nil
	}
	body, err := m.Body()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "maildeliver-spool-*")
	if err != nil {
		return fmt.Errorf("message: spool: %w", err)
	}
	os.Remove(f.Name()) // unnamed: no crash leaves it behind
	n, err := io.Copy(f, body)
	if err != nil {
		f.Close()
		return fmt.Errorf("message: spool: %w", err)
	}
	m.src, m.size, m.spool, m.bodyLF = f, n, f, true
	return nil
}

// Close releases a spool made by Spool, and BodyBytes's copy.
func (m *Message) Close() error {
	m.bodyBytes = nil
	if m.spool == nil {
		return nil
	}
	err := m.spool.Close()
	m.spool = nil
	return err
}
