package quota

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

const (
	// fileName is the Maildir++ quota file at the maildir root.
	fileName = "maildirsize"
	// maxFileSize: a maildirsize of at least this many bytes is recalculated
	// (Courier reads it into a 5120 byte buffer and recalculates when the
	// buffer fills; Dovecot does the same).
	maxFileSize = 5120
	// staleAge: an over-quota maildirsize older than this is recalculated.
	staleAge = 15 * time.Minute
)

// contents is a parsed maildirsize.
type contents struct {
	limit Limit // the quota definition on the first line
	usage Usage // sum of all usage lines
	lines int   // number of usage lines (after the definition)
}

// parseFile reads a whole maildirsize. A last line without its newline is
// ignored: it is an append still being written, or one cut off by a crash
// (Dovecot does the same). Anything else that is not well formed is an
// error, and the caller recalculates: NUL bytes, a bad definition, a usage
// line that is not two integers, no usage line at all, negative totals.
// Usage lines may be padded with white space (Courier pads them to a fixed
// width).
func parseFile(data []byte) (contents, error) {
	var c contents
	if bytes.IndexByte(data, 0) >= 0 {
		return c, errors.New("maildirsize: NUL byte")
	}
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		return c, errors.New("maildirsize: no complete line")
	}
	data = data[:end]
	header, rest, _ := bytes.Cut(data, []byte{'\n'})
	var err error
	if c.limit, err = parseDefinition(string(header)); err != nil {
		return c, fmt.Errorf("maildirsize: %w", err)
	}
	if len(header) == len(data) {
		return c, errors.New("maildirsize: no usage line")
	}
	for line := range bytes.SplitSeq(rest, []byte{'\n'}) {
		b, n, err := parseUsageLine(line)
		if err != nil {
			return c, fmt.Errorf("maildirsize line %d: %w", c.lines+2, err)
		}
		if !addInt(&c.usage.Bytes, b) || !addInt(&c.usage.Messages, n) {
			return c, errors.New("maildirsize: totals overflow")
		}
		c.lines++
	}
	if c.usage.Bytes < 0 || c.usage.Messages < 0 {
		return c, fmt.Errorf("maildirsize: negative totals %d %d", c.usage.Bytes, c.usage.Messages)
	}
	return c, nil
}

// parseUsageLine reads "<bytes> <count>", both possibly negative, with any
// amount of blanks around and between them.
func parseUsageLine(line []byte) (bytesDiff, countDiff int64, err error) {
	f := bytes.Fields(line)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("want \"<bytes> <count>\", got %q", line)
	}
	if bytesDiff, err = parseSigned(f[0]); err != nil {
		return 0, 0, err
	}
	if countDiff, err = parseSigned(f[1]); err != nil {
		return 0, 0, err
	}
	return bytesDiff, countDiff, nil
}

func parseSigned(b []byte) (int64, error) {
	s := string(b)
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	n, err := parseDigits(s)
	if err != nil {
		return 0, err
	}
	if neg {
		return -n, nil
	}
	return n, nil
}

// addInt adds d to *v unless that overflows.
func addInt(v *int64, d int64) bool {
	if (d > 0 && *v > math.MaxInt64-d) || (d < 0 && *v < math.MinInt64-d) {
		return false
	}
	*v += d
	return true
}

// usageLine is one appended line, "<bytes> <count>\n".
func usageLine(bytesDiff, countDiff int64) []byte {
	b := strconv.AppendInt(nil, bytesDiff, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, countDiff, 10)
	return append(b, '\n')
}

// fileContents is a freshly recalculated maildirsize.
func fileContents(l Limit, u Usage) []byte {
	b := append([]byte(l.String()), '\n')
	return append(b, usageLine(u.Bytes, u.Messages)...)
}
