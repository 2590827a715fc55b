package config

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Each file in testdata/bad starts with "# want: TEXT"; loading it must fail
// with an error containing TEXT.
func TestBadConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.toml")
	if len(files) == 0 {
		t.Fatal("no test data")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(fh).ReadString('\n')
			fh.Close()
			want := strings.TrimSpace(strings.TrimPrefix(line, "# want:"))
			_, err = Load(f)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Load = %v, want error containing %q", err, want)
			}
		})
	}
}

func TestSpecExample(t *testing.T) {
	c, err := Load("testdata/good/spec-example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Userdb.Driver != "pgsql" || c.Userdb.Timeout.D() != 5*time.Second || c.LMTP.MaxMessageSize != 50<<20 ||
		c.LMTP.SocketMode != 0o660 || c.Mail.MinUID != 500 || !c.Mail.DetailFolder {
		t.Fatalf("unexpected values: %+v", c)
	}
	eff := c.Effective()
	if strings.Contains(eff, "secret") {
		t.Fatalf("password not masked:\n%s", eff)
	}
	// The effective config is itself a valid config file.
	if _, err := Parse([]byte(eff), "effective"); err != nil {
		t.Fatalf("effective config does not load: %v\n%s", err, eff)
	}
}

func TestDefaultsValid(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(nil, "empty")
	if err != nil {
		t.Fatal(err)
	}
	if c.Userdb.Driver != "sqlite" || c.Quota.Full != "bounce" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestMaskSecrets(t *testing.T) {
	for in, want := range map[string]string{
		"host=x password=secret user=u":        "host=x password=******** user=u",
		"host=x password='a b' user=u":         "host=x password=******** user=u",
		"postgres://u:secret@h/db":             "postgres://u:********@h/db",
		"root:secret@tcp(127.0.0.1:3306)/mail": "root:********@tcp(127.0.0.1:3306)/mail",
		"/var/lib/users.db":                    "/var/lib/users.db",
		// go-sql-driver splits at the last '@' before the last '/'
		"root:p@ss:w@tcp(127.0.0.1:3306)/mail":  "root:********@tcp(127.0.0.1:3306)/mail",
		"root@tcp(127.0.0.1:3306)/mail":         "root@tcp(127.0.0.1:3306)/mail",
		"host=/run/mysqld user=a@b password=xx": "host=/run/mysqld user=a@b password=********",
	} {
		if got := MaskSecrets(in); got != want {
			t.Errorf("MaskSecrets(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMaskText: error texts keep the database's words and lose the
// connect string's secrets, whatever form it has.
func TestMaskText(t *testing.T) {
	for _, tc := range []struct{ text, connect, want string }{
		{"lookup: connect: Error 1045 (28000): Access denied for user 'x'@'host' (using password: YES)",
			"x:secret@tcp(h:3306)/db",
			"lookup: connect: Error 1045 (28000): Access denied for user 'x'@'host' (using password: YES)"},
		{"dial x:p@ss:w@tcp(h)/db failed: p@ss:w", "x:p@ss:w@tcp(h)/db", "dial x:********@tcp(h)/db failed: ********"},
		{"bad: password='a b' and a b", "host=h password='a b'", "bad: password=******** and ********"},
		{"to postgres://u:pw9@h/db: refused", "postgres://u:pw9@h/db", "to postgres://u:********@h/db: refused"},
		{"quoted postgres://v:other@h/db", "/var/lib/users.db", "quoted postgres://v:********@h/db"},
	} {
		if got := MaskText(tc.text, tc.connect); got != tc.want {
			t.Errorf("MaskText(%q, %q) = %q, want %q", tc.text, tc.connect, got, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"": 0, "0": 0, "100": 100, "1k": 1024, "1K": 1024, "50M": 50 << 20, "1G": 1 << 30, "2T": 2 << 40,
		"10MB": 10 << 20, "5 M": 5 << 20,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "1X", "-1", "99999999999999999999", "9999999999T"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

func TestUserdbSocket(t *testing.T) {
	c, err := Parse([]byte("[userdb]\nsocket = \"/run/maildeliver/userdb\"\nsocket_mode = \"0666\"\nsocket_group = \"vmail\"\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	if c.Userdb.Socket != "/run/maildeliver/userdb" || c.Userdb.SocketMode != 0o666 || c.Userdb.SocketGroup != "vmail" {
		t.Errorf("parsed %+v", c.Userdb)
	}
	if d := Defaults().Userdb; d.Socket != "" || d.SocketMode != 0o660 || d.SocketGroup != "" {
		t.Errorf("defaults %+v: want socket off, 0660, the process's group", d)
	}
	if _, err := Parse([]byte("[userdb]\nsocket_mode = \"01777\"\n"), "t"); err == nil || !strings.Contains(err.Error(), "userdb.socket_mode") {
		t.Errorf("socket_mode 01777: %v", err)
	}
}

// The Dovecot 2.4 keys are the location's other form: either, not both;
// the effective config of a 2.4-form file loads again.
func TestDovecot24Keys(t *testing.T) {
	c, err := Parse([]byte("[mail]\ndriver = \"maildir\"\npath = \"/var/vmail/%{user|domain}/%{user|username}\"\nlayout = \"fs\"\ninbox_path = \"~/inbox\"\nutf8 = true\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Mail.MailLocation()
	if err != nil || l.Naming().Layout.String() != "fs" || !l.Naming().UTF8 {
		t.Fatalf("location %v, %v", l, err)
	}
	if _, err := Parse([]byte(c.Effective()), "effective"); err != nil {
		t.Fatalf("effective config does not load: %v\n%s", err, c.Effective())
	}
	if _, err := Parse([]byte("[mail]\nlocation = \"\"\npath = \"~/Maildir\"\n"), "t"); err != nil {
		t.Errorf("empty location beside path: %v", err)
	}
	if _, err := Parse([]byte("[mail]\nlocation = \"\"\n"), "t"); err == nil {
		t.Error("empty location without the 2.4 keys accepted")
	}
	if c := Defaults(); c.Userdb.UsernameFormat != "%Lu" || !c.Mail.Autosubscribe {
		t.Errorf("defaults: username_format %q autosubscribe %v", c.Userdb.UsernameFormat, c.Mail.Autosubscribe)
	}
}
