package quotastatus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits of one request. Postfix sends about 30 attributes, each one line
// shorter than its SMTP line limit (2048); these are generous and keep a
// client that is not Postfix from growing memory without bound.
const (
	MaxLine       = 8 << 10 // one name=value line, newline included
	MaxAttributes = 256     // lines in one request
	MaxRequest    = 1 << 20 // bytes read for one request, discarded ones included
)

// ErrMalformed marks a request that was read to its blank line but is not
// a well-formed policy request (a line without '=', an empty or repeated
// name, a NUL or a CR other than one before the LF, an overlong line, too many lines, a bad size). The
// connection is still in step: the request is answered DUNNO.
var ErrMalformed = errors.New("quotastatus: malformed request")

// ErrTooLarge: MaxRequest bytes without the blank line that ends a
// request; the connection cannot be kept in step and is closed.
var ErrTooLarge = errors.New("quotastatus: request too large")

// Request is one policy delegation request (Postfix's SMTPD_POLICY_README,
// "Protocol description"): name=value lines ended by an empty line.
type Request struct {
	Attrs map[string]string
}

// Get returns an attribute's value, "" when absent.
func (r Request) Get(name string) string { return r.Attrs[name] }

// Recipient is the "recipient" attribute: the RCPT TO address as the
// client sent it (Postfix strips the angle brackets).
func (r Request) Recipient() string { return r.Attrs["recipient"] }

// Size is the "size" attribute: the MAIL FROM SIZE= value in the RCPT
// state (0 when the client sent none), the message size at end of data.
func (r Request) Size() (int64, error) {
	s := r.Attrs["size"]
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || s[0] == '+' {
		return 0, fmt.Errorf("%w: size %q", ErrMalformed, s)
	}
	return n, nil
}

// ReadRequest reads one request from r, which must be buffered with at
// least MaxLine bytes (NewReader). io.EOF means the connection ended
// cleanly between requests; io.ErrUnexpectedEOF that it ended inside one.
// A request that is malformed but complete comes back with an error
// wrapping ErrMalformed (and what could be read of it).
func ReadRequest(r *bufio.Reader) (Request, error) {
	req := Request{Attrs: make(map[string]string)}
	var bad error
	total, lines := 0, 0
	for {
		line, n, long, err := readLine(r, MaxRequest-total)
		total += n
		switch {
		case err != nil && errors.Is(err, io.EOF) && total > 0:
			return req, io.ErrUnexpectedEOF
		case err != nil:
			return req, err
		case total > MaxRequest:
			return req, ErrTooLarge
		case long:
			bad = cmpOr(bad, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, MaxLine))
			continue
		case len(line) == 0:
			return req, bad // the empty line: end of the request
		}
		if lines++; lines > MaxAttributes {
			bad = cmpOr(bad, fmt.Errorf("%w: more than %d attributes", ErrMalformed, MaxAttributes))
			continue
		}
		if err := req.add(line); err != nil {
			bad = cmpOr(bad, err)
		}
	}
}

// NewReader buffers a connection for ReadRequest.
func NewReader(rd io.Reader) *bufio.Reader { return bufio.NewReaderSize(rd, MaxLine) }

// add stores one name=value line.
func (r Request) add(line []byte) error {
	name, value, ok := bytes.Cut(line, []byte{'='})
	switch {
	case !ok:
		return fmt.Errorf("%w: line %q has no '='", ErrMalformed, clip(line))
	case len(name) == 0:
		return fmt.Errorf("%w: line %q has no name", ErrMalformed, clip(line))
	case bytes.IndexByte(line, 0) >= 0 || bytes.IndexByte(line, '\r') >= 0:
		return fmt.Errorf("%w: NUL or CR in %q", ErrMalformed, clip(name))
	}
	if _, dup := r.Attrs[string(name)]; dup {
		return fmt.Errorf("%w: attribute %q repeated", ErrMalformed, clip(name))
	}
	r.Attrs[string(name)] = string(value)
	return nil
}

// readLine returns one line without its LF (and a CR before it), and the
// bytes consumed. A line longer than MaxLine is consumed to its end and
// reported as long, without its bytes; past budget bytes it fails with
// ErrTooLarge.
func readLine(r *bufio.Reader, budget int) (line []byte, n int, long bool, err error) {
	for {
		frag, err := r.ReadSlice('\n')
		n += len(frag)
		if errors.Is(err, bufio.ErrBufferFull) {
			long = true
			if n > budget {
				return nil, n, true, ErrTooLarge
			}
			continue
		}
		if err != nil {
			return nil, n, long, err
		}
		if long || n > MaxLine {
			return nil, n, true, nil
		}
		return bytes.TrimSuffix(frag[:len(frag)-1], []byte{'\r'}), n, false, nil
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// clip bounds what a log line quotes of a client's bytes.
func clip(b []byte) string {
	s := string(b)
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
