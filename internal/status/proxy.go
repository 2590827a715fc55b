package status

import (
	"fmt"
	"strings"
)

// Outcomes of lmtpd's proxy mode (package lmtpproxy) and of its per-user
// concurrency limit. RFC 3463's network and routing subjects (X.4.x) name
// what went wrong on the way to a backend; all of them are temporary: a
// backend that is down or a routing mistake in the userdb must queue mail
// in Postfix, never bounce it.
//
//	outcome                                  SMTP  enhanced
//	backend refused / did not answer connect 451   4.4.1  (no answer from host)
//	backend connection broke or timed out    451   4.4.2  (bad connection)
//	backend host name does not resolve       451   4.4.3  (directory server failure)
//	proxy loop (TTL exhausted, or to itself) 451   4.4.6  (routing loop detected)
//	bad host/port/proxy column in the row    451   4.3.5  (system incorrectly configured)
//	too many deliveries for one user         451   4.3.0  (Dovecot's reply)
//	backend's own reply                      its code, made consistent by Backend

// BackendNoAnswer: connecting to the backend failed (refused, no route,
// connect timeout).
func BackendNoAnswer(backend string) *Error {
	return TempCode(CodeTempLocal, "4.4.1", "backend "+backend+" not answering")
}

// BackendConnection: the backend's connection broke or timed out during
// the transaction, or it answered something that is not LMTP.
func BackendConnection(backend string) *Error {
	return TempCode(CodeTempLocal, "4.4.2", "connection to backend "+backend+" failed")
}

// BackendLookup: the backend's host name does not resolve.
func BackendLookup(backend string) *Error {
	return TempCode(CodeTempLocal, "4.4.3", "cannot resolve backend "+backend)
}

// ProxyLoop: forwarding this recipient would loop: the hop count (XCLIENT
// TTL, as Dovecot's LMTP proxy sends it) is exhausted, or the row sends
// it to this very lmtpd with proxy (not proxy_maybe). Dovecot answers 554
// 5.4.6; lmtpd defers instead, as SPEC asks: a loop is a mistake in the
// userdb, which the administrator fixes while Postfix keeps the mail.
func ProxyLoop(rcpt, why string) *Error {
	return TempCode(CodeTempLocal, "4.4.6", "<"+rcpt+"> proxying loops ("+why+")")
}

// ProxyConfig: the user's row names a backend that cannot be used (a bad
// host or port, proxy without host): a configuration error for this
// recipient only.
func ProxyConfig(rcpt string) *Error {
	return TempCode(CodeTempLocal, "4.3.5", "<"+rcpt+"> bad proxy destination in the userdb")
}

// UserConcurrency: [lmtp] user_concurrency_limit transactions already hold
// this user; Dovecot's reply, word for word.
func UserConcurrency(rcpt string) *Error {
	return TempCode(CodeTempLocal, "4.3.0", "<"+rcpt+"> Too many concurrent deliveries for user")
}

// Backend turns a backend's failure reply for one recipient into the
// reply lmtpd relays: a 5xx with a 5.x.x code stays that permanent failure
// (the backend decided it: unknown user, over quota, a Sieve reject);
// a 4xx stays temporary with its code; a reply without an enhanced code
// gets class.0.0 from its reply code (as Dovecot's proxy does); codes
// that disagree (550 4.2.2) are temporary, 451 4.y.z; anything
// else (2xx or 3xx where a failure was expected, garbage) is 451 4.4.2.
// The backend's text is public already (it is a reply to an LMTP client);
// it is made one bounded line.
func Backend(backend string, code int, enh [3]int, text string) *Error {
	text = strings.TrimSpace(OneLine(text))
	if len(text) > 150 {
		text = text[:150]
	}
	// The backend's words first: through a chain of proxies the
	// innermost reason stays in front, where nothing cuts it.
	reason := fmt.Sprintf("%s (backend %s)", text, backend)
	e := Enhanced(fmt.Sprintf("%d.%d.%d", enh[0], enh[1], enh[2]))
	switch {
	case enh == [3]int{}:
		e = Enhanced(fmt.Sprintf("%d.0.0", code/100))
	case enh[0] != code/100 && (code/100 == 4 || code/100 == 5):
		// "550 4.2.2" or "450 5.1.1": the two disagree; temporary wins.
		return TempCode(CodeTempLocal, Enhanced(fmt.Sprintf("4.%d.%d", enh[1], enh[2])), reason)
	}
	switch {
	case code >= 500 && code <= 599 && e.Class() == Permanent:
		return &Error{Code: code, Enhanced: e, Reason: reason}
	case code == CodeTempService:
		// 421 closes a connection (a backend over its connection
		// limit, shutting down); for one recipient it is 451.
		return TempCode(CodeTempLocal, e, reason)
	case code >= 400 && code <= 499 && e.Class() == Temporary:
		return TempCode(code, e, reason)
	}
	return BackendConnection(backend).withReason(reason)
}

func (e *Error) withReason(r string) *Error {
	c := *e
	c.Reason = r
	return &c
}

// BadParameter: a command parameter lmtpd cannot take (XCLIENT TTL= not a
// number); not a mail's failure, so a 5xx is right (RFC 5321 501).
func BadParameter(reason string) *Error {
	return &Error{Code: CodeSyntax, Enhanced: "5.5.4", Reason: reason}
}
