// Package message owns what maildeliver does to the bytes of a message: it
// reads the header section once, without re-encoding anything, so that the
// delivery core can prepend Return-Path, Delivered-To (and lmtpd's Received)
// per recipient, drop the headers that must exist only once, and detect mail
// loops. Line endings become LF; every other byte passes through unchanged.
//
// What is removed from the original header section:
//   - a leading mbox "From " line (pipe(8) flag F, or a saved mbox message);
//   - every Return-Path field: the one we write is the only one (RFC 5321
//     section 4.4: the final delivery adds it);
//   - a Delivered-To naming the recipient in the "prepended zone" at the very
//     top (the fields Postfix's pipe(8) flags R, O and D write, in that order:
//     Return-Path, X-Original-To, Delivered-To). That one is the copy Postfix
//     just added for this very delivery (or a previous delivery of the same
//     saved message by an administrator), not a loop, and we write our own.
//
// Any other Delivered-To naming the recipient is a loop.
package message

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// MaxHeader bounds the header section kept in memory. Past it, the rest of
// the message is treated as body (loop detection then sees only the first
// MaxHeader bytes of the header, which is where prepended fields are).
const MaxHeader = 1 << 20

// Header is the parsed header section of one message.
type Header struct {
	// Fields is the header section to write after our own prepended fields:
	// the original fields, LF line endings, minus what the package doc says
	// is removed. It includes the blank line ending the header section if
	// the message had one.
	Fields []byte
	// MessageID is the Message-ID field's value, for logs.
	MessageID string

	deliveredTo []string // addresses of Delivered-To fields kept in Fields
	prepended   string   // address of the Delivered-To in the prepended zone, if any
	prependedAt [2]int   // byte range of that field in Fields, before removal decision
}

type field struct {
	name  string // lower case
	raw   []byte // the whole field, LF line endings, with continuation lines
	value string // unfolded value, trimmed
}

// Parse reads the header section from r, the start of the message, and
// returns it with a reader for the rest of the message (the body, LF line
// endings). The body is streamed, never buffered whole.
func Parse(r io.Reader) (*Header, io.Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	h := &Header{}
	var fields []field
	var end []byte     // the blank line ending the header section, if any
	var pending []byte // a first body line found where a field was expected
	total := 0
	for first := true; ; first = false {
		line, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
		if len(line) == 0 {
			break // EOF
		}
		switch {
		case first && bytes.HasPrefix(line, []byte("From ")):
			// mbox separator line, not a header field: dropped
		case isBlank(line):
			end = line
		case (line[0] == ' ' || line[0] == '\t') && len(fields) > 0:
			f := &fields[len(fields)-1]
			f.raw = append(f.raw, line...)
			f.value = strings.TrimSpace(f.value + " " + strings.TrimSpace(string(line)))
		default:
			name, ok := fieldName(line)
			if !ok {
				// Not a header field: the header section ended without
				// a blank line; this line is the first body line.
				pending = line
				break
			}
			fields = append(fields, field{
				name:  strings.ToLower(name),
				raw:   line,
				value: strings.TrimSpace(string(line[len(name)+1:])),
			})
		}
		total += len(line)
		if end != nil || pending != nil || err != nil || total > MaxHeader {
			break
		}
	}
	h.assemble(fields, end)
	body := io.Reader(NewLFReader(br))
	if pending != nil {
		body = io.MultiReader(bytes.NewReader(pending), body)
	}
	return h, body, nil
}

// assemble builds Fields from the parsed fields and the terminator end.
func (h *Header) assemble(fields []field, end []byte) {
	var out bytes.Buffer
	zone := true // still in the prepended zone at the top
	for _, f := range fields {
		switch f.name {
		case "return-path":
			continue // ours is the only one
		case "x-original-to":
		case "delivered-to":
			if zone && h.prepended == "" {
				h.prepended = addr(f.value)
				h.prependedAt = [2]int{out.Len(), out.Len() + len(f.raw)}
				out.Write(f.raw)
				zone = false
				continue
			}
			h.deliveredTo = append(h.deliveredTo, addr(f.value))
			zone = false
		case "message-id":
			if h.MessageID == "" {
				h.MessageID = f.value
			}
			zone = false
		default:
			zone = false
		}
		out.Write(f.raw)
	}
	out.Write(end)
	h.Fields = out.Bytes()
}

// For returns the header section to write for recipient rcpt and whether the
// message loops for that recipient. The Delivered-To in the prepended zone is
// dropped when it names rcpt (ours replaces it) and kept as an ordinary field
// otherwise.
func (h *Header) For(rcpt string) (fields []byte, loop bool) {
	for _, a := range h.deliveredTo {
		if sameAddr(a, rcpt) {
			loop = true
		}
	}
	if h.prepended == "" {
		return h.Fields, loop
	}
	if !sameAddr(h.prepended, rcpt) {
		return h.Fields, loop
	}
	s, e := h.prependedAt[0], h.prependedAt[1]
	out := make([]byte, 0, len(h.Fields)-(e-s))
	out = append(out, h.Fields[:s]...)
	out = append(out, h.Fields[e:]...)
	return out, loop
}

// readLine reads one line up to and including LF, converting a trailing CRLF
// to LF. A final line without LF is returned with io.EOF.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// Overlong line: collect it whole.
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = r.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	} else {
		line = append([]byte(nil), line...)
	}
	if n := len(line); n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
		line = append(line[:n-2], '\n')
	}
	return line, err
}

func isBlank(line []byte) bool { return len(line) == 1 && line[0] == '\n' }

// fieldName returns the field name if line starts with "name:" where name is
// printable US-ASCII without space or colon (RFC 5322 section 3.6.8).
func fieldName(line []byte) (string, bool) {
	for i, c := range line {
		if c == ':' {
			return string(line[:i]), i > 0
		}
		if c <= ' ' || c > '~' {
			return "", false
		}
	}
	return "", false
}

// addr extracts the address from a Delivered-To value: "<a@b>" or "a@b",
// the first token only, so that text in a folded continuation (a comment,
// "for <other>") is never taken for the address.
func addr(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "<") {
		if j := strings.IndexByte(v, '>'); j > 0 {
			return v[1:j]
		}
		return strings.TrimPrefix(v, "<")
	}
	if i := strings.IndexAny(v, " \t\n(;,<"); i >= 0 {
		v = v[:i]
	}
	return v
}

// sameAddr compares two addresses case-insensitively. Local parts are case
// sensitive in theory, but Postfix's pipe flags h and u and every userdb in
// the setups we replace treat them as case-insensitive.
func sameAddr(a, b string) bool { return strings.EqualFold(a, b) }
