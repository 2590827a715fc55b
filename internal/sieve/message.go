package sieve

import (
	"bytes"
	"io"
	"strings"
)

// Message is the message a script runs against: the stored bytes,
// unchanged. Header tests see the fields unfolded and RFC 2047-decoded
// (go-message's charset tables, through go-sieve); body tests see the raw
// body.
//
// A Message made by NewStreamMessage holds the header section only: the
// body stays where it is (lmtpd's spool, deliver's spooled stdin) and is
// read only for the tests that need it, size (read through, counted,
// not kept) and body (in memory: go-sieve wants bytes; the caller's copy
// shared by every recipient, or read for this Message until ReleaseBody).
// A script that tests only the header costs the header, whatever the
// message's size.
type Message struct {
	raw    []byte // the whole message (NewMessage); the header section (NewStreamMessage)
	fields []field
	header string // raw's header section, once: HeaderGet's values are its substrings
	body   int    // offset of the body in raw

	openBody  func() (io.Reader, error) // nil: the body is raw[body:]
	bodyBytes func() ([]byte, error)    // nil: BodyRaw reads openBody
	size      int64                     // the whole message's, once counted; -1 not yet
	bodyRaw   []byte                    // BodyRaw's result, until ReleaseBody
	bodyErr   error
}

// field is one header field as it appears in the message.
type field struct {
	name string // as written
	raw  []byte // the whole field, "Name: value\r\n" with folding
	off  int    // where raw starts in the message
}

// value is the field body: after the colon and leading blanks, without the
// final line end, folding kept (go-sieve unfolds before comparing).
func (f field) value() string {
	v := f.raw[len(f.name)+1:]
	v = bytes.TrimLeft(v, " \t")
	v = bytes.TrimRight(v, "\r\n")
	return string(v)
}

// NewMessage splits raw into header fields and body. raw is not copied and
// must not change while the Message is used.
func NewMessage(raw []byte) *Message {
	m := &Message{raw: raw, size: int64(len(raw))}
	m.fields, m.body = splitHeader(raw)
	m.header = string(raw[:m.body])
	return m
}

// NewStreamMessage is the message of header (the header section, ending
// with its blank line; not copied) and the body openBody reads from its
// start, each call anew. bodyBytes, if not nil, gives the body in memory
// for body tests (a copy the caller shares between recipients); else
// openBody is read. They are called only for size and body tests.
func NewStreamMessage(header []byte, openBody func() (io.Reader, error), bodyBytes func() ([]byte, error)) *Message {
	m := &Message{raw: header, openBody: openBody, bodyBytes: bodyBytes, size: -1}
	m.fields, m.body = splitHeader(header)
	m.header = string(header[:m.body])
	return m
}

// withEdits is the message as a later script of the sequence sees it
// after the earlier ones' header edits (Pigeonhole runs each script of a
// sieve_before/user/sieve_after sequence on the message as edited so far):
// the edited header before the same body, which is not read or copied.
func (m *Message) withEdits(edits []HeaderEdit) *Message {
	if len(edits) == 0 {
		return m
	}
	header := ApplyEdits(m.raw[:m.body], edits)
	openBody, bodyBytes := m.openBody, m.bodyBytes
	if openBody == nil { // NewMessage: the body is in raw
		body := m.raw[m.body:]
		openBody = func() (io.Reader, error) { return bytes.NewReader(body), nil }
		bodyBytes = func() ([]byte, error) { return body, nil }
	}
	e := NewStreamMessage(header, openBody, bodyBytes)
	if m.size >= 0 {
		e.size = int64(len(header)) + m.size - int64(m.body)
	}
	return e
}

// ReleaseBody drops this Message's hold on the body BodyRaw returned (the
// Message may live on in a plan's vacation reply, which needs only the
// header).
func (m *Message) ReleaseBody() { m.bodyRaw = nil }

// splitHeader returns the header fields and the offset of the body. A line
// that is neither a field nor a continuation ends the header, as in
// Dovecot's message parser.
func splitHeader(raw []byte) ([]field, int) {
	fields := make([]field, 0, 32) // a typical header section's fields, in one allocation
	off := 0
	for off < len(raw) {
		end := bytes.IndexByte(raw[off:], '\n')
		if end < 0 {
			end = len(raw)
		} else {
			end += off + 1
		}
		line := raw[off:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return fields, end
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			last := &fields[len(fields)-1]
			last.raw = raw[off-len(last.raw) : end]
			off = end
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || len(bytes.TrimRight(line[:colon], " \t")) == 0 {
			return fields, off
		}
		fields = append(fields, field{name: string(bytes.TrimRight(line[:colon], " \t")), raw: line, off: off})
		off = end
	}
	return fields, off
}

// HeaderGet implements go-sieve's interp.Message. The values are field.value's,
// cut from m.header: a filter set asks for the same fields in many tests,
// which each converted the bytes again.
func (m *Message) HeaderGet(key string) ([]string, error) {
	var out []string
	for _, f := range m.fields {
		if strings.EqualFold(f.name, key) {
			v := m.header[f.off+len(f.name)+1 : f.off+len(f.raw)]
			out = append(out, strings.TrimRight(strings.TrimLeft(v, " \t"), "\r\n"))
		}
	}
	return out, nil
}

// MessageSize implements interp.Message: the size of the stored message.
// A stream message's body is read through once to count it; if it cannot
// be read, the header's size is what the test sees (BodyRaw would fail).
func (m *Message) MessageSize() int {
	if m.size < 0 {
		m.size = int64(len(m.raw))
		if r, err := m.openBody(); err == nil {
			n, _ := io.Copy(io.Discard, r)
			m.size += n
		}
	}
	return int(m.size)
}

// BodyRaw implements interp.Message.
func (m *Message) BodyRaw() ([]byte, bool, error) {
	if m.openBody == nil {
		return m.raw[m.body:], true, nil
	}
	if m.bodyRaw == nil && m.bodyErr == nil {
		if m.bodyBytes != nil {
			m.bodyRaw, m.bodyErr = m.bodyBytes()
		} else {
			var r io.Reader
			if r, m.bodyErr = m.openBody(); m.bodyErr == nil {
				m.bodyRaw, m.bodyErr = io.ReadAll(r)
			}
		}
	}
	return m.bodyRaw, m.bodyErr == nil, m.bodyErr
}

// Header returns the first value of the named field, unfolded and decoded.
func (m *Message) Header(key string) string {
	v, _ := m.HeaderGet(key)
	if len(v) == 0 {
		return ""
	}
	return decodeHeader(v[0])
}
