// Package userdbsock owns the userdb socket: lmtpd, which keeps a pool of
// database connections (and the lookup cache), answers userdb lookups on a
// unix socket, and deliver asks it instead of opening a database connection
// of its own for its one message. It is maildeliver's counterpart of
// Dovecot's auth-userdb socket, which dovecot-lda asks for the same reason.
// This package owns the wire format, the server (Server), the client
// (Client) and the rule for when deliver falls back to SQL (Fallback).
//
// # Wire format
//
// A stream connection on a unix socket ([userdb] socket); one request per
// line, one response per line, in order; a client may send any number of
// requests on one connection. Each line is one JSON object (RFC 8259, UTF-8)
// ended by "\n", at most MaxLine bytes with the "\n". Members not listed
// here are ignored, so either side may add optional ones.
//
//	request    {"address":"bob+lists@example.org"}
//	found      {"user":{"address":"bob@example.org","detail":"lists","home":"/home/bob",
//	            "mail":"","uid":1001,"gid":1001,"quota_rule":"*:storage=1G",
//	            "quota_bytes":-1,"quota_messages":-1}}
//	not found  {"notfound":true}
//	failure    {"error":"userdb lookup failed"}
//	busy       {"error":"busy","busy":true}
//
// "user" holds package lookup's User: uid and gid are -1 when the userdb
// returned none ([mail] uid/gid then apply), quota_bytes and quota_messages
// -1 when absent; a member left out has that "absent" value. "notfound" is
// the userdb's answer that there is no such user: the only answer that may
// bounce mail. "error" is everything else (database down or slow, query
// error, a malformed request): a short public text, never the detail, which
// the server logs. A request line that is not a JSON object with a non-empty
// "address" is answered "error"; a line longer than MaxLine is answered
// "error" and the connection closed.
//
// The address is looked up as lmtpd would for RCPT TO: as given, then
// without the detail, then through alias_query, from lmtpd's cache if it
// has one. Answers name homes and uids (never passwords): the socket's
// mode and group decide who may ask.
//
// "busy" is sent, unasked, to a connection beyond the server's MaxConns,
// which is then closed without reading its request: nothing was looked
// up. It carries "error" too, so that a client that does not know "busy"
// treats it as a failure.
//
// The server waits at most its timeout for each request line (and for
// writing each answer) and then closes the connection; each lookup is
// bounded by the userdb's own timeout, and a connection's whole life by
// MaxConnTime, so no client can hold a connection slot for long. Beyond
// MaxConns the server keeps accepting and answers "busy" at once: a
// client is never left waiting in the listen queue behind clients that
// keep every slot busy.
//
// # Client side
//
// Client dials the socket for each lookup. A socket that cannot be dialed
// (no such file, nobody listening, no permission, listen queue full) or
// answers "busy" is ErrUnavailable: nothing was asked, so Fallback asks
// the SQL userdb instead. Any failure after connecting (timeout, "error", a malformed or
// missing answer) is a temporary error and is never retried elsewhere: the
// userdb might be down for lmtpd and deliver alike, and a second lookup
// would only double the wait.
package userdbsock

import (
	"encoding/json"
	"errors"

	"maildeliver/internal/lookup"
)

// MaxLine bounds a request or response line, "\n" included.
const MaxLine = 64 << 10

// ErrUnavailable means the socket could not be dialed; no request was sent.
var ErrUnavailable = errors.New("userdbsock: socket unavailable")

// Public texts of "error" answers.
const (
	errLookup    = "userdb lookup failed"
	errMalformed = "malformed request"
	errTooLong   = "request line too long"
	errBusy      = "busy"
)

// busyLine is the answer to a connection beyond MaxConns.
var busyLine = []byte(`{"error":"` + errBusy + `","busy":true}` + "\n")

// request is one request line.
type request struct {
	Address string `json:"address"`
}

// response is one response line: exactly one member is set, but for
// Busy, which comes with Error.
type response struct {
	User     *wireUser `json:"user,omitempty"`
	NotFound bool      `json:"notfound,omitempty"`
	Error    string    `json:"error,omitempty"`
	Busy     bool      `json:"busy,omitempty"` // with Error = errBusy
}

// wireUser is lookup.User on the wire.
type wireUser struct {
	Address       string `json:"address"`
	Detail        string `json:"detail"`
	Home          string `json:"home"`
	Mail          string `json:"mail"`
	UID           int64  `json:"uid"`
	GID           int64  `json:"gid"`
	QuotaRule     string `json:"quota_rule"`
	QuotaBytes    int64  `json:"quota_bytes"`
	QuotaMessages int64  `json:"quota_messages"`
	QuotaGrace    string `json:"quota_storage_grace,omitempty"`
	Sieve         string `json:"sieve,omitempty"`
	// Dovecot's proxy fields (lmtpd's proxy mode, deliver -explain).
	Host       string `json:"host,omitempty"`
	Port       string `json:"port,omitempty"`
	Proxy      string `json:"proxy,omitempty"`
	ProxyMaybe string `json:"proxy_maybe,omitempty"`
}

func toWire(u *lookup.User) *wireUser {
	return &wireUser{Address: u.Address, Detail: u.Detail, Home: u.Home, Mail: u.Mail,
		UID: u.UID, GID: u.GID, QuotaRule: u.QuotaRule,
		QuotaBytes: u.QuotaBytes, QuotaMessages: u.QuotaMessages, QuotaGrace: u.QuotaGrace, Sieve: u.Sieve,
		Host: u.Host, Port: u.Port, Proxy: u.Proxy, ProxyMaybe: u.ProxyMaybe}
}

func (w *wireUser) user() *lookup.User {
	return &lookup.User{Address: w.Address, Detail: w.Detail, Home: w.Home, Mail: w.Mail,
		UID: w.UID, GID: w.GID, QuotaRule: w.QuotaRule,
		QuotaBytes: w.QuotaBytes, QuotaMessages: w.QuotaMessages, QuotaGrace: w.QuotaGrace, Sieve: w.Sieve,
		Host: w.Host, Port: w.Port, Proxy: w.Proxy, ProxyMaybe: w.ProxyMaybe}
}

// UnmarshalJSON starts from "not returned" for every member, so that a
// member left out means absent rather than 0 (uid 0 is root).
func (w *wireUser) UnmarshalJSON(b []byte) error {
	type plain wireUser // without this method
	p := plain{UID: lookup.NoID, GID: lookup.NoID, QuotaBytes: -1, QuotaMessages: -1}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*w = wireUser(p)
	return nil
}
