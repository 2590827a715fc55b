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
//	<expiry unix seconds> <hex SHA-256 of key>
//
// where key is the vacation handle, a NUL and the sender in lower case
// (the handle defaults to the reason, subject, from and :mime, so a new
// text is answered again, RFC 5230 section 4.2). An entry is live until
// its expiry. The file is rewritten (temporary file, fsync, rename) under
// an flock on "<file>.lock" when an entry is added; expired entries and
// unreadable lines are dropped then. The duplicate extension (RFC 7352)
// keeps its ids the same way in ".maildeliver.sieve-duplicate", the key
// being the :handle, a NUL and the unique id (Message-ID by default).
//
// # Performing a plan
//
// Decide performs nothing. The delivery core, for one recipient: stores a
// copy for each Keep (INBOX) and FileInto (Create: make the folder), with
// ApplyEdits(raw, plan.EditsFor(action)) and MaildirFlags(action.Flags)
// (a Redirect's copy takes EditsFor too); a Reject
// answers 550 5.7.1 (lmtpd) or exits 77 (deliver) and stores nothing;
// Redirect goes through Mailer.Redirect, Vacation through
// Mailer.SendVacation with NewRecord(home, VacationRecordFile, uid, gid);
// after the delivery succeeded, plan.Commit(NewRecord(home,
// DuplicateRecordFile, uid, gid)). Plan.Failures are logged (a user's
// failure: sieve=error; a global one: loudly); they never fail delivery.
package sieve
