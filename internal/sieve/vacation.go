package sieve

import (
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // RFC 2047 in legacy charsets

	"github.com/migadu/go-sieve/interp"
)

var wordDecoder = mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
	return message.CharsetReader(strings.ToLower(cs), r)
}}

// decodeHeader unfolds a field value and decodes RFC 2047 words.
func decodeHeader(v string) string {
	v = strings.NewReplacer("\r", "", "\n", "").Replace(v)
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// vacation turns the script's vacation request into a Vacation action,
// with the rules of RFC 3834 section 2 and RFC 5230 section 4 that need
// only this message applied (Suppressed says which one stopped it). The
// once-per-period rule needs the reply record and is VacationRecord's.
func (e *Engine) vacation(in *Input, r *interp.VacationResponse) Vacation {
	v := Vacation{
		To: in.Envelope.From, From: r.From, Subject: r.Subject, Body: r.Body,
		Mime: r.IsMime, Handle: r.Handle, Addresses: r.Addresses,
		Seconds: e.clampPeriod(r.Seconds),
	}
	if v.Subject == "" {
		v.Subject = "Automated reply"
		if s := in.Message.Header("Subject"); s != "" {
			v.Subject = "Auto: " + s
		}
	}
	if v.Handle == "" {
		// RFC 5230 section 4.2: the default handle is made from the
		// arguments, so a changed text is answered again.
		v.Handle = r.Body + "\x00" + r.Subject + "\x00" + r.From + fmt.Sprintf("\x00%v", r.IsMime)
	}
	v.Suppressed = suppressReason(in, v)
	return v
}

// clampPeriod applies vacation_min_period / vacation_max_period.
func (e *Engine) clampPeriod(seconds int) int {
	min, max := int(e.opts.VacationMinPeriod/time.Second), int(e.opts.VacationMaxPeriod/time.Second)
	if seconds < min {
		return min
	}
	if max > 0 && seconds > max {
		return max
	}
	return seconds
}

// listHeaders mark mailing-list mail (RFC 2369, RFC 2919), never answered.
var listHeaders = []string{"List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Post", "List-Owner", "List-Archive"}

// suppressReason returns why no reply may be sent, or "".
func suppressReason(in *Input, v Vacation) string {
	m := in.Message
	switch {
	case in.Envelope.From == "":
		return "null sender"
	case isSystemSender(in.Envelope.From):
		return "sender is a system address"
	case m.Header("Auto-Submitted") != "" && !strings.EqualFold(strings.TrimSpace(m.Header("Auto-Submitted")), "no"):
		return "Auto-Submitted message"
	}
	switch strings.ToLower(strings.TrimSpace(m.Header("Precedence"))) {
	case "bulk", "list", "junk":
		return "Precedence: " + strings.TrimSpace(m.Header("Precedence"))
	}
	for _, h := range listHeaders {
		if vals, _ := m.HeaderGet(h); len(vals) > 0 {
			return "mailing list message (" + h + ")"
		}
	}
	mine := ownAddresses(in, v)
	for _, a := range mine {
		if strings.EqualFold(a, in.Envelope.From) {
			return "sender is the recipient"
		}
	}
	if !addressedTo(m, mine) {
		return "recipient not in To/Cc"
	}
	return ""
}

// isSystemSender: RFC 3834 section 2 / Pigeonhole's list of senders that
// are programs (bounces, list managers).
func isSystemSender(addr string) bool {
	local, _, _ := strings.Cut(strings.ToLower(addr), "@")
	switch {
	case local == "mailer-daemon", local == "listserv", local == "majordomo",
		strings.HasPrefix(local, "owner-"), strings.HasSuffix(local, "-request"):
		return true
	}
	return false
}

// ownAddresses are the recipient's addresses: the final envelope
// recipient and :addresses (RFC 5230 section 4.5). Not the original
// recipient: Pigeonhole leaves it out too (sieve_vacation_use_original_
// recipient = no), so mail to an alias is answered only when the alias
// is listed in :addresses.
func ownAddresses(in *Input, v Vacation) []string {
	out := []string{in.Envelope.To}
	for _, a := range v.Addresses {
		// Nextcloud Mail writes "Name <addr>"; compare the address.
		if p, err := mail.ParseAddress(a); err == nil {
			a = p.Address
		}
		out = append(out, a)
	}
	return out
}

// addressedTo reports whether one of mine is in the recipient fields
// (RFC 5230 section 4.5: no reply to mail not addressed to the user).
func addressedTo(m *Message, mine []string) bool {
	for _, h := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		vals, _ := m.HeaderGet(h)
		for _, val := range vals {
			list, err := mail.ParseAddressList(decodeHeader(val))
			if err != nil {
				continue
			}
			for _, a := range list {
				for _, my := range mine {
					if strings.EqualFold(a.Address, my) {
						return true
					}
				}
			}
		}
	}
	return false
}
