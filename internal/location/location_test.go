package location

import (
	"strings"
	"testing"

	"maildeliver/internal/maildir"
	"maildeliver/internal/uservars"
)

var bob = uservars.Values{User: "Bob@Example.COM", Home: "/home/bob"}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mailbox
	}{
		{"maildir:~/Maildir", Mailbox{Root: "/home/bob/Maildir"}},
		{"maildir:/var/vmail/%Ld/%Ln/Maildir", Mailbox{Root: "/var/vmail/example.com/bob/Maildir"}},
		{"/bare/%Lu", Mailbox{Root: "/bare/bob@example.com"}},
		{"maildir:~/Maildir:LAYOUT=fs", Mailbox{Root: "/home/bob/Maildir", Naming: maildir.Naming{Layout: maildir.FS}}},
		{"maildir:~/Maildir:LAYOUT=maildir++", Mailbox{Root: "/home/bob/Maildir"}},
		{"maildir:~/Maildir:UTF-8", Mailbox{Root: "/home/bob/Maildir", Naming: maildir.Naming{UTF8: true}}},
		{"maildir:~/Maildir:UTF8", Mailbox{Root: "/home/bob/Maildir", Naming: maildir.Naming{UTF8: true}}},
		{"maildir:~/Maildir:INBOX=/var/mail/%Ln", Mailbox{Root: "/home/bob/Maildir", Inbox: "/var/mail/bob"}},
		{"maildir:~/Maildir:CONTROL=~/control:SUBSCRIPTIONS=subs",
			Mailbox{Root: "/home/bob/Maildir", Subscriptions: maildir.Subscriptions{Dir: "/home/bob/control", File: "subs"}}},
		{"maildir:~/Maildir:INDEX=/var/index/%Ln:INDEXPVT=~/pvt:VOLATILEDIR=/tmp/v:LISTINDEX=l:ITERINDEX:NO-NOSELECT",
			Mailbox{Root: "/home/bob/Maildir"}},
		{"maildir:~/Maildir:INDEX=MEMORY", Mailbox{Root: "/home/bob/Maildir"}},
		{"maildir:/odd::name/%Ln", Mailbox{Root: "/odd:name/bob"}},
		{"maildir:~/Maildir/", Mailbox{Root: "/home/bob/Maildir"}},
	} {
		l, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		got, err := l.Expand(bob, nil)
		got.RootOwn, got.InboxOwn = "", "" // TestOwn
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		"maildir:":                      "no path",
		"mbox:~/mail":                   `driver "mbox"`,
		"sdbox:~/dbox":                  `driver "sdbox"`,
		"maildir:~/M:LAYOUT=index":      `layout "index" is not supported`,
		"maildir:~/M:LAYOUT=imapdir":    `unknown layout "imapdir"`,
		"maildir:~/M:ALT=/alt":          "ALT is not supported",
		"maildir:~/M:MAILBOXDIR=x":      "MAILBOXDIR is not supported",
		"maildir:~/M:DIRNAME=x":         "DIRNAME is not supported",
		"maildir:~/M:BROKENCHAR=%":      "BROKENCHAR is not supported",
		"maildir:~/M:FOO=bar":           `unknown option "FOO=bar"`,
		"maildir:~/M:layout=fs":         `unknown option "layout=fs"`,
		"maildir:~/M:LAYOUT":            `unknown option "LAYOUT"`,
		"maildir:~/M:INBOX=":            "INBOX: empty path",
		"maildir:~/M:INBOX=/x/%q":       `unknown variable "%q"`,
		"maildir:~/M:INDEX=/i/%{nope}":  "unknown variable %{nope}",
		"maildir:~/M:SUBSCRIPTIONS=a/b": "want a file name",
		"maildir:/v/%Xn":                "unknown modifier %X",
		"maildir:/v/%{user|md5}":        `unknown filter "md5"`,
		"maildir:~/M:UTF-8=yes":         `unknown option "UTF-8=yes"`,
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

func TestExpandRefuses(t *testing.T) {
	for _, tc := range []struct {
		loc     string
		v       uservars.Values
		allowed []string
		want    string
	}{
		{"maildir:v/%n", bob, nil, "not absolute"},
		{"maildir:~/M", uservars.Values{User: "a@b"}, nil, "needs a home"},
		{"maildir:/v/%d/%n", uservars.Values{User: "../..@.."}, nil, "not a safe path component"},
		{"maildir:%h/M", uservars.Values{User: "a@b", Home: "/x/../etc"}, nil, ".."},
		{"maildir:/srv/%n", bob, []string{"/home"}, "outside mail.allowed_roots"},
		{"maildir:/home/%n:INBOX=/var/mail/%n", bob, []string{"/home"}, "INBOX: maildir \"/var/mail/Bob\" is outside"},
		{"maildir:/home/%n:CONTROL=/etc/%n", bob, []string{"/home"}, "CONTROL:"},
	} {
		l, err := Parse(tc.loc)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := l.Expand(tc.v, tc.allowed); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q for %+v: %+v, %v; want an error with %q", tc.loc, tc.v, m, err, tc.want)
		}
	}
}

func TestFromKeys(t *testing.T) {
	l, err := FromKeys(Keys{Driver: "maildir", Path: "/v/%{user|domain|lower}/%{user|username|lower}",
		InboxPath: "~/inbox", Layout: "fs", UTF8: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.Expand(bob, nil)
	want := Mailbox{Root: "/v/example.com/bob", Inbox: "/home/bob/inbox", RootOwn: "/v/example.com/bob", InboxOwn: "/home/bob", Naming: maildir.Naming{Layout: maildir.FS, UTF8: true}}
	if err != nil || m != want {
		t.Errorf("%+v, %v; want %+v", m, err, want)
	}
	if l, err := FromKeys(Keys{Driver: "maildir"}); err != nil {
		t.Error(err)
	} else if m, _ := l.Expand(bob, nil); m.Root != "/home/bob/Maildir" {
		t.Errorf("default path: %q", m.Root)
	}
	for k, want := range map[Keys]string{
		{Driver: "mdbox"}:                     `driver "mdbox"`,
		{Path: "~/M", Layout: "index"}:        `layout "index"`,
		{Path: "~/M", InboxPath: "/i/%{x}"}:   "unknown variable %{x}",
		{Path: "/v/%{user|domain(1)}"}:        `unknown filter "domain(1)"`,
		{Path: "/v/%{user|username|upper"}:    "without }",
		{Path: "/v/%{home|username}"}:         "apply to an address",
		{Path: "/v/%{user|lower|truncate}"}:   `unknown filter "truncate"`,
		{Path: "/v/%{user|default('x')}"}:     "without }",
		{Path: "/v/%{user|substr(1,2)}"}:      `unknown filter "substr(1,2)"`,
		{Path: "/v/%{user|lower}%{nobody}"}:   "unknown variable %{nobody}",
		{Path: "/v/%{user|lower}%{home|md5}"}: `unknown filter "md5"`,
	} {
		if _, err := FromKeys(k); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("FromKeys(%+v) = %v, want an error with %q", k, err, want)
		}
	}
}

// FuzzParse: no location string panics Parse or Expand, and an expanded
// root is always absolute and free of "..".
func FuzzParse(f *testing.F) {
	for _, s := range []string{"maildir:~/Maildir", "maildir:/v/%Ld/%Ln:LAYOUT=fs:INBOX=/i/%n:UTF-8",
		"maildir:/a::b:CONTROL=~/c:SUBSCRIPTIONS=s", "/bare", "mbox:x", "maildir::", "maildir:/v/%{user|lower}"} {
		f.Add(s, "Bob@Example.COM")
	}
	f.Fuzz(func(t *testing.T, s, user string) {
		l, err := Parse(s)
		if err != nil {
			return
		}
		m, err := l.Expand(uservars.Values{User: user, Home: "/home/h"}, nil)
		if err != nil {
			return
		}
		for _, p := range []string{m.Root, m.Inbox, m.Subscriptions.Dir} {
			if p != "" && (!strings.HasPrefix(p, "/") || maildir.CheckPath(p) != nil) {
				t.Fatalf("%q for %q: unsafe path %q", s, user, p)
			}
		}
	})
}

// TestOwn: the user's own directory, above which missing directories are
// shared (Dovecot's rule: where the last variable ends; without a variable
// the home when the path lies in it, else the path).
func TestOwn(t *testing.T) {
	for _, tc := range []struct{ loc, root, inbox string }{
		{"maildir:/var/vmail/%Ld/%Ln/Maildir", "/var/vmail/example.com/bob", ""},
		{"maildir:/var/vmail/%Ld/%Ln", "/var/vmail/example.com/bob", ""},
		{"maildir:~/Maildir", "/home/bob", ""},
		{"maildir:/home/bob/Maildir", "/home/bob", ""},
		{"maildir:/var/vmail/example.com/bob/", "/var/vmail/example.com/bob", ""},
		{"maildir:~/Maildir:INBOX=/var/mail/%Ln/inbox", "/home/bob", "/var/mail/bob"},
	} {
		l, err := Parse(tc.loc)
		if err != nil {
			t.Fatal(err)
		}
		m, err := l.Expand(bob, nil)
		if err != nil || m.RootOwn != tc.root || m.InboxOwn != tc.inbox {
			t.Errorf("%s: own %q inbox own %q (%v), want %q %q", tc.loc, m.RootOwn, m.InboxOwn, err, tc.root, tc.inbox)
		}
	}
}
