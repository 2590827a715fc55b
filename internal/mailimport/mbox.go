package mailimport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"maildeliver/internal/message"
)

// Format is how an mbox file escaped body lines that looked like a
// "From " line. The two are told apart by the administrator, not guessed:
// see the package doc.
type Format int

const (
	// MboxRD (the default): the writer prefixed every line matching
	// /^>*From / with one '>', so reading removes one '>' from every
	// line matching /^>+From /. Exact for mboxrd.
	MboxRD Format = iota
	// MboxO: the writer prefixed only lines matching /^From / (Postfix's
	// local(8), procmail, mutt, Thunderbird, Python's mailbox), so
	// reading removes the '>' of lines matching /^>From / only. A body
	// line that was ">From " before escaping cannot be told from an
	// escaped one in this format; it loses its '>'.
	MboxO
)

// ParseFormat reads "mboxrd" or "mboxo".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "mboxrd", "":
		return MboxRD, nil
	case "mboxo":
		return MboxO, nil
	}
	return 0, errors.New(`mbox format must be "mboxrd" or "mboxo", not ` + strconv.Quote(s))
}

func (f Format) String() string {
	if f == MboxO {
		return "mboxo"
	}
	return "mboxrd"
}

// mboxBuf bounds the memory of the splitter: a line longer than this is
// passed through in pieces, and such a line is never a From_ line.
const mboxBuf = 64 << 10

// MboxReader splits an mbox into messages, streaming: a message is never
// held whole in memory. Line endings become LF first (CRLF files are read
// as LF files).
//
// A message starts at a "From " line that parses as one (FromLine: a
// sender, then an asctime date with an optional zone): at the start of
// the input or at the start of any later line. A body line that merely
// starts with "From " (an unescaped "From here on...") is not a boundary
// unless it carries a valid date too, which is also what Dovecot's and
// mutt's mbox readers check. The empty line that mbox writers put before
// the next From_ line (and at the end of the file) is a separator, not
// part of the message. Anything before the first From_ line is not an
// mbox message: Next reports it with ErrNotMbox.
type MboxReader struct {
	br      *bufio.Reader
	format  Format
	line    int       // number of the next unread line, from 1
	next    *FromLine // the From_ line ending the current message, read ahead
	nextNo  int       // its line number
	cur     *mboxBody
	started bool
	err     error
}

// ErrNotMbox: the input does not start with a From_ line.
var ErrNotMbox = errors.New("mailimport: not an mbox (no \"From \" line at the start)")

// NewMboxReader returns a splitter for r.
func NewMboxReader(r io.Reader, f Format) *MboxReader {
	return &MboxReader{br: bufio.NewReaderSize(message.NewLFReader(r), mboxBuf), format: f, line: 1}
}

// MboxMessage is one message of an mbox.
type MboxMessage struct {
	From FromLine
	Line int // line number of its From_ line, from 1
	// Body is the message: the lines after the From_ line, unescaped, up
	// to the separator. It is valid until the next call to Next.
	Body io.Reader
}

// Next returns the next message, or io.EOF after the last one. The
// previous message's Body need not have been read to its end.
func (m *MboxReader) Next() (*MboxMessage, error) {
	if m.cur != nil {
		if _, err := io.Copy(io.Discard, m.cur); err != nil {
			return nil, err
		}
		m.cur = nil
	} else if !m.started {
		// The very first call: the input must open with a From_ line.
		m.started = true
		l, err := m.readLine()
		if len(l) == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		f, ok := ParseFromLine(l)
		if !ok {
			return nil, ErrNotMbox
		}
		m.next, m.nextNo = &f, 1
	}
	if m.next == nil {
		if m.err != nil && !errors.Is(m.err, io.EOF) {
			return nil, m.err
		}
		return nil, io.EOF
	}
	msg := &MboxMessage{From: *m.next, Line: m.nextNo}
	m.next = nil
	m.cur = &mboxBody{m: m, atStart: true}
	msg.Body = m.cur
	return msg, nil
}

// readLine returns the next line with its LF, or a piece of at most
// mboxBuf bytes of a longer one. The slice is valid until the next read.
func (m *MboxReader) readLine() ([]byte, error) {
	if m.err != nil {
		return nil, m.err
	}
	l, err := m.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		err = nil
	}
	if len(l) > 0 && l[len(l)-1] == '\n' {
		m.line++
	}
	if err != nil {
		m.err = err
	}
	return l, err
}

// mboxBody streams one message's lines, unescaped.
type mboxBody struct {
	m       *MboxReader
	pend    []byte // bytes read but not yet returned
	blank   bool   // an empty line is held back: separator or content
	atStart bool   // the next byte read starts a line
	done    bool
}

func (b *mboxBody) Read(p []byte) (int, error) {
	for len(b.pend) == 0 {
		if b.done {
			return 0, io.EOF
		}
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.pend)
	b.pend = b.pend[n:]
	return n, nil
}

// fill reads the next line (or piece) into pend, ending the message at a
// From_ line or the end of the input. An empty line is held back (blank)
// and emitted only when a line other than a From_ line follows it.
func (b *mboxBody) fill() error {
	m := b.m
	at := m.line
	l, err := m.readLine()
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if len(l) == 0 { // end of input: a held empty line was the separator
		b.done = true
		return nil
	}
	lineStart := b.atStart
	b.atStart = l[len(l)-1] == '\n'
	if !lineStart {
		b.pend = l
		return nil
	}
	if f, ok := ParseFromLine(l); ok {
		m.next, m.nextNo = &f, at
		b.done = true
		return nil
	}
	var out []byte
	if b.blank {
		out, b.blank = []byte{'\n'}, false
	}
	if len(l) == 1 { // "\n": hold it
		b.pend, b.blank = out, true
		return nil
	}
	if out == nil {
		b.pend = m.unescape(l)
	} else {
		b.pend = append(out, m.unescape(l)...)
	}
	return nil
}

// unescape removes the '>' the format's writer added to line, which starts
// a line.
func (m *MboxReader) unescape(l []byte) []byte {
	i := 0
	for i < len(l) && l[i] == '>' {
		i++
	}
	if i == 0 || !bytes.HasPrefix(l[i:], []byte("From ")) || m.format == MboxO && i != 1 {
		return l
	}
	return l[1:]
}

// FromLine is a parsed mbox From_ line.
type FromLine struct {
	// Sender is the envelope sender as written ("MAILER-DAEMON" and "-"
	// included: Sender interprets them).
	Sender string
	Date   time.Time // the date; in the local zone when the line names none
}

// EnvelopeSender returns the envelope sender the From_ line records and whether
// it records one: "MAILER-DAEMON" (what Postfix's local(8) and Dovecot
// write for the null sender) is the null sender "", while "-"
// (Thunderbird's exports) and anything that is not an address records
// none.
func (f FromLine) EnvelopeSender() (string, bool) {
	s := f.Sender
	switch {
	case strings.EqualFold(s, "MAILER-DAEMON"):
		return "", true
	case s == "<>":
		return "", true
	case len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>':
		s = s[1 : len(s)-1]
	}
	if s == "" || s == "-" || !strings.Contains(s, "@") || len(s) > 256 ||
		strings.ContainsAny(s, "<>\"\\\x00\r\n\t ") {
		return "", false
	}
	return s, true
}

var months = map[string]time.Month{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}

// ParseFromLine parses "From SENDER DATE" (with its LF): DATE is
// "[Www ]Mmm [d]d hh:mm[:ss] [ZONE ]yyyy[ ZONE]" with ZONE a numeric
// offset or a name (asctime, as ctime(3) and every mbox writer print it).
func ParseFromLine(l []byte) (FromLine, bool) {
	s, ok := strings.CutPrefix(string(l), "From ")
	if !ok || len(l) > 1024 || !strings.HasSuffix(s, "\n") {
		return FromLine{}, false
	}
	s = strings.TrimSuffix(s, "\n")
	sender := ""
	switch {
	case s == "" || s[0] == ' ' || s[0] == '\t': // "From  date": empty sender
	case s[0] == '"': // a quoted local part may hold spaces: "a b"@example.org
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return FromLine{}, false
		}
		end += 2
		if sp := strings.IndexAny(s[end:], " \t"); sp >= 0 {
			end += sp
		} else {
			end = len(s)
		}
		sender, s = s[:end], s[end:]
	default:
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			return FromLine{}, false
		}
		sender, s = s[:end], s[end:]
	}
	f := strings.Fields(s)
	if len(f) < 4 {
		return FromLine{}, false
	}
	if _, ok := months[strings.ToLower(f[0])]; !ok {
		f = f[1:] // weekday
	}
	if len(f) < 4 {
		return FromLine{}, false
	}
	mon, ok := months[strings.ToLower(f[0])]
	day, err := strconv.Atoi(f[1])
	if !ok || err != nil || day < 1 || day > 31 {
		return FromLine{}, false
	}
	hms := strings.Split(f[2], ":")
	if len(hms) < 2 || len(hms) > 3 {
		return FromLine{}, false
	}
	var clock [3]int
	for i, v := range hms {
		if len(v) != 2 {
			return FromLine{}, false
		}
		if clock[i], err = strconv.Atoi(v); err != nil || clock[i] > 60 {
			return FromLine{}, false
		}
	}
	year, loc := -1, time.Local
	for _, v := range f[3:] {
		switch n, err := strconv.Atoi(v); {
		case len(v) == 4 && err == nil && year < 0:
			year = n
		case (v[0] == '+' || v[0] == '-') && len(v) == 5 && err == nil:
			loc = time.FixedZone("", (n/100*60+n%100)*60)
		case len(v) <= 5 && strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "":
			// a zone name ("MET", "CEST"): ambiguous, the local zone is used
		default:
			return FromLine{}, false
		}
	}
	if year < 0 {
		return FromLine{}, false
	}
	date := time.Date(year, mon, day, clock[0], clock[1], clock[2], 0, loc)
	return FromLine{Sender: sender, Date: date}, true
}
