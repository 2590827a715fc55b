package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Layout is how folders are laid out below the maildir root: Dovecot's
// mailbox_list_layout (2.3: the location's LAYOUT= option).
type Layout int

const (
	// MaildirPlusPlus (the default): folder a.b (a child of a) at
	// <root>/.a.b/ with a "maildirfolder" marker file; '.' separates
	// levels and a '/' in a name is refused.
	MaildirPlusPlus Layout = iota
	// FS (LAYOUT=fs): folder a/b at <root>/a/b/, each level with its own
	// cur new tmp once it holds mail, no marker file (as Dovecot 2.3
	// creates it); '/' separates levels, '.' is an ordinary character.
	FS
)

// ParseLayout reads "maildir++" or "fs" (Dovecot's names; "" is
// Maildir++).
func ParseLayout(s string) (Layout, error) {
	switch s {
	case "", "maildir++", "Maildir++":
		return MaildirPlusPlus, nil
	case "fs":
		return FS, nil
	case "index":
		return 0, fmt.Errorf("layout %q is not supported (folders stored by GUID); want maildir++ or fs", s)
	}
	return 0, fmt.Errorf("unknown layout %q: want maildir++ or fs", s)
}

func (l Layout) String() string {
	if l == FS {
		return "fs"
	}
	return "maildir++"
}

// sep is the layout's hierarchy separator on disk (and in a version 1
// subscriptions file).
func (l Layout) sep() string {
	if l == FS {
		return "/"
	}
	return "."
}

// Naming is how folder names become directory names: the layout, and
// whether names are stored in UTF-8 (Dovecot's UTF-8 location option,
// 2.4's mailbox_list_utf8) instead of IMAP's modified UTF-7.
type Naming struct {
	Layout Layout
	UTF8   bool
	// Sep is the hierarchy separator of folder names as delivered (-m,
	// +detail): Dovecot's namespace separator. 0 is the layout's own, as
	// in Dovecot 2.3: '.' for Maildir++, '/' for fs. It only splits names
	// into levels; on disk levels are joined with the layout's separator
	// (with LAYOUT=fs and separator '.', folder a.b is <root>/a/b).
	Sep byte
	// Prefix is the inbox namespace's prefix (Dovecot's namespace
	// prefix, "INBOX." on sites migrated from Courier), "" for none. It
	// ends with the name separator (Dovecot refuses one that does not).
	// With a prefix, folder names as delivered carry it ("INBOX.Junk" is
	// <root>/.Junk) and a name without it is outside the namespace: no
	// folder (see FolderPath).
	Prefix string
}

// foldInbox upper-cases a leading "inbox" followed by the separator;
// folded says it changed.
func foldInbox(name, sep string) (string, bool) {
	if len(name) > 5 && strings.EqualFold(name[:5], "INBOX") && name[:5] != "INBOX" && strings.HasPrefix(name[5:], sep) {
		return "INBOX" + name[5:], true
	}
	return name, false
}

// inNamespace strips the Prefix from name (Dovecot 2.3's
// mailbox_list_vname_prepare; name is foldInbox's, folded whether it
// changed it): ok false when name is outside the namespace; rest "" when
// name is the namespace root (the INBOX).
func (n Naming) inNamespace(name string, folded bool) (rest string, ok bool) {
	sep := n.nameSep()
	switch {
	case folded && name == n.Prefix:
		// dovecot-lda -m "inbox.": "Invalid mailbox name 'INBOX.':
		// Ends with hierarchy separator" (while "INBOX." is the INBOX).
		return "", false
	case strings.HasPrefix(name, n.Prefix):
		return name[len(n.Prefix):], true
	case strings.HasSuffix(n.Prefix, sep) && name == strings.TrimSuffix(n.Prefix, sep):
		return "", true // the namespace prefix itself
	}
	return "", false
}

// nameSep is the separator that splits a folder name into levels.
func (n Naming) nameSep() string {
	if n.Sep != 0 {
		return string(n.Sep)
	}
	return n.Layout.sep()
}

// ValidSeparator reports whether s can be a namespace separator: "" (the
// layout's own) or one printable ASCII character, as Dovecot allows.
func ValidSeparator(s string) bool {
	return s == "" || (len(s) == 1 && s[0] > ' ' && s[0] < 0x7f)
}

// CheckPrefix refuses a Prefix Dovecot refuses: one not ending with the
// name separator ("list=yes requires prefix=INBOX to end with separator
// ."), an "inbox." not written upper case ("Namespace prefix=inbox. must
// be uppercase INBOX"), or one with NUL or control characters.
func (n Naming) CheckPrefix() error {
	p, sep := n.Prefix, n.nameSep()
	switch {
	case p == "":
		return nil
	case !utf8.ValidString(p) || strings.IndexFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return fmt.Errorf("namespace prefix %q: not UTF-8 or has control characters", p)
	case !strings.HasSuffix(p, sep):
		return fmt.Errorf("namespace prefix %q must end with the separator %q", p, sep)
	case len(p) > 5 && strings.EqualFold(p[:5], "INBOX") && p[:5] != "INBOX" && strings.HasPrefix(p[5:], sep):
		return fmt.Errorf("namespace prefix %q must be upper case INBOX", p)
	}
	return nil
}

// FolderPath is a folder's place below the maildir root.
type FolderPath struct {
	// Dir is the path relative to the root: ".a.b" (Maildir++) or "a/b"
	// (fs); "" is INBOX.
	Dir string
	// Levels are the folder's hierarchy levels as stored on disk (encoded):
	// what the subscriptions file lists, tab-separated.
	Levels []string
}

// rootFiles are names at the maildir root that an fs-layout folder must
// not take: files there. cur new tmp are refused at every level (isSub),
// and so is anything starting with "dovecot" (Dovecot's own files).
var rootFiles = map[string]bool{"maildirsize": true, "subscriptions": true, "maildirfolder": true}

// FolderPath returns where folder name lives, or ok false when the name is
// not safe: it has NUL or control characters, an empty level, a level
// starting with '.' or equal to "..", is not valid UTF-8, a level holding
// '/' or the layout's own separator (Maildir++ '.' when Sep is another
// character: Dovecot's "Character not allowed in mailbox name"), or a
// directory name longer than 255 bytes. Callers deliver such messages to
// INBOX. "" and INBOX (any case) are the INBOX.
//
// With a Prefix, as dovecot-lda 2.3.19 (-m, and Pigeonhole's fileinto)
// resolves names in the inbox namespace (prefix "INBOX.", separator "."):
// "INBOX.Junk" is .Junk, "inbox.Junk" too ("INBOX" followed by the
// separator is made upper case first), "INBOX.a.b" is .a.b, the prefix
// itself with or without its separator and "INBOX.INBOX" are the INBOX,
// "INBOX.Inbox" is .Inbox (only the exact "INBOX" is the INBOX after the
// prefix), and a name without the prefix ("Junk") is not in the
// namespace: ok false (Dovecot: "Mailbox can't be created", the INBOX).
func (n Naming) FolderPath(name string) (FolderPath, bool) {
	if name == "" || strings.EqualFold(name, "INBOX") {
		return FolderPath{}, true
	}
	// Clients treat INBOX case-insensitively: Dovecot's mailbox_alloc
	// makes "inbox." "INBOX." in every name, prefix or not ("inbox.Junk"
	// is .INBOX.Junk without a prefix, .Junk with "INBOX.").
	name, folded := foldInbox(name, n.nameSep())
	if n.Prefix != "" {
		rest, ok := n.inNamespace(name, folded)
		if !ok || rest == "" || rest == "INBOX" {
			return FolderPath{}, ok
		}
		name = rest
	}
	if !utf8.ValidString(name) {
		return FolderPath{}, false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return FolderPath{}, false
		}
	}
	// A level must not hold '/' (Dovecot 2.3: "Name must not have '/'
	// characters") nor the layout's separator on disk.
	levels := strings.Split(name, n.nameSep())
	for i, l := range levels {
		if l == "" || strings.HasPrefix(l, ".") {
			return FolderPath{}, false // "a..b", ".x", "x/", "a//b"
		}
		if strings.ContainsRune(l, '/') || strings.Contains(l, n.Layout.sep()) {
			return FolderPath{}, false
		}
		if !n.UTF8 {
			levels[i] = encodeMUTF7(l)
		}
		if n.Layout == FS && (len(levels[i]) > 255 || isSub(levels[i]) || (i == 0 && rootFiles[levels[i]]) ||
			strings.HasPrefix(levels[i], "dovecot")) {
			return FolderPath{}, false
		}
	}
	dir := strings.Join(levels, n.Layout.sep())
	if n.Layout == MaildirPlusPlus {
		dir = "." + dir
		if len(dir) > 255 {
			return FolderPath{}, false
		}
	}
	return FolderPath{Dir: dir, Levels: levels}, true
}

// FolderExists answers Sieve's mailboxexists (RFC 5490) for folder name
// of the maildir at root as Pigeonhole does: true for the INBOX, and for
// a folder whose directory holds a cur/ directory (a selectable mailbox;
// symlinks not followed); false for a name FolderPath refuses (with a
// Prefix: a name outside the namespace).
func (n Naming) FolderExists(root, name string) bool {
	p, ok := n.FolderPath(name)
	if !ok || (n.Prefix != "" && name == strings.TrimSuffix(n.Prefix, n.nameSep()) && !strings.EqualFold(name, "INBOX")) {
		// "Mail" of prefix "Mail.": dovecot-lda -m stores it in the
		// INBOX, but Pigeonhole's mailboxexists finds no such mailbox.
		return false
	}
	if p.Dir == "" {
		return true
	}
	for _, d := range []string{p.Dir, p.Dir + "/cur"} {
		if st, err := os.Lstat(filepath.Join(root, d)); err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

// isSub reports whether a level would clash with its parent's cur new tmp.
func isSub(l string) bool { return l == "cur" || l == "new" || l == "tmp" }

// FolderDir returns the Maildir++ directory name (".Name", mUTF-7 encoded
// as Dovecot stores it by default) for a folder name, or "" for INBOX; ok
// is false when the name is not safe (see Naming.FolderPath). A '.'
// inside the name separates hierarchy levels ("Lists.go" is a child of
// "Lists").
func FolderDir(name string) (dir string, ok bool) {
	p, ok := Naming{}.FolderPath(name)
	return p.Dir, ok
}

// encodeMUTF7 encodes s in IMAP's modified UTF-7 (RFC 3501 section 5.1.3),
// the form Dovecot uses for maildir folder names on disk.
func encodeMUTF7(s string) string {
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		b.WriteByte('&')
		u := utf16.Encode(run)
		buf := make([]byte, 0, 2*len(u))
		for _, c := range u {
			buf = append(buf, byte(c>>8), byte(c))
		}
		b.WriteString(mBase64(buf))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}

// mBase64 is base64 with ',' for '/' and no padding.
func mBase64(p []byte) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"
	var b strings.Builder
	for i := 0; i < len(p); i += 3 {
		var v uint32
		n := len(p) - i
		if n > 3 {
			n = 3
		}
		for j := 0; j < 3; j++ {
			v <<= 8
			if j < n {
				v |= uint32(p[i+j])
			}
		}
		for j := 0; j < n+1; j++ {
			b.WriteByte(alpha[(v>>uint(18-6*j))&0x3f])
		}
	}
	return b.String()
}
