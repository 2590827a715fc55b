// Package status owns the one decision every delivery ends in: success,
// temporary failure or permanent failure, with the SMTP reply code, the
// RFC 3463 enhanced status code and a short public reason.
//
// Every failure->code decision is made here: the constructors below (the
// delivery core's outcomes, the LMTP protocol's, the internal error of the
// panic handlers) and From, which classifies everything else (the lower
// packages' sentinel errors, errno values, timeouts). Anything From does
// not recognise is temporary: a bounce is only ever produced by a
// constructor in this file. The class of an outcome is derived from its
// codes (Class), and Reply, ReplyLine, DSN and ExitCode render it: lmtpd an
// LMTP reply, deliver one DSN line and a sysexits(3) exit code.
//
// Success is never an *Error: it is the absence of one, decided by the
// caller after the message is durable. An *Error is always a failure, and
// anything in it that is missing or inconsistent makes it temporary: the
// zero Error, an Exit of 0, a code that is not 5xx with a 5.x.x enhanced
// code. So ExitCode is 75 and DSN starts with 4.x.x for all of those; only
// the constructors' permanent outcomes bounce.
//
// Outcomes (see shared/SPEC.md):
//
//	outcome                     SMTP  enhanced  deliver exit
//	unknown user                550   5.1.1     67 EX_NOUSER
//	bad recipient syntax        501   5.1.3     65 EX_DATAERR
//	bad sender syntax           501   5.1.7     65 EX_DATAERR
//	mail loop                   554   5.4.6     65 EX_DATAERR
//	over quota, bounce          552   5.2.2     73 EX_CANTCREAT
//	over quota, defer           452   4.2.2     75 EX_TEMPFAIL
//	message too big (deliver)   552   5.2.3     73 EX_CANTCREAT
//	message too big (lmtpd)     552   5.3.4     (lmtpd only)
//	too many recipients         452   4.5.3     (lmtpd only)
//	Sieve reject / ereject      550   5.7.1     77 EX_NOPERM
//	usage / config error        451   4.3.5     75 EX_TEMPFAIL
//	anything else               451   4.3.0     75 EX_TEMPFAIL
package status

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"maildeliver/internal/maildir"
	"maildeliver/internal/privilege"
	"maildeliver/internal/quota"
)

// SMTP reply codes used by the delivery core (RFC 5321 section 4.2.3).
const (
	CodeOK           = 250
	CodeTempLocal    = 451 // local error in processing
	CodeTempStorage  = 452 // insufficient system storage / too many recipients
	CodeUnavailable  = 550 // mailbox unavailable (unknown user)
	CodeSyntax       = 501 // syntax error in parameters
	CodeStorageLimit = 552 // exceeded storage allocation (quota, size)
	CodeFailed       = 554 // transaction failed (loop)
	CodeTempService  = 421 // service not available, closing channel
	CodeBadSequence  = 503 // bad sequence of commands
)

// sysexits(3) codes deliver exits with. Postfix's pipe(8) bounces every
// code except EX_TEMPFAIL and EX_OSERR (see its EXIT STATUS section).
const (
	ExitOK        = 0
	ExitDataErr   = 65 // EX_DATAERR
	ExitNoUser    = 67 // EX_NOUSER
	ExitSoftware  = 70 // EX_SOFTWARE (never used: it would bounce)
	ExitCantCreat = 73 // EX_CANTCREAT
	ExitTempFail  = 75 // EX_TEMPFAIL
	ExitNoPerm    = 77 // EX_NOPERM (Sieve reject, as dovecot-lda -e)
)

// bounceExits are the exit codes a permanent failure may have; any other
// Exit value, 0 above all, is read as EX_TEMPFAIL.
var bounceExits = map[int]bool{ExitDataErr: true, ExitNoUser: true, ExitCantCreat: true, ExitNoPerm: true}

// Enhanced is an RFC 3463 enhanced status code, "class.subject.detail".
// Its class is read by Class, never by comparing string prefixes.
type Enhanced string

// parse splits e into its three numbers; ok is false unless e is of class
// 2, 4 or 5 with a 1-3 digit subject and detail.
func (e Enhanced) parse() (c [3]int, ok bool) {
	parts := strings.Split(string(e), ".")
	if len(parts) != 3 || len(parts[0]) != 1 {
		return c, false
	}
	for i, p := range parts {
		if len(p) == 0 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return c, false
		}
		c[i], _ = strconv.Atoi(p)
	}
	return c, c[0] == 2 || c[0] == 4 || c[0] == 5
}

// Class is the class the code says; an unparsable code is Temporary.
func (e Enhanced) Class() Class {
	c, ok := e.parse()
	switch {
	case !ok || c[0] == 4:
		return Temporary
	case c[0] == 5:
		return Permanent
	}
	return Success
}

// Class is what a reply means to the client. The zero value is Temporary,
// so anything not decided otherwise is retried, never bounced.
type Class int

const (
	Temporary Class = iota
	Permanent
	Success
)

func (c Class) String() string {
	switch c {
	case Permanent:
		return "permanent"
	case Success:
		return "success"
	}
	return "temporary"
}

// Error is a classified delivery failure. Code and Enhanced go to the client,
// Reason is a short public text (no paths, no SQL, no connection strings),
// Err is the detail for the log only.
type Error struct {
	Code     int      // SMTP reply code, e.g. 550
	Enhanced Enhanced // RFC 3463 code, e.g. "5.1.1"
	Reason   string   // short public reason, e.g. "<bob@example.org>: user unknown"
	Exit     int      // sysexits code for deliver; read through ExitCode
	Err      error    // underlying cause, logged, never shown to the client
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s %s: %v", e.Enhanced, e.Reason, e.Err)
	}
	return string(e.Enhanced) + " " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

// Class is derived from the codes: Permanent only for a 5xx SMTP code with
// a 5.x.x enhanced code; a failure is never Success, so everything else (the
// zero and the nil Error included) is Temporary.
func (e *Error) Class() Class {
	if e != nil && e.Code >= 500 && e.Code <= 599 && e.Enhanced.Class() == Permanent {
		return Permanent
	}
	return Temporary
}

// Temporary reports whether the failure is temporary: everything but a
// well-formed permanent one (5xx code with a 5.x.x enhanced code).
func (e *Error) Temporary() bool { return e.Class() == Temporary }

// ExitCode is deliver's exit code for e: its Exit when e is a permanent
// failure with a bounce exit code, EX_TEMPFAIL otherwise (a nil or zero
// Error included). It is never 0: only an explicit success exits 0.
func (e *Error) ExitCode() int {
	if e.Class() == Permanent && bounceExits[e.Exit] {
		return e.Exit
	}
	return ExitTempFail
}

// Reply is the LMTP reply for e: the SMTP code, the enhanced code and the
// public reason, made to agree. A temporary enhanced code is never sent with
// a 5xx code, a 4xx code never with a 5.x.x one, and an unparsable, class 2
// or out-of-range pair becomes 451 4.3.0. A nil e is an internal error.
func (e *Error) Reply() (code int, enh [3]int, reason string) {
	if e == nil {
		e = Internal(nil)
	}
	code, reason = e.Code, e.Reason
	enh, ok := e.Enhanced.parse()
	switch {
	case !ok || enh[0] == 2 || code < 400 || code > 599:
		code, enh = CodeTempLocal, [3]int{4, 3, 0}
	case enh[0] == 4 && code >= 500:
		code = CodeTempLocal // temporary wins: never a bounce
	case enh[0] == 5 && code < 500:
		enh[0] = 4 // a 4xx code stays 4xx; make the classes agree
	}
	return code, enh, reason
}

// ReplyLine is Reply as one protocol line "451 4.3.0 reason", without CRLF
// (the quota policy service's action, a reply go-smtp never sends).
func (e *Error) ReplyLine() string {
	code, enh, reason := e.Reply()
	return fmt.Sprintf("%d %d.%d.%d %s", code, enh[0], enh[1], enh[2], reason)
}

// DSN is the one line deliver prints on failure: the enhanced code, then the
// public reason. Postfix's pipe(8) takes the code from it, so it always
// agrees with ExitCode: a failure that exits 75 says 4.x.x (4.3.0 when it
// has no usable code of its own).
func (e *Error) DSN() string {
	if e == nil {
		e = Internal(nil)
	}
	reason := e.Reason
	if reason == "" {
		reason = "temporary failure"
	}
	enh, ok := e.Enhanced.parse()
	if e.ExitCode() == ExitTempFail {
		switch {
		case !ok || enh[0] == 2:
			enh = [3]int{4, 3, 0}
		case enh[0] == 5:
			enh[0] = 4
		}
	}
	return fmt.Sprintf("%d.%d.%d %s", enh[0], enh[1], enh[2], reason)
}

// Wrap returns a copy of e with err attached as log detail.
func (e *Error) Wrap(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

func newErr(code int, enh Enhanced, exit int, reason string) *Error {
	return &Error{Code: code, Enhanced: enh, Reason: reason, Exit: exit}
}

// UserUnknown: the userdb has no such user (and no alias leads to one).
func UserUnknown(rcpt string) *Error {
	return newErr(CodeUnavailable, "5.1.1", ExitNoUser, "<"+rcpt+">: user unknown")
}

// BadRecipient: the recipient address is not acceptable (CR, LF, NUL, length).
func BadRecipient(why string) *Error {
	return newErr(CodeSyntax, "5.1.3", ExitDataErr, "bad recipient address syntax: "+why)
}

// BadSender: the envelope sender is not acceptable.
func BadSender(why string) *Error {
	return newErr(CodeSyntax, "5.1.7", ExitDataErr, "bad sender address syntax: "+why)
}

// Loop: the message already carries Delivered-To for this recipient.
func Loop(rcpt string) *Error {
	return newErr(CodeFailed, "5.4.6", ExitDataErr, "<"+rcpt+">: mail forwarding loop detected")
}

// QuotaPolicy is the [quota] full setting.
type QuotaPolicy string

const (
	QuotaBounce QuotaPolicy = "bounce"
	QuotaDefer  QuotaPolicy = "defer"
)

// OverQuota: the delivery would take the mailbox over its limit.
func OverQuota(rcpt string, policy QuotaPolicy) *Error {
	if policy == QuotaDefer {
		return newErr(CodeTempStorage, "4.2.2", ExitTempFail, "<"+rcpt+">: mailbox is full")
	}
	return newErr(CodeStorageLimit, "5.2.2", ExitCantCreat, "<"+rcpt+">: mailbox is full")
}

// TooBig is the pipe-mode size limit (deliver): 5.2.3 per RFC 3463
// "message length exceeds administrative limit".
func TooBig() *Error {
	return newErr(CodeStorageLimit, "5.2.3", ExitCantCreat, "message exceeds the size limit")
}

// TooBigLMTP is lmtpd's size refusal (RFC 1870 uses 552 5.3.4).
func TooBigLMTP() *Error {
	return newErr(CodeStorageLimit, "5.3.4", ExitCantCreat, "message exceeds the size limit")
}

// TooManyRecipients is lmtpd's per-transaction recipient limit.
func TooManyRecipients() *Error {
	return newErr(CodeTempStorage, "4.5.3", ExitTempFail, "too many recipients")
}

// Usage: a bad command line or configuration. Temporary on purpose: a typo
// in master.cf or the config file must queue mail, not bounce it.
func Usage(reason string) *Error {
	return newErr(CodeTempLocal, "4.3.5", ExitTempFail, reason)
}

// Rejected: the recipient's Sieve script refused the message (reject,
// ereject), as dovecot-lda -e does: 5.7.1 with the script's reason, made
// one line; deliver exits 77.
func Rejected(reason string) *Error {
	reason = strings.TrimSpace(OneLine(reason))
	if reason == "" {
		reason = "message rejected"
	}
	return newErr(CodeUnavailable, "5.7.1", ExitNoPerm, reason)
}

// Temp is a temporary local failure with a public reason.
func Temp(reason string) *Error {
	return newErr(CodeTempLocal, "4.3.0", ExitTempFail, reason)
}

// TempCode is a temporary failure with a specific enhanced code.
func TempCode(code int, enh Enhanced, reason string) *Error {
	return newErr(code, enh, ExitTempFail, reason)
}

// Internal is an internal error (a panic, a broken invariant): temporary,
// with detail for the log only.
func Internal(detail error) *Error {
	return Temp("internal error, message queued for retry").Wrap(detail)
}

// MailboxLocked: the quota lock was not taken within [quota] lock_timeout.
func MailboxLocked() *Error {
	return TempCode(CodeTempLocal, "4.2.0", "mailbox is locked, try again later")
}

// QuotaUnreadable: maildirsize could neither be read nor recounted.
func QuotaUnreadable() *Error { return Temp("cannot read the mailbox quota") }

// LMTP protocol outcomes that never come from the delivery core.
func NestedMail() *Error {
	return &Error{Code: CodeBadSequence, Enhanced: "5.5.1", Reason: "nested MAIL command"}
}
func NoMail() *Error { return &Error{Code: CodeBadSequence, Enhanced: "5.5.1", Reason: "MAIL first"} }
func ShuttingDown() *Error {
	return TempCode(CodeTempService, "4.3.2", "service shutting down, try again later")
}
func TooManyConnections() *Error {
	return TempCode(CodeTempService, "4.3.2", "too many connections, try again later")
}
func DataTimeout() *Error {
	return TempCode(CodeTempLocal, "4.4.2", "timeout waiting for message data")
}
func TransferAborted() *Error {
	return TempCode(CodeTempLocal, "4.4.2", "message transfer aborted")
}
func LineTooLong() *Error {
	return TempCode(CodeTempLocal, "4.6.0", "message has a line too long to receive")
}

// domainErrors are the sentinel errors of the lower packages that have a
// public reason of their own; all are temporary (a mailbox the
// administrator has to fix must queue mail, not bounce it).
var domainErrors = []struct {
	err    error
	reason string
}{
	{privilege.ErrUIDMismatch, "mailbox belongs to another uid than this process"},
	{privilege.ErrSwitch, "cannot switch to the mailbox owner"},
	{maildir.ErrNotOwner, "mailbox directory owned by another uid"},
	{maildir.ErrSymlink, "symbolic link in the mailbox refused"},
	{maildir.ErrBadPath, "bad mailbox location"},
}

// From classifies any error: the one place a failure gets its code. An
// *Error anywhere in the chain is returned as is; the lower packages'
// errors, known errno values and timeouts get a specific temporary code;
// the rest is a temporary local error. nil stays nil.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	for _, d := range domainErrors {
		if errors.Is(err, d.err) {
			return Temp(d.reason).Wrap(err)
		}
	}
	if errors.Is(err, quota.ErrLocked) {
		return MailboxLocked().Wrap(err)
	}
	return fromSystem(err)
}

// fromSystem classifies timeouts and errno values.
func fromSystem(err error) *Error {
	var errno syscall.Errno
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return TempCode(CodeTempLocal, "4.4.7", "timed out").Wrap(err)
	case errors.Is(err, context.Canceled):
		return TempCode(CodeTempLocal, "4.3.0", "delivery cancelled").Wrap(err)
	case errors.As(err, &errno):
		switch errno {
		case syscall.ENOSPC:
			return TempCode(CodeTempStorage, "4.3.1", "mail system full").Wrap(err)
		case syscall.EDQUOT:
			// The file system's own quota: always deferred, the
			// administrator's quota policy applies to maildirsize only.
			return TempCode(CodeTempStorage, "4.2.2", "mailbox is full (file system quota)").Wrap(err)
		case syscall.EIO:
			return TempCode(CodeTempLocal, "4.3.0", "I/O error").Wrap(err)
		case syscall.EACCES, syscall.EPERM:
			return TempCode(CodeTempLocal, "4.3.0", "permission denied writing the mailbox").Wrap(err)
		case syscall.ELOOP:
			return TempCode(CodeTempLocal, "4.3.0", "symbolic link in the mailbox refused").Wrap(err)
		}
	}
	return Temp("temporary local failure").Wrap(err)
}
