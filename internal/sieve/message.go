package sieve

import (
	"bytes"
	"strings"
)

// Message is the message a script runs against: the stored bytes,
// unchanged. Header tests see the fields unfolded and RFC 2047-decoded
// (go-message's charset tables, through go-sieve); body tests see the raw
// body.
type Message struct {
	raw    []byte
	fields []field
	body   int // offset of the body in raw
}

// field is one header field as it appears in the message.
type field struct {
	name string // as written
	raw  []byte // the whole field, "Name: value\r\n" with folding
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
	m := &Message{raw: raw}
	m.fields, m.body = splitHeader(raw)
	return m
}

// splitHeader returns the header fields and the offset of the body. A line
// that is neither a field nor a continuation ends the header, as in
// Dovecot's message parser.
func splitHeader(raw []byte) ([]field, int) {
	var fields []field
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
		fields = append(fields, field{name: string(bytes.TrimRight(line[:colon], " \t")), raw: line})
		off = end
	}
	return fields, off
}

// HeaderGet implements go-sieve's interp.Message.
func (m *Message) HeaderGet(key string) ([]string, error) {
	var out []string
	for _, f := range m.fields {
		if strings.EqualFold(f.name, key) {
			out = append(out, f.value())
		}
	}
	return out, nil
}

// MessageSize implements interp.Message: the size of the stored message.
func (m *Message) MessageSize() int { return len(m.raw) }

// BodyRaw implements interp.Message.
func (m *Message) BodyRaw() ([]byte, bool, error) {
	return m.raw[m.body:], true, nil
}

// Header returns the first value of the named field, unfolded and decoded.
func (m *Message) Header(key string) string {
	v, _ := m.HeaderGet(key)
	if len(v) == 0 {
		return ""
	}
	return decodeHeader(v[0])
}
