package lmtp

import (
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/status"
)

// maxReason bounds the public text of a reply; the detail is in the log.
const maxReason = 200

// Protocol outcomes that never come from the delivery core. Their codes
// are decided in package status like every other failure; reply renders
// them with status.Error.Reply.
var (
	errNestedMail = status.NestedMail()
	errNoMail     = status.NoMail()
	errShutdown   = status.ShuttingDown()
	errTooMany    = status.TooManyConnections()
	errDataTime   = status.DataTimeout()
	errAborted    = status.TransferAborted()
	errLongLine   = status.LineTooLong()
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
// Invariant (kept by status.Error.Reply): a temporary failure (enhanced
// class 4) is never answered with a 5xx code, and an inconsistent or
// unparsable code becomes 451 4.3.0.
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
	code, enh, reason := st.Reply()
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode(enh), Message: withID(reason, id)}
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

// rawReply formats a reply for a connection go-smtp never sees (the
// connection limit).
func rawReply(err error) string {
	r := reply(err, "")
	e := r.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s\r\n", r.Code, e[0], e[1], e[2], r.Message)
}

// relayed is the success reply for a recipient a backend took (proxy
// mode): 250 2.0.0 with the backend's text, bounded, and our id.
func relayed(id, backend, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: status.CodeOK, EnhancedCode: smtp.EnhancedCode{2, 0, 0},
		Message: withID("relayed to "+backend+": "+text, id)}
}
