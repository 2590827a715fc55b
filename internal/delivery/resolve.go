package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"maildeliver/internal/location"
	"maildeliver/internal/lookup"
	"maildeliver/internal/maildir"
	"maildeliver/internal/quota"
	"maildeliver/internal/status"
	"maildeliver/internal/trace"
	"maildeliver/internal/uservars"
)

// MaxAddressLen bounds envelope addresses (RFC 5321 section 4.5.3.1.3 gives
// 256 octets for a path).
const MaxAddressLen = 256

// Target is a resolved recipient: who owns the mailbox and where it is.
type Target struct {
	// Recipient is the canonical recipient ([userdb] username_format
	// applied): what the userdb was asked, Delivered-To and the loop check.
	Recipient string
	User      *lookup.User // the userdb row
	Maildir   string       // absolute path of the maildir root
	UID, GID  int
	// Mailbox is the expanded location: INBOX=, subscriptions, naming.
	Mailbox location.Mailbox
	// FolderDir is the folder's directory below the root (".Name" or
	// "a/b"), "" for INBOX; Folder is the folder's name for logs;
	// FolderPath is both, with the subscription levels.
	FolderDir, Folder string
	FolderPath        maildir.FolderPath
	// Unusable is the requested folder (-m, +detail) when it cannot be
	// one (unsafe, or outside the namespace prefix): INBOX takes the
	// message and Deliver logs the name, as dovecot-lda does.
	Unusable string
	Quota    quota.Limit // 0 = unlimited
}

// checkAddress refuses addresses that could forge headers or break the
// protocol: CR, LF, NUL, or longer than MaxAddressLen octets. It is the one
// rule for every value from outside that becomes a header field (sender,
// recipient, original recipient): the Check functions below apply it, and
// Deliver applies them again right before writing the prepended fields.
func checkAddress(a string) string {
	switch {
	case len(a) > MaxAddressLen:
		return "address longer than 256 octets"
	case strings.ContainsAny(a, "\r\n\x00"):
		return "address contains CR, LF or NUL"
	}
	return ""
}

// CheckSender validates the envelope sender ("" is the null sender).
func CheckSender(s string) error {
	if why := checkAddress(s); why != "" {
		return status.BadSender(why)
	}
	return nil
}

// CheckRecipient validates an envelope recipient.
func CheckRecipient(r string) error {
	if r == "" {
		return status.BadRecipient("empty address")
	}
	if why := checkAddress(r); why != "" {
		return status.BadRecipient(why)
	}
	return nil
}

// CheckOrigRecipient validates an original recipient (deliver -a, LMTP
// ORCPT; "" means none): an envelope address like the others, refused
// with 5.1.3 (SPEC "Addresses as Dovecot sees them"), never written into
// a header.
func CheckOrigRecipient(o string) error {
	if why := checkAddress(o); why != "" {
		return status.BadRecipient("original recipient: " + why)
	}
	return nil
}

// MaxQueueIDLen bounds a Postfix queue id. Short ids are up to 12
// hexadecimal digits; long ids (enable_long_queue_ids) are about 17
// characters of [0-9A-Za-z]; 32 leaves room without letting a log line
// grow.
const MaxQueueIDLen = 32

// CheckQueueID validates a Postfix queue id (deliver -q ${queue_id}, LMTP
// XFORWARD IDENT=): 1 to MaxQueueIDLen characters of [0-9A-Za-z], so that
// it is one word on the log line. "" means none. The error says why; what
// it means for the delivery is the caller's (deliver: a bad command line,
// 4.3.5; lmtpd: the id is dropped, a log attribute is no reason to refuse
// mail).
func CheckQueueID(q string) error {
	if len(q) > MaxQueueIDLen {
		return fmt.Errorf("queue id longer than %d characters", MaxQueueIDLen)
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return fmt.Errorf("queue id %q: only letters and digits allowed", q)
		}
	}
	return nil
}

// NormalizeSender turns "<>", "<a@b>" into "", "a@b".
func NormalizeSender(s string) string {
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		return s[1 : len(s)-1]
	}
	return s
}

// Canonical applies [userdb] username_format to an envelope recipient,
// once, before anything else uses it (Dovecot's auth_username_format).
func (a *Agent) Canonical(rcpt string) string {
	if a.username == nil {
		return rcpt
	}
	return a.username.Expand(uservars.Values{User: rcpt})
}

// Resolve looks the recipient up and decides mailbox, owner and folder.
// folder is the requested folder (deliver -m); "" means INBOX, or the
// +detail folder when [mail] detail_folder is on.
func (a *Agent) Resolve(ctx context.Context, rcpt, folder string) (*Target, error) {
	f, err := a.Lookup(ctx, rcpt)
	if err != nil {
		return nil, err
	}
	return a.ResolveFound(ctx, rcpt, f, folder)
}

// Found is a recipient the userdb knows, before its mailbox is decided:
// lmtpd's proxy mode routes on the row (package lmtpproxy) and resolves a
// mailbox only for recipients delivered here.
type Found struct {
	Canonical string       // [userdb] username_format applied
	User      *lookup.User // the row
}

// Lookup checks rcpt, canonicalises it and asks the userdb: 5.1.1 for an
// unknown user, 4.3.0 when the lookup fails.
func (a *Agent) Lookup(ctx context.Context, rcpt string) (*Found, error) {
	if err := CheckRecipient(rcpt); err != nil {
		return nil, err
	}
	if a.setupErr != nil {
		return nil, status.Temp("configuration error").Wrap(a.setupErr)
	}
	trace.Step(ctx, "recipient", "<%s>", rcpt)
	canon := a.Canonical(rcpt)
	traceCanonical(ctx, a.cfg.Userdb.UsernameFormat, canon)
	if err := CheckRecipient(canon); err != nil {
		return nil, status.Temp("bad username_format result").Wrap(fmt.Errorf("<%s> -> <%s>: %w", rcpt, canon, err))
	}
	u, err := a.db.Lookup(ctx, canon)
	if errors.Is(err, lookup.ErrNotFound) {
		return nil, status.UserUnknown(rcpt)
	}
	if err != nil {
		return nil, status.Temp("user lookup failed").Wrap(err)
	}
	trace.Step(ctx, "user", "<%s> detail %q", u.Address, u.Detail)
	return &Found{Canonical: canon, User: u}, nil
}

// ResolveFound decides mailbox, owner and folder of a recipient found by
// Lookup (see Resolve).
func (a *Agent) ResolveFound(ctx context.Context, rcpt string, f *Found, folder string) (*Target, error) {
	u := f.User
	t := &Target{Recipient: f.Canonical, User: u}
	var err error
	if t.UID, t.GID, err = a.owner(u); err != nil {
		return nil, err
	}
	trace.Step(ctx, "owner", "uid %d gid %d (%s)", t.UID, t.GID, ownerSource(u))
	if t.Mailbox, err = a.mailbox(u); err != nil {
		return nil, err
	}
	t.Maildir = t.Mailbox.Root
	a.traceMailbox(ctx, u, t.Mailbox)
	if t.Quota, err = limitFor(u, a.cfg.Quota.Default); err != nil {
		return nil, status.Temp("bad quota rule for the user").Wrap(fmt.Errorf("%s: %w", u.Address, err))
	}
	// A recount must find every folder, and the INBOX where it is.
	t.Quota.Layout, t.Quota.Inbox = t.Mailbox.Naming.Layout, t.Mailbox.Inbox
	a.resolveFolder(ctx, t, rcpt, folder)
	return t, nil
}

// resolveFolder sets t's folder: the requested one (deliver -m), else the
// +detail folder when [mail] detail_folder is on, else INBOX.
func (a *Agent) resolveFolder(ctx context.Context, t *Target, rcpt, folder string) {
	from := "-m"
	if folder == "" && a.cfg.Mail.DetailFolder {
		folder, from = detailAsGiven(rcpt, t.User.Detail, a.cfg.Mail.RecipientDelimiter), "+detail"
		if folder != "" {
			// Dovecot's LMTP names the detail's mailbox with the inbox
			// namespace's prefix: +Junk is "INBOX.Junk", folder .Junk.
			folder = t.Mailbox.Naming.Prefix + folder
		}
	}
	if folder == "" {
		trace.Step(ctx, "folder", "INBOX")
		return
	}
	p, ok := t.Mailbox.Naming.FolderPath(folder)
	if !ok {
		// An unsafe folder name is not an error: the message goes to
		// INBOX, as Dovecot does for a folder it cannot use.
		t.Unusable = folder
		trace.Step(ctx, "folder", "%q (%s) cannot be used (%s): INBOX", folder, from, refusal(t.Mailbox.Naming, folder))
		return
	}
	t.FolderPath, t.FolderDir, t.Folder = p, p.Dir, folder
	trace.Step(ctx, "folder", "%q (%s), directory %s", folder, from, p.Dir)
}

// refusal says why FolderPath refused folder: for the log and -explain.
func refusal(n maildir.Naming, folder string) string {
	if n.Prefix != "" && !strings.HasPrefix(strings.ToUpper(folder), strings.ToUpper(n.Prefix)) {
		return fmt.Sprintf("not under the namespace prefix %q", n.Prefix)
	}
	return "not a usable folder name"
}

// detailAsGiven returns the detail in the letter case the sender wrote:
// username_format folds the address for the lookup, but Dovecot's LMTP
// splits the detail off the address as received (lmtp_save_to_detail_mailbox
// delivers +Foo to "Foo").
func detailAsGiven(rcpt, detail, delim string) string {
	if detail == "" || delim == "" {
		return detail
	}
	local, _ := uservars.SplitAddress(rcpt)
	if i := strings.IndexAny(local, delim); i >= 0 && strings.EqualFold(local[i+1:], detail) {
		return local[i+1:]
	}
	return detail
}

// owner returns the mailbox's uid/gid, refusing root and low uids.
func (a *Agent) owner(u *lookup.User) (uid, gid int, err error) {
	id, gd := u.UID, u.GID
	if id == lookup.NoID {
		id = a.cfg.Mail.UID
	}
	if gd == lookup.NoID {
		gd = a.cfg.Mail.GID
	}
	switch {
	case id == 0 || gd == 0:
		return 0, 0, status.Temp("mailbox uid/gid is 0 (root) or not configured").
			Wrap(fmt.Errorf("uid %d gid %d for %s: set [mail] uid/gid or return uid/gid from user_query", id, gd, u.Address))
	case id < a.cfg.Mail.MinUID:
		return 0, 0, status.Temp("mailbox uid below min_uid").
			Wrap(fmt.Errorf("uid %d < min_uid %d for %s", id, a.cfg.Mail.MinUID, u.Address))
	case id > 1<<31-1 || gd > 1<<31-1 || id < 0 || gd < 0:
		return 0, 0, status.Temp("mailbox uid/gid out of range").Wrap(fmt.Errorf("uid %d gid %d", id, gd))
	}
	return int(id), int(gd), nil
}

// mailbox expands the mail column (per user: an error there is logged and
// temporary) or the configured location for u.
func (a *Agent) mailbox(u *lookup.User) (location.Mailbox, error) {
	loc := a.loc
	if u.Mail != "" {
		l, err := location.Parse(u.Mail)
		if err != nil {
			return location.Mailbox{}, status.Temp("bad mailbox location").
				Wrap(fmt.Errorf("%s: userdb mail column %q: %w", u.Address, u.Mail, err))
		}
		loc = l
	}
	m, err := loc.Expand(uservars.Values{User: u.Address, Home: u.Home}, a.cfg.Mail.AllowedRoots)
	if err != nil {
		return location.Mailbox{}, status.Temp("bad mailbox location").Wrap(fmt.Errorf("%s: %w", u.Address, err))
	}
	if sep := a.cfg.Mail.Separator; sep != "" { // validated: one character
		m.Naming.Sep = sep[0]
	}
	// Checked with the configured location at load; a mail column with
	// another layout can still break it (Dovecot: a fatal error).
	if m.Naming.Prefix = a.cfg.Mail.Prefix; m.Naming.Prefix != "" {
		if err := m.Naming.CheckPrefix(); err != nil {
			return location.Mailbox{}, status.Temp("bad mailbox location").Wrap(fmt.Errorf("%s: [mail] prefix: %w", u.Address, err))
		}
	}
	return m, nil
}
