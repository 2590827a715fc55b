// Package sieve decides what happens to a message for one recipient by
// running the recipient's Sieve scripts (RFC 5228), Pigeonhole-compatible:
// the global before scripts, the user's active script (or the default),
// the global after scripts. It owns script compilation and its cache, the
// Sieve semantics of the result (implicit keep, :copy, cancelling, the
// multiscript sequence), the vacation rules and reply record, and sending
// outgoing mail (redirect, vacation) through an Outbox. It does not store
// anything: Decide returns a Plan of Actions for the delivery core.
//
// The interpreter is github.com/migadu/go-sieve, patched in
// third_party/go-sieve (see its PATCHES.md) for per-action imap4flags,
// reject/ereject, include, duplicate, environment and vacation-seconds.
//
// # Vacation reply record
//
// One reply per sender per period (RFC 5230 section 4.1) is remembered in
// the file ".maildeliver.sieve-vacation" in the user's home, owned by the
// user, mode 0600. It is a text file, one entry a line:
//
//	<expiry unix seconds> <hex SHA-256 of handle NUL sender-lowercased>
//
// An entry is live until its expiry. The file is rewritten (temporary
// file, fsync, rename) under an flock on the file itself when an entry is
// added; expired entries are dropped then. The duplicate extension (RFC
// 7352) keeps its ids the same way in ".maildeliver.sieve-duplicate".
package sieve
