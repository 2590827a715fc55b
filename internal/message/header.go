// Package message owns what maildeliver does to the bytes of a message: it
// reads the header section once, without re-encoding anything, so that the
// delivery core can prepend Return-Path, Delivered-To (and lmtpd's Received)
// per recipient, drop the headers that must exist only once, and detect mail
// loops. Line endings become LF; every other byte passes through unchanged.
// Message (message.go) is a message as the delivery core takes it, from
// lmtpd's spool or deliver's stdin alike: the header parsed once, the body
// re-readable for a plan of several stores.
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

// MaxHeader bounds the header section kept in memory, and it is enforced
// while reading: a line is never collected whole before it is measured.
// The first line that would take the header section past MaxHeader starts
// the body, together with the field it continues, so that no field is cut
// in two. The bytes stored are the same either way; loop detection then
// sees only the fields before that point (prepended fields come first).
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
	// ReturnPath is the address of the first Return-Path field ("" for
	// "<>"), and HasReturnPath whether there was one; MboxFrom is the
	// address of a leading mbox "From " line ("" if none). Both are
	// removed from Fields; deliver without -f takes its sender from them.
	ReturnPath    string
	HasReturnPath bool
	MboxFrom      string
	// BodyOffset is where the body starts in the input: the input read
	// from there through NewLFReader is exactly what Parse's body reader
	// returns. lmtpd reads each recipient's body from its spool this way
	// instead of parsing the header section again.
	BodyOffset int64

	deliveredTo []string // addresses of Delivered-To fields kept in Fields
	prepended   string   // address of the Delivered-To in the prepended zone, if any
	prependedAt [2]int   // byte range of that field in Fields, before removal decision
}

type field struct {
	name  string // lower case
	raw   []byte // the whole field, LF line endings, with continuation lines
	start int64  // offset of its first line in the input
}

// value returns the field's unfolded value, trimmed: the pieces of its
// lines joined by one space. It is computed once, in one pass, and only
// for the fields whose value is used.
func (f *field) value() string {
	v := f.raw[len(f.name)+1:]
	var b strings.Builder
	b.Grow(len(v))
	for len(v) > 0 {
		line := v
		if i := bytes.IndexByte(v, '\n'); i >= 0 {
			line, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if piece := bytes.TrimSpace(line); len(piece) > 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.Write(piece)
		}
	}
	return b.String()
}

// parser is the state of one Parse: linear in the size of the header
// section, every byte copied a bounded number of times.
type parser struct {
	br     *bufio.Reader
	fields []field
	end    []byte // the blank line ending the header section, if any
	mbox   string // address of the mbox "From " line
	off    int64  // input bytes consumed by the header section so far
	total  int    // LF-converted bytes of the header section so far
	// The body starts with head (complete lines, LF endings), then rest
	// (raw bytes of a line cut at the limit), then the unread input.
	head, rest []byte
	bodyAt     int64 // input offset of the body, once known
}

// Parse reads the header section from r, the start of the message, and
// returns it with a reader for the rest of the message (the body, LF line
// endings). The body is streamed, never buffered whole.
func Parse(r io.Reader) (*Header, io.Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	p := &parser{br: br, bodyAt: -1}
	if err := p.run(); err != nil {
		return nil, nil, err
	}
	if p.bodyAt < 0 {
		p.bodyAt = p.off
	}
	h := &Header{MboxFrom: p.mbox, BodyOffset: p.bodyAt}
	h.assemble(p.fields, p.end)
	body := io.Reader(NewLFReader(br))
	if len(p.rest) > 0 {
		body = NewLFReader(io.MultiReader(bytes.NewReader(p.rest), br))
	}
	if len(p.head) > 0 {
		body = io.MultiReader(bytes.NewReader(p.head), body)
	}
	return h, body, nil
}

// run reads lines until the header section ends: a blank line, a line
// that is not a field, end of input, or the MaxHeader limit.
func (p *parser) run() error {
	for first := true; ; first = false {
		line, n, err := readLine(p.br, MaxHeader-p.total)
		if errors.Is(err, errLineTooLong) {
			p.overflow(line)
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if len(line) == 0 {
			return nil // EOF
		}
		switch {
		case first && bytes.HasPrefix(line, []byte("From ")):
			// mbox separator line, not a header field: dropped
			p.mbox = mboxSender(line)
		case isBlank(line):
			p.end = []byte{'\n'}
		case (line[0] == ' ' || line[0] == '\t') && len(p.fields) > 0:
			f := &p.fields[len(p.fields)-1]
			f.raw = append(f.raw, line...)
		default:
			name, ok := fieldName(line)
			if !ok {
				// Not a header field: the header section ended without
				// a blank line; this line is the first body line.
				p.head, p.bodyAt = bytes.Clone(line), p.off
				return nil
			}
			p.fields = append(p.fields, field{name: strings.ToLower(name), raw: bytes.Clone(line), start: p.off})
		}
		p.off += int64(n)
		p.total += len(line)
		if p.end != nil || err != nil {
			return nil
		}
	}
}

// overflow ends the header section at a line that would take it past
// MaxHeader; partial is the part of that line read so far (raw bytes). A
// continuation line takes the field it continues into the body with it.
func (p *parser) overflow(partial []byte) {
	p.rest, p.bodyAt = partial, p.off
	if len(partial) > 0 && (partial[0] == ' ' || partial[0] == '\t') && len(p.fields) > 0 {
		f := p.fields[len(p.fields)-1]
		p.fields = p.fields[:len(p.fields)-1]
		p.head, p.bodyAt = f.raw, f.start
	}
}

// assemble builds Fields from the parsed fields and the terminator end.
func (h *Header) assemble(fields []field, end []byte) {
	var out bytes.Buffer
	zone := true // still in the prepended zone at the top
	for _, f := range fields {
		switch f.name {
		case "return-path":
			if !h.HasReturnPath {
				h.ReturnPath, h.HasReturnPath = addr(f.value()), true
			}
			continue // ours is the only one
		case "x-original-to":
		case "delivered-to":
			if zone && h.prepended == "" {
				h.prepended = addr(f.value())
				h.prependedAt = [2]int{out.Len(), out.Len() + len(f.raw)}
				out.Write(f.raw)
				zone = false
				continue
			}
			h.deliveredTo = append(h.deliveredTo, addr(f.value()))
			zone = false
		case "message-id":
			if h.MessageID == "" {
				h.MessageID = f.value()
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

// errLineTooLong: a line did not end within the bytes readLine may take.
var errLineTooLong = errors.New("header line over the header size limit")

// readLine reads one line up to and including LF, converting a trailing CRLF
// to LF, and returns it with the number of input bytes it took. A final
// line without LF is returned with io.EOF. A line longer than max is not
// collected: readLine stops once more than max bytes are read and returns
// those raw bytes with errLineTooLong (at most max plus one buffer).
// The line may be r's buffer: valid until the next read, the caller copies
// what it keeps (so that a continuation line costs no allocation).
func readLine(r *bufio.Reader, max int) ([]byte, int, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > max {
		// Overlong line: collect it only up to the limit.
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(long) <= max {
			line, err = r.ReadSlice('\n')
			long = append(long, line...)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
			return nil, 0, err // a read error is reported, not lost in the cut
		}
		if len(long) > max {
			return long, len(long), errLineTooLong
		}
		line = long
	}
	n := len(line)
	if n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
		// In place: these bytes are consumed, bufio never reads them again.
		line[n-2] = '\n'
		line = line[:n-1]
	}
	return line, n, err
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

// mboxSender returns the address of an mbox "From " line ("From addr
// date"), or "" when it has none that dovecot-lda would take: the address
// must follow after exactly one space, have a domain, and be a dot-atom or
// quoted local part (Dovecot 2.3 refuses "<a@b>", "-" and "MAILER-DAEMON"
// there, and a line without a date); the null sender then applies.
func mboxSender(line []byte) string {
	s := strings.TrimRight(string(line[len("From "):]), "\r\n")
	end := 0
	if strings.HasPrefix(s, `"`) {
		// Quoted local part: up to the closing quote, backslash escapes.
		for end = 1; end < len(s) && s[end] != '"'; end++ {
			if s[end] == '\\' {
				end++
			}
		}
		if end >= len(s) {
			return ""
		}
		end++
	}
	if i := strings.IndexByte(s[end:], ' '); i >= 0 {
		end += i
	} else {
		return "" // no date
	}
	a, date := s[:end], strings.TrimSpace(s[end:])
	at := strings.LastIndexByte(a, '@')
	if date == "" || at <= 0 || at == len(a)-1 {
		return ""
	}
	local, domain := a[:at], a[at+1:]
	if !strings.HasPrefix(local, `"`) && strings.ContainsAny(local, "<>()[]\\,;:\"") {
		return ""
	}
	if strings.ContainsAny(domain, "<>()\\,;:\"@") {
		return ""
	}
	return a
}
