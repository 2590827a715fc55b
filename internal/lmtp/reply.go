package lmtp

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/status"
)

// Reply codes lmtpd uses beyond those of package status (RFC 5321 section
// 4.2.3).
const (
	codeBadSequence = 503 // bad sequence of commands
)

// maxReason bounds the public text of a reply; the detail is in the log.
const maxReason = 200

// Protocol outcomes that never come from the delivery core. They are
// *status.Error values like every other failure, so that reply stays the
// only place an error becomes an LMTP reply.
var (
	errNestedMail = &status.Error{Code: codeBadSequence, Enhanced: "5.5.1", Reason: "nested MAIL command"}
	errNoMail     = &status.Error{Code: codeBadSequence, Enhanced: "5.5.1", Reason: "MAIL first"}
	errShutdown   = status.TempCode(status.CodeTempService, "4.3.2", "service shutting down, try again later")
	errTooMany    = status.TempCode(status.CodeTempService, "4.3.2", "too many connections, try again later")
	errDataTime   = status.TempCode(status.CodeTempLocal, "4.4.2", "timeout waiting for message data")
	errAborted    = status.TempCode(status.CodeTempLocal, "4.4.2", "message transfer aborted")
	errLongLine   = status.TempCode(status.CodeTempLocal, "4.6.0", "message has a line too long to receive")
	errInternal   = status.Temp("internal error, try again later")
)

// reply is the one place where an error becomes an LMTP reply.
//
// go-smtp answers 554 (a bounce) for any error that is not exactly an
// *smtp.SMTPError, and shows its text to the client. So every error the
// session hands to go-smtp goes through here: it is classified by
// status.From (unknown errors are temporary), gets its SMTP and enhanced
// codes, and a short public reason followed by the delivery id. The
// underlying detail is never part of the reply; callers log it.
//
// Invariant: a temporary failure (enhanced class 4) is never answered with
// a 5xx code, and an inconsistent or unparsable code becomes 451 4.3.0.
//
// go-smtp also answers some commands itself (syntax and sequence errors,
// parameters it does not take, the connection's timeouts and limits)
// without asking the session. lmtpd builds go-smtp from a patched copy,
// third_party/go-smtp (PATCHES.md there), in which none of those is a 5xx
// for something not certainly permanent and every reply that ends the
// connection is 421; README's "Replies the LMTP library sends itself"
// lists each one, and gosmtp_test.go checks them.
func reply(err error, id string) *smtp.SMTPError {
	st := status.From(err)
	if st == nil {
		st = errInternal // a nil error here is a bug; never say 250 for it
	}
	code := st.Code
	enh, ok := parseEnhanced(st.Enhanced)
	switch {
	case !ok, code < 400, code > 599:
		code, enh = status.CodeTempLocal, smtp.EnhancedCode{4, 3, 0}
	case enh[0] == 4 && code >= 500:
		code = status.CodeTempLocal // temporary wins: never a bounce
	case enh[0] == 5 && code < 500:
		enh[0] = 4 // a 4xx code stays 4xx; make the classes agree
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: withID(st.Reason, id)}
}

// reject is reply as an error value, for go-smtp's Session methods (which
// compare with a type assertion, so the value must not be wrapped).
func reject(err error, id string) error { return reply(err, id) }

// saved is the per-recipient success reply after DATA (SPEC: "250 2.0.0
// <rcpt> saved as <id>"; go-smtp puts "<rcpt> " in front).
func saved(id string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: status.CodeOK, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "saved as " + id}
}

// withID makes the public text: one line, bounded, then " [id]".
func withID(reason, id string) string {
	r := strings.Map(func(c rune) rune {
		if c < ' ' || c == 0x7f {
			return ' '
		}
		return c
	}, reason)
	if len(r) > maxReason {
		r = r[:maxReason]
	}
	if r == "" {
		r = "failed"
	}
	if id != "" {
		r += " [" + id + "]"
	}
	return r
}

// parseEnhanced reads an RFC 3463 code "c.s.d" with class 2, 4 or 5.
func parseEnhanced(s string) (smtp.EnhancedCode, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return smtp.EnhancedCode{}, false
	}
	var e smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 {
			return smtp.EnhancedCode{}, false
		}
		e[i] = n
	}
	if e[0] != 2 && e[0] != 4 && e[0] != 5 {
		return smtp.EnhancedCode{}, false
	}
	return e, true
}

// rawReply formats a reply for a connection go-smtp never sees (the
// connection limit).
func rawReply(err error) string {
	r := reply(err, "")
	e := r.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s\r\n", r.Code, e[0], e[1], e[2], r.Message)
}
