package quota

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"maildeliver/internal/maildir"
)

// Limit is a user's quota. 0 in a dimension means no limit on it.
type Limit struct {
	Bytes    int64 // total size of all counted messages
	Messages int64 // number of counted messages
	// Grace is the user's own grace (Dovecot 2.4's quota_storage_grace
	// from the userdb); nil: [quota] grace applies.
	Grace *Grace
	// Layout is how the maildir's folders are laid out, so that a recount
	// finds them all: Maildir++ ".Name" folders, or LAYOUT=fs directories.
	// Like Grace, it is not part of the maildirsize definition.
	Layout maildir.Layout
	// Inbox is the INBOX's directory when the location moves it (INBOX=,
	// mail_inbox_path); "" = the root. A recount counts the INBOX there
	// and, as Dovecot, not the root's own cur/new then.
	Inbox string
}

// Unlimited reports whether neither dimension is limited.
func (l Limit) Unlimited() bool { return l.Bytes <= 0 && l.Messages <= 0 }

// String is the Maildir++ quota definition, the first line of maildirsize,
// written the way Dovecot writes it: "<bytes>S" unless only a message limit
// is set, then ",<count>C" if a message limit is set. No limit at all is
// "0S" (Dovecot writes that rather than an empty line).
func (l Limit) String() string {
	var b strings.Builder
	if l.Bytes > 0 || l.Messages <= 0 {
		b.WriteString(strconv.FormatInt(max(l.Bytes, 0), 10))
		b.WriteByte('S')
	}
	if l.Messages > 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(l.Messages, 10))
		b.WriteByte('C')
	}
	return b.String()
}

// parseDefinition reads a Maildir++ quota definition: a comma separated
// list of <integer><S|C>. "" and 0 values mean unlimited; a later item of
// the same kind wins.
func parseDefinition(s string) (Limit, error) {
	var l Limit
	if s == "" {
		return l, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		if len(item) < 2 {
			return Limit{}, fmt.Errorf("quota definition %q: bad item %q", s, item)
		}
		n, err := parseDigits(item[:len(item)-1])
		if err != nil {
			return Limit{}, fmt.Errorf("quota definition %q: %w", s, err)
		}
		switch item[len(item)-1] {
		case 'S':
			l.Bytes = n
		case 'C':
			l.Messages = n
		default:
			return Limit{}, fmt.Errorf("quota definition %q: unknown kind in %q", s, item)
		}
	}
	return l, nil
}

// parseDigits reads a non-negative decimal integer made of ASCII digits only.
func parseDigits(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("missing number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("bad number %q", s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("number %q out of range", s)
	}
	return n, nil
}

// ParseRule reads Dovecot 2.3 quota_rule values ("<mailbox>:<limits>") and
// returns the limit they set for the whole mailbox. Several rules may be
// given separated by white space or commas; later rules for "*" change only
// the limits they name, as in Dovecot.
//
// Limits follow Dovecot's quota-util.c:
//
//	storage=N   kilobytes when N has no unit: "*:storage=1000" = 1024000 bytes
//	bytes=N     bytes when N has no unit
//	messages=N  a message count
//
// A unit overrides the default multiplier of every key: B (bytes), k, M, G, T
// (powers of 1024, any case, optionally followed by "B" or "iB"), so
// "*:storage=1G" and "*:bytes=1G" are both 1073741824 bytes and
// "*:messages=1k" is 1024 messages. Limits of one rule may be joined with
// ':' ("*:storage=1G:messages=1000"). "*:ignore" means unlimited;
// "*:backend=<definition>" takes a Maildir++ definition ("1000000S,1000C")
// and "*:backend=NOQUOTA" means unlimited. "?" is read like "*" (Dovecot's
// non-forcing default: its limit yields to an existing maildirsize header;
// maildeliver always knows the limit, so it forces it).
//
// Rules for other mailboxes ("Trash:storage=+100M", "Spam:ignore") are
// accepted and do not change the limit: they only apply to saving into that
// mailbox, which delivery does not do, or exclude a mailbox from counting,
// which is fixed here (see the package doc on Trash). Percentages and '+'/'-'
// relative values are refused for "*", as Dovecot refuses them for its
// default rule; a negative limit is an error. Empty input is unlimited.
func ParseRule(rule string) (Limit, error) {
	var l Limit
	ignore := false
	for _, r := range splitRules(rule) {
		mask, limits, ok := strings.Cut(r, ":")
		if !ok || mask == "" {
			return Limit{}, fmt.Errorf("quota rule %q: want <mailbox>:<limits>", r)
		}
		if mask != "*" && mask != "?" {
			if limits == "" {
				return Limit{}, fmt.Errorf("quota rule %q: no limits", r)
			}
			continue
		}
		switch {
		case limits == "ignore":
			ignore = true
		case strings.HasPrefix(limits, "backend="):
			def := strings.TrimPrefix(limits, "backend=")
			if def == "NOQUOTA" {
				l = Limit{}
				continue
			}
			d, err := parseDefinition(def)
			if err != nil {
				return Limit{}, fmt.Errorf("quota rule %q: %w", r, err)
			}
			l = d
		default:
			if err := parseLimits(&l, limits); err != nil {
				return Limit{}, fmt.Errorf("quota rule %q: %w", r, err)
			}
		}
	}
	if ignore {
		return Limit{}, nil
	}
	return l, nil
}

// splitRules splits on white space and on commas that start a new rule
// (a comma inside "backend=1000S,10C" does not: the piece after it has no
// mailbox mask).
func splitRules(s string) []string {
	var out []string
	for field := range strings.FieldsSeq(s) {
		for part := range strings.SplitSeq(field, ",") {
			if len(out) > 0 && !strings.Contains(part, ":") && strings.Contains(out[len(out)-1], "backend=") {
				out[len(out)-1] += "," + part
				continue
			}
			if part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// parseLimits applies "key=value[:key=value...]" to l.
func parseLimits(l *Limit, limits string) error {
	for arg := range strings.SplitSeq(limits, ":") {
		key, value, _ := strings.Cut(arg, "=")
		var dst *int64
		mul := int64(1)
		switch key {
		case "storage":
			dst, mul = &l.Bytes, 1024
		case "bytes":
			dst = &l.Bytes
		case "messages":
			dst = &l.Messages
		default:
			return fmt.Errorf("unknown limit %q (want storage, bytes or messages)", key)
		}
		if value != "" && (value[0] == '+' || value[0] == '-') {
			return fmt.Errorf("%s=%s: relative or negative limits are only for mailbox rules", key, value)
		}
		n, err := parseRuleValue(value, mul)
		if err != nil {
			return fmt.Errorf("%s=%s: %w", key, value, err)
		}
		*dst = n
	}
	return nil
}

// parseRuleValue reads digits with an optional unit; mul applies when no
// unit is given.
func parseRuleValue(v string, mul int64) (int64, error) {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	n, err := parseDigits(v[:i])
	if err != nil {
		return 0, err
	}
	switch unit := v[i:]; strings.ToUpper(unit) {
	case "":
	case "B":
		mul = 1
	case "K", "KB", "KIB":
		mul = 1 << 10
	case "M", "MB", "MIB":
		mul = 1 << 20
	case "G", "GB", "GIB":
		mul = 1 << 30
	case "T", "TB", "TIB":
		mul = 1 << 40
	case "%":
		return 0, errors.New("percentages are only for mailbox rules")
	default:
		return 0, fmt.Errorf("unknown unit %q", unit)
	}
	if n > math.MaxInt64/mul {
		return 0, errors.New("too large")
	}
	return n * mul, nil
}

// Grace is how far the last accepted message may take usage over the byte
// limit (Dovecot's quota_grace): a percentage of the limit or a size.
type Grace struct {
	Percent int64 // 10 for "10%"
	Bytes   int64
}

// graceBytes is how far the last accepted message may take usage over
// l.Bytes: Dovecot's quota_grace, a size or a percentage of the byte limit
// (rounded down, as Dovecot does). It never applies to the message count.
func graceBytes(l Limit, g Grace) int64 {
	if l.Bytes <= 0 {
		return 0
	}
	if l.Grace != nil {
		g = *l.Grace
	}
	if g.Bytes > 0 {
		return g.Bytes
	}
	if g.Percent > 0 {
		if l.Bytes > math.MaxInt64/g.Percent {
			if l.Bytes/100 > math.MaxInt64/g.Percent {
				return math.MaxInt64
			}
			return l.Bytes / 100 * g.Percent
		}
		return l.Bytes * g.Percent / 100
	}
	return 0
}

// sameDefinition reports whether l and o have the same Maildir++
// definition (the maildirsize header): Grace is not part of it.
func (l Limit) sameDefinition(o Limit) bool { return l.Bytes == o.Bytes && l.Messages == o.Messages }
