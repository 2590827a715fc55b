package lmtp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/emersion/go-smtp"
	"golang.org/x/sys/unix"

	"maildeliver/internal/message"
	"maildeliver/internal/status"
)

// spool holds one message's DATA, read once from the network, so that
// every recipient's delivery can read it again from the start: in memory
// up to [lmtp] spool_memory, beyond that in an unnamed file in
// [lmtp] spool_dir (O_TMPFILE, or created and unlinked at once, mode 0600).
// A crash never leaves a spool file behind, and no other process can open
// it.
type spool struct {
	mem  []byte
	file *os.File // nil when the message fits in memory
	size int64
}

// ReadAt reads the spooled message; it is safe for concurrent use.
func (s *spool) ReadAt(p []byte, off int64) (int, error) {
	if s.file != nil {
		return s.file.ReadAt(p, off)
	}
	return bytes.NewReader(s.mem).ReadAt(p, off)
}

// Close releases the spool file.
func (s *spool) Close() error {
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}

// srcReader remembers the error of the network side, so that a failure
// can be told apart from a failure of the local spool file.
type srcReader struct {
	r   io.Reader
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// spoolData reads r (go-smtp's DATA or BDAT reader) to its end. On a
// failure of the spool itself (disk full in spool_dir) the rest of r is
// still consumed, so that the connection stays in step with the client.
func spoolData(r io.Reader, memMax int64, dir string) (*spool, error) {
	src := &srcReader{r: r}
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, src, memMax+1)
	if err == io.EOF {
		return &spool{mem: buf.Bytes(), size: n}, nil
	}
	if err != nil {
		return nil, dataError(err)
	}
	f, err := tempFile(dir)
	if err == nil {
		var m int64
		m, err = io.Copy(f, io.MultiReader(&buf, src))
		if err == nil {
			return &spool{file: f, size: m}, nil
		}
		f.Close()
	}
	if src.err != nil {
		return nil, dataError(src.err)
	}
	// The spool failed, not the client: keep reading so the client gets
	// its replies, then answer with the local error.
	if _, derr := io.Copy(io.Discard, src); derr != nil {
		return nil, dataError(derr)
	}
	return nil, status.From(fmt.Errorf("lmtp: spool: %w", err))
}

// dataError classifies a failure to read the message from the client.
func dataError(err error) error {
	var st *status.Error
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		st = status.TooBigLMTP()
	case errors.Is(err, smtp.ErrTooLongLine):
		st = errLongLine
	case isDataTimeout(err):
		st = errDataTime
	default: // EOF, reset, closed connection
		st = errAborted
	}
	return st.Wrap(err)
}

func isDataTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, errDataTimeoutRead) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// tempFile opens an unnamed file in dir ("" = $TMPDIR).
func tempFile(dir string) (*os.File, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), dir+"/(spool)"), nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
		return nil, &os.PathError{Op: "open O_TMPFILE", Path: dir, Err: err}
	}
	// The file system has no O_TMPFILE: a private name, unlinked at once.
	f, err := os.CreateTemp(dir, ".lmtpd-spool-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// parse reads the header section once per message (message.Read): every
// recipient's body is then read from the spool at the offset the parse
// found, also when the header section has no blank line or is cut at
// message.MaxHeader; the header is never parsed again per recipient.
func parse(sp *spool) (*message.Message, error) { return message.Read(sp, sp.size) }
