// Package quota owns Maildir++ quota: limits (Limit, ParseRule, Grace,
// Warning), the maildirsize file at the maildir root, and the decision
// whether one more message fits, taken as a Reservation (Reserve, then
// Commit or Release). It knows neither SQL rows nor the configuration file:
// package delivery makes a user's Limit from them. It reads and writes
// maildirsize the way Dovecot 2.3's "maildir" quota backend
// (src/plugins/quota/quota-maildir.c) and Courier
// (courier-libs maildir/README.maildirquota.html) do, so either can share a
// mailbox with it.
//
// # The maildirsize file
//
//	1073741824S,1000C       quota definition: <bytes>S and/or <count>C
//	52428800 1234           usage after the last recalculation
//	4711 1                  one line appended per delivery
//	-4711 -1                ... or per removal (written by IMAP servers)
//
// The first line is the limit the file was written for: "<bytes>S" unless
// only a message limit is set, then ",<count>C" if a message limit is set;
// "0S" when there is none (all as Dovecot writes it). Every other line is
// "<bytes> <count>"; the usage is their sum. Each append is one write(2) on
// a descriptor opened with O_APPEND, so concurrent appends never interleave.
// A last line without its newline is ignored (an append in progress).
//
// # Recalculation
//
// maildirsize is recounted from the maildir, and replaced, when:
//   - it is missing, not a regular file, or malformed (NUL bytes, a bad
//     line, no usage line, negative totals);
//   - it is 5120 bytes or larger (Courier's and Dovecot's limit: they read
//     it into a 5120 byte buffer);
//   - its definition differs from the current limit (compared as numbers);
//   - it says the message would not fit (Reserve) or the mailbox is over its
//     limit (Get), and it has more than one usage line or was last written
//     more than 15 minutes ago (Courier's rule: never refuse mail on numbers
//     that may be stale).
//
// Counting reads new/ and cur/ of INBOX (the root) and of every Maildir++
// folder: a ".Name" directory at the root that is not a symlink. With
// Dovecot's LAYOUT=fs (Limit.Layout) the folders are instead every
// directory below the root at any depth ("a", "a/b"; not cur new tmp, not
// names starting with '.', not a top-level "Trash"), each level opened
// without following a symlink. (An INBOX moved elsewhere with INBOX= is
// not counted by a recount; deliveries to it are, in the usage lines.) Each entry
// but "." and ".." counts as a message; its size is the <n> of the first
// ",S=<n>" in its name when <n> ends the name or is followed by ':' or ','
// (as Dovecot parses it), else its lstat size. Entries that vanish while
// counting are skipped; so are folders that vanish or turn into symlinks.
// Nothing is followed: every file is opened relative to the root descriptor
// with openat(2) and O_NOFOLLOW, and only names read from the maildir's own
// directories are used.
//
// Trash: the folder ".Trash" ("Trash" with LAYOUT=fs) is not counted, as in Courier's default build
// (which excludes exactly ".Trash", not ".Trash.Sub"). Dovecot counts every
// mailbox unless a rule ignores it, so a Dovecot sharing the mailbox must be
// configured with
//
//	plugin {
//	  quota = maildir:User quota
//	  quota_rule2 = Trash:ignore
//	}
//
// or its recalculations will add the Trash back. (Courier also skips
// messages flagged T; Dovecot counts them, and so does this package.)
//
// The new file is written under a unique name in tmp/ (at the root if there
// is no tmp/) and renamed over maildirsize. The directories' modification
// times (at the file system's resolution; Courier and Dovecot compare
// seconds) are taken before and after counting; if they moved,
// the count is repeated, and if they keep moving the file is not written.
// If they move right after the rename, the count is repeated once more and
// then maildirsize is removed, which makes the next reader recount.
//
// # Concurrency
//
// Courier and Dovecot take no lock: appends may be lost to a concurrent
// recalculation (the last rename wins) and the file stays well formed. On
// top of that, maildeliver processes coordinate with flock(2) on the root
// directory itself (no extra file in the maildir): Reserve takes a shared
// lock that Add releases after appending, and a recalculation only rewrites
// the file when it gets the exclusive lock without waiting. So no delivery
// of ours can fall between a recount and its rename, and the file stays
// exact among our writers; while deliveries are in flight, an untrusted
// file is recounted but left as it is for a later caller. Recalculate
// (deliver -quota-recalc) does not wait either, and writes regardless.
//
// A recount of a big maildir takes time, and deliveries do not wait for
// it: when maildirsize is a regular file, the count runs unlocked and the
// exclusive lock is only taken to check that the file was neither appended
// to nor replaced meanwhile (its inode, size and times; a change means a
// delivery the count may have missed, and the file is left for a later
// caller) and to rename the new file into place. Only a count with no
// maildirsize to compare with (missing, or not a regular file) holds the
// lock throughout.
//
// Reserve's wait for the shared lock is bounded by its context: the lock is
// the maildir directory's, and its owner can flock it and keep it. When
// the context is done Reserve fails with ErrLocked, a temporary failure
// ([quota] lock_timeout in the binaries). Add never waits: its delivery is
// already done.
//
// # Warnings
//
// Record is Add that also reports the usage right before and right after
// its line, read back from maildirsize through the descriptor it appended
// with: the lines up to and including its own. Appends are ordered by
// the kernel, so among concurrent deliveries exactly one finds a given
// threshold between its before and after (Change.Crossed, [quota]
// warning; see warning.go).
//
// # Limits
//
// A user's limit is the quota_rule column in Dovecot's syntax
// ("*:storage=1G", see ParseRule for units: storage= without a unit is
// kilobytes, bytes= is bytes), else the quota_bytes / quota_messages
// columns, else quota.default; 0 or absent means unlimited. Grace
// (quota.grace, Dovecot's quota_grace) lets the last message take a mailbox
// that is under its byte limit over it by a size or a percentage of the
// limit; Dovecot's default is 10%, maildeliver's is none.
package quota
