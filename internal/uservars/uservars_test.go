package uservars

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	v := Values{User: "Bob.Smith@Sub.Example.COM", Home: "/Home/Bob"}
	for in, want := range map[string]string{
		"%u":                         "Bob.Smith@Sub.Example.COM",
		"%n":                         "Bob.Smith",
		"%d":                         "Sub.Example.COM",
		"%h":                         "/Home/Bob",
		"%Lu":                        "bob.smith@sub.example.com",
		"%Ld/%Ln":                    "sub.example.com/bob.smith",
		"%Uu":                        "BOB.SMITH@SUB.EXAMPLE.COM",
		"%Lh":                        "/home/bob",
		"%%u":                        "%u",
		"100%%":                      "100%",
		"%{user}":                    "Bob.Smith@Sub.Example.COM",
		"%{username}":                "Bob.Smith",
		"%{domain}":                  "Sub.Example.COM",
		"%{home}":                    "/Home/Bob",
		"%L{user}":                   "bob.smith@sub.example.com",
		"%{user|lower}":              "bob.smith@sub.example.com",
		"%{user|upper}":              "BOB.SMITH@SUB.EXAMPLE.COM",
		"%{user|username}":           "Bob.Smith",
		"%{user|domain}":             "Sub.Example.COM",
		"%{user|username|lower}":     "bob.smith",
		"%{ user | domain | lower }": "sub.example.com",
		"%{user|lower|domain}":       "sub.example.com",
		"x-%n-%d":                    "x-Bob.Smith-Sub.Example.COM",
		"":                           "",
	} {
		tm, err := Parse(in, Path)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if got := tm.Expand(v); got != want {
			t.Errorf("%q = %q, want %q", in, got, want)
		}
	}
	// Without '@': %n is the whole name, %d is empty (as Dovecot).
	tm := MustParse("[%n][%d][%{user|domain}]", Address)
	if got := tm.Expand(Values{User: "local"}); got != "[local][][]" {
		t.Errorf("no domain: %q", got)
	}
	// The last '@' splits (a quoted local part may hold one).
	if got := MustParse("%n|%d", Address).Expand(Values{User: `"a@b"@c`}); got != `"a@b"|c` {
		t.Errorf("quoted local part: %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in    string
		scope Scope
		want  string
	}{
		{"%q", Path, `unknown variable "%q"`},
		{"%Lq", Path, `unknown variable "%Lq"`},
		{"%Xu", Path, "unknown modifier %X"},
		{"%Eu", Path, "unknown modifier %E"},
		{"%Hn", Path, "unknown modifier %H"},
		{"%1.3n", Path, "substring"},
		{"%-1n", Path, "substring"},
		{"%s", Address, "Postfix"},
		{"%", Path, "lone %"},
		{"abc%", Path, "lone %"},
		{"%L", Path, "not a variable"},
		{"%{user", Path, "without }"},
		{"%{foo}", Path, "unknown variable %{foo}"},
		{"%{user:default}", Path, "name:default"},
		{"%{user|md5}", Path, `unknown filter "md5"`},
		{"%{user|default('x')}", Path, "without }"},
		{"%{user|}", Path, `unknown filter ""`},
		{"%h", Address, "home is not known"},
		{"%{home}", Address, "home is not known"},
		{"%{home|domain}", Path, "apply to an address"},
		{"/x/%d/%q", Path, "offset 6"},
	} {
		_, err := Parse(tc.in, tc.scope)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.in, err, tc.want)
		}
	}
}

func TestExpandPath(t *testing.T) {
	v := Values{User: "bob@example.org", Home: "/home/bob"}
	for in, want := range map[string]string{
		"~/Maildir":            "/home/bob/Maildir",
		"~":                    "/home/bob",
		"%h/Maildir":           "/home/bob/Maildir",
		"/var/vmail/%d/%n":     "/var/vmail/example.org/bob",
		"/var/vmail/%u/~x":     "/var/vmail/bob@example.org/~x",
		"/var/vmail/%Ld/%Ln/M": "/var/vmail/example.org/bob/M",
	} {
		got, err := MustParse(in, Path).ExpandPath(v)
		if err != nil || got != want {
			t.Errorf("ExpandPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// A user name cannot climb directories or name another mailbox.
	for _, user := range []string{"../..@x", "..@x", "a/b@x", "a@../x", "@x", "a\x00b@x", "."} {
		if got, err := MustParse("/v/%d/%n", Path).ExpandPath(Values{User: user}); err == nil {
			t.Errorf("user %q became path %q", user, got)
		}
	}
	if _, err := MustParse("/v/%n", Path).ExpandPath(Values{User: "nodomain"}); err != nil {
		t.Errorf("%%n without a domain: %v", err)
	}
	if _, err := MustParse("/v/%d/%n", Path).ExpandPath(Values{User: "nodomain"}); err == nil {
		t.Errorf("an empty %%d became a path component")
	}
	for _, in := range []string{"~/Maildir", "%h/x", "/v/%{home}"} {
		if _, err := MustParse(in, Path).ExpandPath(Values{User: "a@b"}); err == nil || !strings.Contains(err.Error(), "needs a home") {
			t.Errorf("%q without a home: %v", in, err)
		}
	}
}

// FuzzParse: whatever the template, Parse does not panic, and a template
// that parses expands to the same text when it has no variables.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"%u", "%Ld/%Ln", "%{user|lower}", "~/Maildir", "%%", "%{", "%L{user|domain}", "a%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := Parse(s, Path)
		if err != nil {
			return
		}
		out := tm.Expand(Values{User: "u@d", Home: "/h"})
		if !tm.HasVars() && out != strings.ReplaceAll(s, "%%", "%") {
			t.Fatalf("%q without variables expanded to %q", s, out)
		}
	})
}

// TestExpandPathOwn: the user's own directory is where the component with
// the last variable ends, as Dovecot's mailbox_list_try_mkdir_root_parent
// splits /var/mail/%d/%2n/%n/Maildir.
func TestExpandPathOwn(t *testing.T) {
	v := Values{User: "Bob@Example.org", Home: "/home/vmail/example.org/bob"}
	for _, tc := range []struct{ tmpl, path, own string }{
		{"/var/vmail/%d/%n/Maildir", "/var/vmail/Example.org/Bob/Maildir", "/var/vmail/Example.org/Bob"},
		{"/var/vmail/%Ld/%Ln", "/var/vmail/example.org/bob", "/var/vmail/example.org/bob"},
		{"/var/vmail/%d/x%{user|username|lower}y/Maildir", "/var/vmail/Example.org/xboby/Maildir", "/var/vmail/Example.org/xboby"},
		{"/var/spool/vmail/%u", "/var/spool/vmail/Bob@Example.org", "/var/spool/vmail/Bob@Example.org"},
		{"~/Maildir", "/home/vmail/example.org/bob/Maildir", "/home/vmail/example.org/bob"},
		{"%h/Maildir", "/home/vmail/example.org/bob/Maildir", "/home/vmail/example.org/bob"},
		{"/var/vmail/fixed/Maildir", "/var/vmail/fixed/Maildir", ""},
		{"/var/vmail/100%%/Maildir", "/var/vmail/100%/Maildir", ""},
	} {
		p, own, err := MustParse(tc.tmpl, Path).ExpandPathOwn(v)
		if err != nil || p != tc.path || own != tc.own {
			t.Errorf("%s: %q own %q (%v), want %q own %q", tc.tmpl, p, own, err, tc.path, tc.own)
		}
	}
	slash := Values{User: "a@b", Home: "/h/a/"}
	if _, own, _ := MustParse("~/Maildir", Path).ExpandPathOwn(slash); own != "/h/a" {
		t.Errorf("home with trailing slash: own %q, want /h/a", own)
	}
}
