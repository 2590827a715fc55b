package quota

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Quota warnings ([quota] warning): a delivery that takes usage across a
// threshold upward is warned about once. "Once" must hold among
// concurrent deliveries too, and they hold the root lock shared, so the
// lock cannot order them. maildirsize does: each delivery's line is one
// O_APPEND write, which the kernel places at the end of the file
// atomically, and the descriptor's offset is left right after that line.
// The lines before it, read through the same descriptor (so the same
// file, whatever renames happen meanwhile), sum to the usage right
// before this delivery; with its own line, right after. Every delivery
// has its own place in that one order, so exactly one of them sees
// before < threshold <= after. (Removals, negative lines written by IMAP
// servers, can take usage back under a threshold; the next crossing is
// then a new one and is warned about again, as Dovecot does.)

// maxPrefix bounds the maildirsize read after an append. The file is
// recalculated at 5120 bytes; a bigger one (appends since the last
// recalculation, or a file written by someone else) is not read.
const maxPrefix = 64 << 10

// Change is what one Record did to the usage in maildirsize: the totals
// right before and right after its line. Known is false when they could
// not be told: nothing was appended (an unlimited limit, a zero change),
// maildirsize was missing and got recounted, or it could not be read
// back.
type Change struct {
	Before, After Usage
	Known         bool
}

// changeAt reads maildirsize up to the offset f was left at by the append
// of "<bytes> <count>\n".
func changeAt(f int, bytes, count int64) Change {
	if testHookAfterAppend != nil {
		testHookAfterAppend()
	}
	off, err := unix.Seek(f, 0, unix.SEEK_CUR)
	if err != nil || off <= 0 || off > maxPrefix {
		return Change{}
	}
	buf := make([]byte, off)
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(f, buf[n:], int64(n))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || m == 0 {
			return Change{}
		}
		n += m
	}
	line := usageLine(bytes, count)
	if len(buf) < len(line) || string(buf[len(buf)-len(line):]) != string(line) {
		return Change{} // not our line there: the file was cut or rewritten in place
	}
	c, err := parseFile(buf)
	if err != nil {
		return Change{}
	}
	before := c.usage
	if !addInt(&before.Bytes, -bytes) || !addInt(&before.Messages, -count) {
		return Change{}
	}
	return Change{Before: before, After: c.usage, Known: true}
}

// testHookAfterAppend, when set, runs between a Record's append and its
// read-back: tests hold every delivery there to make them overlap.
var testHookAfterAppend func()

// Warning is one [quota] warning threshold: Percent (1..100) of the
// storage limit, of the message limit, or of either (Resource "").
type Warning struct {
	Resource string // "storage", "messages", or "" for either
	Percent  int64  // 1..100
}

func (w Warning) String() string {
	p := strconv.FormatInt(w.Percent, 10) + "%"
	if w.Resource == "" {
		return p
	}
	return w.Resource + "=" + p
}

// ParseWarning reads one [quota] warning entry: "80%", "storage=95%",
// "messages=90%" (Dovecot's escaped "%%" too).
func ParseWarning(s string) (Warning, error) {
	var w Warning
	t := strings.TrimSpace(s)
	if r, rest, ok := strings.Cut(t, "="); ok {
		switch r = strings.TrimSpace(r); r {
		case "storage", "messages":
			w.Resource = r
		default:
			return w, fmt.Errorf("warning %q: want storage=N%%, messages=N%% or N%%", s)
		}
		t = strings.TrimSpace(rest)
	}
	num, ok := strings.CutSuffix(t, "%")
	if !ok {
		return w, fmt.Errorf("warning %q: want a percentage such as \"80%%\"", s)
	}
	num = strings.TrimSuffix(num, "%") // Dovecot's escaped "%%"
	p, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || p < 1 || p > 100 {
		return w, fmt.Errorf("warning %q: percentage must be a whole number from 1 to 100", s)
	}
	w.Percent = p
	return w, nil
}

// Crossing is a [quota] warning threshold that a delivery took usage
// across, upward.
type Crossing struct {
	Warning  Warning
	Resource string // "storage" or "messages"
	Usage    int64  // after the delivery, in bytes or messages
	Limit    int64  // the limit of that resource
}

// Crossed returns the threshold of ws that the change took usage across
// upward, nil when none: before < threshold <= after, the threshold being
// limit*percent/100 rounded down, as Dovecot's quota_warning computes it.
// When one delivery crosses several, the highest percentage wins (the
// first in ws among equals): one warning per delivery, the one that
// matters most. A resource without a limit has no thresholds.
func (c Change) Crossed(ws []Warning, l Limit) *Crossing {
	if !c.Known {
		return nil
	}
	var best *Crossing
	for _, w := range ws {
		for _, r := range []struct {
			name                 string
			limit, before, after int64
		}{
			{"storage", l.Bytes, c.Before.Bytes, c.After.Bytes},
			{"messages", l.Messages, c.Before.Messages, c.After.Messages},
		} {
			if w.Resource != "" && w.Resource != r.name || r.limit <= 0 {
				continue
			}
			t := percentOf(r.limit, w.Percent)
			if r.before < t && r.after >= t && (best == nil || w.Percent > best.Warning.Percent) {
				best = &Crossing{Warning: w, Resource: r.name, Usage: r.after, Limit: r.limit}
			}
		}
	}
	return best
}

// percentOf is floor(n*p/100) without overflow, for n >= 0, 0 <= p <= 100.
func percentOf(n, p int64) int64 {
	return n/100*p + n%100*p/100
}
