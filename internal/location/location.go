// Package location owns the mail location as Dovecot writes it, and its
// expansion for one user into the directories delivery uses.
//
// Dovecot 2.3 form ([mail] location, or a userdb "mail" column):
//
//	maildir:PATH[:OPTION[=VALUE]]...
//
// PATH and option values are path templates (package uservars; a leading
// "~" is the home); "::" is a literal ':'. Options:
//
//	LAYOUT=maildir++|fs   folder layout (package maildir); default maildir++
//	INBOX=PATH            the INBOX lives there instead of the root
//	CONTROL=PATH          control files, here: the subscriptions file
//	SUBSCRIPTIONS=NAME    the subscriptions file's name
//	UTF-8 (also UTF8)     folder names on disk in UTF-8, not modified UTF-7
//	INDEX= INDEXPVT= VOLATILEDIR= LISTINDEX= ITERINDEX NO-NOSELECT
//	                      accepted and ignored: they only concern readers
//
// Any other option (ALT=, DIRNAME=, MAILBOXDIR=, FULLDIRNAME=, BROKENCHAR=,
// LAYOUT=index, ...) is refused: Dovecot would read the mailbox elsewhere
// or differently, and maildeliver would deliver where it does not look.
//
// Dovecot 2.4 form: [mail] driver, path, inbox_path, layout, utf8
// (mail_driver, mail_path, mail_inbox_path, mailbox_list_layout,
// mailbox_list_utf8) — see Keys.
package location

import (
	"fmt"
	"path/filepath"
	"strings"

	"maildeliver/internal/maildir"
	"maildeliver/internal/uservars"
)

// Location is a compiled mail location.
type Location struct {
	raw           string
	path          *uservars.Template
	inbox         *uservars.Template // nil: the root
	control       *uservars.Template // nil: the root
	subscriptions string             // "" = maildir.SubscriptionsFile
	naming        maildir.Naming
}

// Mailbox is a Location expanded for one user.
type Mailbox struct {
	Root  string // the maildir root (maildirsize, folders)
	Inbox string // "" = Root
	// RootOwn and InboxOwn are the user's own directories of Root and
	// Inbox: the path itself or an ancestor. Missing directories above
	// them are shared with other users and created like their nearest
	// existing parent when it is setgid (maildir.OpenOwn).
	RootOwn, InboxOwn string
	Subscriptions     maildir.Subscriptions
	Naming            maildir.Naming
}

// String returns the location as written.
func (l *Location) String() string { return l.raw }

// Naming is the location's folder naming.
func (l *Location) Naming() maildir.Naming { return l.naming }

// Options that concern Dovecot's readers only (indexes, locks, listing).
var (
	ignoredValue = map[string]bool{"INDEX": true, "INDEXPVT": true, "VOLATILEDIR": true, "LISTINDEX": true}
	ignoredFlag  = map[string]bool{"ITERINDEX": true, "NO-NOSELECT": true}
)

// Parse compiles a 2.3 location string; errors do not repeat s. A value without a "driver:"
// prefix (as some userdb "mail" columns hold) is a bare maildir path.
func Parse(s string) (*Location, error) {
	rest, ok := strings.CutPrefix(s, "maildir:")
	if !ok {
		if i := strings.IndexByte(s, ':'); i > 0 && !strings.ContainsAny(s[:i], "/~%") {
			return nil, fmt.Errorf("driver %q is not supported; want maildir:PATH", s[:i])
		}
		rest = s
	}
	fields := splitOptions(rest)
	if fields[0] == "" {
		return nil, fmt.Errorf("no path; want maildir:PATH")
	}
	l := &Location{raw: s}
	var err error
	if l.path, err = pathTemplate("path", fields[0]); err != nil {
		return nil, err
	}
	for _, opt := range fields[1:] {
		if err := l.option(opt); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// option applies one ":KEY=VALUE" or ":FLAG" option.
func (l *Location) option(opt string) error {
	key, value, hasValue := strings.Cut(opt, "=")
	var err error
	switch {
	case key == "LAYOUT" && hasValue:
		l.naming.Layout, err = maildir.ParseLayout(value)
	case key == "INBOX" && hasValue:
		l.inbox, err = pathTemplate("INBOX", value)
	case key == "CONTROL" && hasValue:
		l.control, err = pathTemplate("CONTROL", value)
	case key == "SUBSCRIPTIONS" && hasValue:
		if value == "" || strings.ContainsAny(value, "/%") || value == "." || value == ".." {
			return fmt.Errorf("SUBSCRIPTIONS=%q: want a file name", value)
		}
		l.subscriptions = value
	case (key == "UTF-8" || key == "UTF8") && !hasValue:
		l.naming.UTF8 = true
	case hasValue && ignoredValue[key]:
		_, err = pathTemplate(key, value) // a typo in a variable is still an error
	case !hasValue && ignoredFlag[key]:
	case isDovecotOption(key):
		return fmt.Errorf("option %s is not supported by maildeliver (Dovecot would read the mail elsewhere)", key)
	default:
		return fmt.Errorf("unknown option %q (known: LAYOUT= INBOX= CONTROL= SUBSCRIPTIONS= UTF-8, and INDEX= INDEXPVT= VOLATILEDIR= LISTINDEX= ITERINDEX NO-NOSELECT which are ignored)", opt)
	}
	return err
}

// isDovecotOption: options Dovecot 2.3 accepts that change where or how
// mail is stored.
func isDovecotOption(k string) bool {
	switch k {
	case "ALT", "DIRNAME", "MAILBOXDIR", "FULLDIRNAME", "BROKENCHAR":
		return true
	}
	return false
}

// splitOptions splits at ':' where "::" is a literal ':'.
func splitOptions(s string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			cur.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == ':' {
			cur.WriteByte(':')
			i++
			continue
		}
		out = append(out, cur.String())
		cur.Reset()
	}
	return append(out, cur.String())
}

func pathTemplate(what, s string) (*uservars.Template, error) {
	if s == "" {
		return nil, fmt.Errorf("%s: empty path", what)
	}
	t, err := uservars.Parse(s, uservars.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return t, nil
}

// Keys are Dovecot 2.4's settings, as [mail] driver, path, inbox_path,
// layout, utf8.
type Keys struct {
	Driver, Path, InboxPath, Layout string
	UTF8                            bool
}

// Set reports whether any 2.4 key is set.
func (k Keys) Set() bool {
	return k.Driver != "" || k.Path != "" || k.InboxPath != "" || k.Layout != "" || k.UTF8
}

// FromKeys compiles the 2.4 form. driver must be maildir ("" with a path
// means maildir); path defaults to "~/Maildir", as Dovecot's maildir
// driver does.
func FromKeys(k Keys) (*Location, error) {
	if k.Driver != "" && k.Driver != "maildir" {
		return nil, fmt.Errorf("driver %q is not supported; want maildir", k.Driver)
	}
	p := k.Path
	if p == "" {
		p = "~/Maildir"
	}
	l := &Location{raw: fmt.Sprintf("driver=maildir path=%s", p)}
	var err error
	if l.path, err = pathTemplate("path", p); err != nil {
		return nil, err
	}
	if k.InboxPath != "" {
		if l.inbox, err = pathTemplate("inbox_path", k.InboxPath); err != nil {
			return nil, err
		}
	}
	if l.naming.Layout, err = maildir.ParseLayout(k.Layout); err != nil {
		return nil, err
	}
	l.naming.UTF8 = k.UTF8
	return l, nil
}

// Expand returns the mailbox's directories for a user. Every path must be
// absolute and free of ".." (package maildir refuses them anyway), and,
// when allowed is not empty, lie under one of the allowed roots.
func (l *Location) Expand(v uservars.Values, allowed []string) (Mailbox, error) {
	m := Mailbox{Naming: l.naming}
	m.Subscriptions.File = l.subscriptions
	var err error
	if m.Root, m.RootOwn, err = expandPath(l.path, v, allowed); err != nil {
		return Mailbox{}, err
	}
	if l.inbox != nil {
		if m.Inbox, m.InboxOwn, err = expandPath(l.inbox, v, allowed); err != nil {
			return Mailbox{}, fmt.Errorf("INBOX: %w", err)
		}
	}
	if l.control != nil {
		if m.Subscriptions.Dir, _, err = expandPath(l.control, v, allowed); err != nil {
			return Mailbox{}, fmt.Errorf("CONTROL: %w", err)
		}
	}
	return m, nil
}

// expandPath expands t for v and returns the path and the user's own
// directory in it: where the template's last variable ends (Dovecot's
// rule); for a template without variables (a userdb mail column holds the
// whole path) the home when the path lies in it, else the path itself.
func expandPath(t *uservars.Template, v uservars.Values, allowed []string) (path, own string, err error) {
	p, own, err := t.ExpandPathOwn(v)
	if err == nil && !filepath.IsAbs(p) {
		err = fmt.Errorf("maildir path %q is not absolute", p)
	}
	if err == nil {
		err = maildir.CheckPath(p)
	}
	if err == nil && len(allowed) > 0 {
		err = fmt.Errorf("maildir %q is outside mail.allowed_roots", p)
		for _, r := range allowed {
			if within(p, r) {
				err = nil
				break
			}
		}
	}
	if err != nil {
		return "", "", err
	}
	p = filepath.Clean(p)
	switch {
	case own != "" && within(p, own):
		own = filepath.Clean(own)
	case v.Home != "" && filepath.IsAbs(v.Home) && within(p, v.Home):
		own = filepath.Clean(v.Home)
	default:
		own = p
	}
	return p, own, nil
}

// within reports whether p is dir or lies below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
