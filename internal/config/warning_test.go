package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseQuotaWarning(t *testing.T) {
	for in, want := range map[string]string{
		"80%": "80%", " 95 % ": "95%", "storage=95%": "storage=95%", "messages = 90%": "messages=90%",
		"storage=95%%": "storage=95%", "100%": "100%", "1%": "1%",
	} {
		w, err := ParseQuotaWarning(in)
		if err != nil || w.String() != want {
			t.Errorf("ParseQuotaWarning(%q) = %v, %v; want %s", in, w, err, want)
		}
	}
	for _, in := range []string{"", "80", "0%", "101%", "-5%", "bytes=80%", "storage=", "80.5%", "1G", "storage=80% quota-warning 80 %u"} {
		if w, err := ParseQuotaWarning(in); err == nil {
			t.Errorf("ParseQuotaWarning(%q) = %v, want an error", in, w)
		}
	}
}

func TestWarningTemplate(t *testing.T) {
	good := map[string]string{
		"Subject: %{percent}% full\n\nbody %u\n":                        "Subject: 80% full|body user@example.org\n",
		"\nonly a body, 100%% = %n@%d\n":                                "only a body, 100% = user@example.org\n",
		"Subject: a\n  folded\nX-A: b\r\n\r\nx":                         "Subject: a\n  folded|X-A: b|x",
		"From: <postmaster@%{domain}>\n\n%{usage}/%{limit} %{resource}": "From: <postmaster@example.org>|820 MiB/1 GiB storage",
	}
	for in, want := range good {
		tmpl, err := ParseWarningTemplate(in)
		if err != nil {
			t.Errorf("ParseWarningTemplate(%q): %v", in, err)
			continue
		}
		x, _ := tmpl.Expand(warningVars)
		if got := strings.Join(append(x.Fields, x.Body), "|"); got != want {
			t.Errorf("ParseWarningTemplate(%q) expands to %q, want %q", in, got, want)
		}
	}
	bad := map[string]string{
		"Subject: x\nbody without a blank line\n": "want header fields",
		"just text\n\nbody":                       "not a header field",
		"To: someone@else\n\nx":                   "may not be set",
		"Message-ID: <x@y>\n\nx":                  "may not be set",
		"Subject: %x\n\nx":                        "unknown variable %x",
		"Subject: s\n\n%{quota}":                  "unknown variable %{quota}",
		"Subject: s\n\n%{percent":                 "without }",
		" folded first\n\nx":                      "continuation line",
		"Subject: s\n\nNUL\x00":                   "NUL",
	}
	for in, want := range bad {
		if _, err := ParseWarningTemplate(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseWarningTemplate(%q) = %v, want an error with %q", in, err, want)
		}
	}
	// Values cannot add fields.
	tmpl, _ := ParseWarningTemplate("Subject: %u\n\nx")
	x, _ := tmpl.Expand(map[string]string{"u": "a\nBcc: evil@x"})
	if x.Fields[0] != "Subject: a Bcc: evil@x" {
		t.Errorf("a value with LF expands to %q", x.Fields[0])
	}
}

// The template is read at load: -check fails on a bad one, naming it.
func TestWarningMessageLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("Subject: full\n\n%u is %{percent}% full\n"), 0o600)
	badT := filepath.Join(dir, "bad.txt")
	os.WriteFile(badT, []byte("Subject: %{nope}\n\nx\n"), 0o600)
	c, err := Parse([]byte("[quota]\nwarning = [\"95%\", \"storage=80%\"]\nwarning_message = \""+good+"\"\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	if c.WarningTemplate() == nil || len(c.QuotaWarnings()) != 2 {
		t.Errorf("template %v, warnings %v", c.WarningTemplate(), c.QuotaWarnings())
	}
	for _, tc := range []struct{ conf, want string }{
		{"[quota]\nwarning_message = \"" + badT + "\"\n", "bad.txt: unknown variable %{nope}"},
		{"[quota]\nwarning_message = \"" + filepath.Join(dir, "missing") + "\"\n", "no such file"},
		{"[quota]\nwarning_message = \"rel.txt\"\n", "absolute path"},
		{"[quota]\nwarning = [\"80\"]\n", "quota.warning"},
		{"[quota_status]\nlisten = \"systemd\"\n", "quota_status.listen"},
		{"[quota_status]\nlisten = \"unix:rel\"\n", "quota_status.listen"},
		{"[quota_status]\nmax_connections = 0\n", "max_connections"},
		{"[quota_status]\ntimeout = \"0s\"\n", "timeouts"},
	} {
		if _, err := Parse([]byte(tc.conf), "t"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.conf, err, tc.want)
		}
	}
	if _, err := Parse([]byte("[quota_status]\nlisten = \"tcp:127.0.0.1:12340\"\n"), "t"); err != nil {
		t.Error(err)
	}
}
