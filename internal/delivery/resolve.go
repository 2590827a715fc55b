package delivery

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"maildeliver/internal/lookup"
	"maildeliver/internal/maildir"
	"maildeliver/internal/quota"
	"maildeliver/internal/status"
)

// MaxAddressLen bounds envelope addresses (RFC 5321 section 4.5.3.1.3 gives
// 256 octets for a path).
const MaxAddressLen = 256

// Target is a resolved recipient: who owns the mailbox and where it is.
type Target struct {
	Recipient string       // the envelope recipient as given
	User      *lookup.User // the userdb row
	Maildir   string       // absolute path of the maildir root
	UID, GID  int
	// FolderDir is the Maildir++ directory (".Name") to deliver to, "" for
	// INBOX; Folder is the folder's name for logs.
	FolderDir, Folder string
	Quota             quota.Limit // 0 = unlimited
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

// Resolve looks the recipient up and decides mailbox, owner and folder.
// folder is the requested folder (deliver -m); "" means INBOX, or the
// +detail folder when [mail] detail_folder is on.
func (a *Agent) Resolve(ctx context.Context, rcpt, folder string) (*Target, error) {
	if err := CheckRecipient(rcpt); err != nil {
		return nil, err
	}
	u, err := a.db.Lookup(ctx, rcpt)
	if errors.Is(err, lookup.ErrNotFound) {
		return nil, status.UserUnknown(rcpt)
	}
	if err != nil {
		return nil, status.Temp("user lookup failed").Wrap(err)
	}
	t := &Target{Recipient: rcpt, User: u}
	if t.UID, t.GID, err = a.owner(u); err != nil {
		return nil, err
	}
	if t.Maildir, err = a.maildirPath(u); err != nil {
		return nil, err
	}
	if t.Quota, err = quota.LimitFor(u, a.cfg.Quota.Default); err != nil {
		return nil, status.Temp("bad quota rule for the user").Wrap(fmt.Errorf("%s: %w", u.Address, err))
	}
	if folder == "" && a.cfg.Mail.DetailFolder {
		folder = u.Detail
	}
	if folder != "" {
		dir, ok := maildir.FolderDir(folder)
		if ok {
			t.FolderDir, t.Folder = dir, folder
		}
		// An unsafe folder name is not an error: the message goes to
		// INBOX, as Dovecot does for a folder it cannot use.
	}
	return t, nil
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

// maildirPath expands the mail column or [mail] location for u.
func (a *Agent) maildirPath(u *lookup.User) (string, error) {
	loc := a.cfg.Mail.Location
	if u.Mail != "" {
		loc = u.Mail
	}
	loc = strings.TrimPrefix(loc, "maildir:")
	// Dovecot location options (":LAYOUT=fs", ":INDEX=...") follow the path.
	if i := strings.IndexByte(loc, ':'); i >= 0 {
		loc = loc[:i]
	}
	p, err := expand(loc, u)
	if err == nil && !filepath.IsAbs(p) {
		err = fmt.Errorf("maildir path %q is not absolute", p)
	}
	if err == nil {
		err = maildir.CheckPath(p)
	}
	if err == nil && len(a.cfg.Mail.AllowedRoots) > 0 {
		err = fmt.Errorf("maildir %q is outside mail.allowed_roots", p)
		for _, r := range a.cfg.Mail.AllowedRoots {
			if rel, e := filepath.Rel(r, p); e == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				err = nil
				break
			}
		}
	}
	if err != nil {
		return "", status.Temp("bad mailbox location").Wrap(fmt.Errorf("%s: %w", u.Address, err))
	}
	return filepath.Clean(p), nil
}

// expand substitutes ~ (home) and the variables %u %n %d %h %% (and their
// %{user} %{username} %{domain} %{home} forms, with %{user|username} and
// %{user|domain}) in a mail location. Values must be single safe path
// components (home excepted), so a user name cannot climb directories.
func expand(loc string, u *lookup.User) (string, error) {
	local, domain := u.Address, ""
	if i := strings.LastIndexByte(u.Address, '@'); i >= 0 {
		local, domain = u.Address[:i], u.Address[i+1:]
	}
	vars := map[string]string{
		"u": u.Address, "user": u.Address,
		"n": local, "username": local, "user|username": local,
		"d": domain, "domain": domain, "user|domain": domain,
	}
	home := func() (string, error) {
		if u.Home == "" {
			return "", fmt.Errorf("location needs a home, and the userdb returned none")
		}
		return u.Home, nil
	}
	var b strings.Builder
	if strings.HasPrefix(loc, "~") {
		h, err := home()
		if err != nil {
			return "", err
		}
		b.WriteString(h)
		loc = loc[1:]
	}
	for i := 0; i < len(loc); i++ {
		c := loc[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(loc) {
			return "", fmt.Errorf("location ends with %%")
		}
		i++
		var name string
		if loc[i] == '{' {
			j := strings.IndexByte(loc[i:], '}')
			if j < 0 {
				return "", fmt.Errorf("unclosed %%{ in location")
			}
			name, i = loc[i+1:i+j], i+j
		} else {
			name = string(loc[i])
		}
		switch name {
		case "%":
			b.WriteByte('%')
			continue
		case "h", "home":
			h, err := home()
			if err != nil {
				return "", err
			}
			b.WriteString(h)
			continue
		}
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("unknown variable %%%s in location", name)
		}
		if v == "" || v == "." || v == ".." || strings.ContainsAny(v, "/\x00") {
			return "", fmt.Errorf("variable %%%s = %q is not a safe path component", name, v)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
