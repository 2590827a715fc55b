package dovecotconf

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// withDoveconf runs f twice for a 2.3 dovecot.conf: through the
// installed doveconf (skipped where there is none) and through the parser,
// which must agree.
func withDoveconf(t *testing.T, f func(t *testing.T)) {
	t.Run("parser", func(t *testing.T) {
		old := doveconfPath
		doveconfPath = func() string { return "" }
		t.Cleanup(func() { doveconfPath = old })
		f(t)
	})
	t.Run("doveconf", func(t *testing.T) {
		if doveconfPath() == "" {
			if os.Getenv("MAILDELIVER_REQUIRE_DOVECOT") == "1" {
				t.Fatal("doveconf is not installed (MAILDELIVER_REQUIRE_DOVECOT=1)")
			}
			t.Skip("doveconf is not installed")
		}
		f(t)
	})
}

// readAll is Read plus "every setting found": what [userdb] without
// driver, connect and user_query of its own needs.
func readAll(path string) (*Userdb, error) {
	u, err := Read(path)
	if err != nil {
		return nil, err
	}
	for _, s := range []Setting{u.Driver, u.Connect, u.UserQuery} {
		if s.Missing != "" {
			return nil, errors.New(s.Missing)
		}
	}
	return u, nil
}

// install copies testdata/dir to a temporary directory, pointing the
// seeds' absolute paths (/etc/dovecot/, /usr/local/etc/) there.
func install(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(filepath.Join("testdata", dir), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join("testdata", dir), p)
		s := strings.NewReplacer("/etc/dovecot/", dst+"/", "/usr/local/etc/", dst+"/").Replace(string(data))
		os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755)
		return os.WriteFile(filepath.Join(dst, rel), []byte(s), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// Seed 001's dovecot-sql.conf, as published: the values maildeliver's
// seed tests paste by hand (internal/lookup/seeds_test.go).
func TestSeed001SQLFile(t *testing.T) {
	dir := install(t, "seed001")
	u, err := readAll(filepath.Join(dir, "dovecot-sql.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := Userdb{
		Driver:    Setting{Value: "pgsql", From: dir + "/dovecot-sql.conf line 1 (driver)"},
		Connect:   Setting{Value: "host=localhost dbname=mails user=mailreader password=secret", From: dir + "/dovecot-sql.conf line 2 (connect)"},
		UserQuery: Setting{Value: `SELECT '/home/'||home AS home, uid, gid FROM users WHERE userid = '%u'`, From: dir + "/dovecot-sql.conf line 5 (user_query)"},
	}
	if *u != want {
		t.Errorf("got  %+v\nwant %+v", *u, want)
	}
}

// Seed 001's dovecot.conf mixes 2.4 (mail_driver, "userdb sql {") with
// 2.3 (args): Dovecot 2.3 refuses it, and so does Read, in one line:
// doveconf's own error, or the parser's.
func TestSeed001DovecotConf(t *testing.T) {
	dir := install(t, "seed001")
	withDoveconf(t, func(t *testing.T) {
		_, err := Read(filepath.Join(dir, "dovecot.conf"))
		if err == nil || !strings.Contains(err.Error(), "Unknown setting: mail_driver") &&
			!strings.Contains(err.Error(), `a userdb has no driver ("userdb sql {" is Dovecot 2.4 syntax`) {
			t.Fatalf("Read = %v", err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	})
}

// Seed 002: passdb sql beside a static userdb. The sql file alone has no
// user_query; through dovecot.conf the password_query tells who exists.
func TestSeed002(t *testing.T) {
	dir := install(t, "seed002")
	if _, err := readAll(filepath.Join(dir, "dovecot-sql.conf")); err == nil || !strings.Contains(err.Error(), "no user_query") {
		t.Errorf("sql file alone: %v, want no user_query", err)
	}
	withDoveconf(t, func(t *testing.T) {
		u, err := readAll(filepath.Join(dir, "dovecot.conf"))
		if err != nil {
			t.Fatal(err)
		}
		if u.Driver.Value != "mysql" || u.Connect.Value != "host=127.0.0.1 dbname=mail user=mail_admin password=password-for-mail_admin" ||
			u.UserQuery.Value != "SELECT email as user, password FROM users WHERE email='%u';" {
			t.Errorf("got %+v", *u)
		}
		if !strings.HasPrefix(u.UserQuery.From, dir+"/dovecot-sql.conf line 4 (password_query); named by ") ||
			!strings.Contains(u.UserQuery.From, "the userdb is static") {
			t.Errorf("provenance %q", u.UserQuery.From)
		}
		// The inbox namespace's "separator = .": [mail] separator.
		if u.Separator.Value != "." || !strings.HasPrefix(u.Separator.From, dir+"/dovecot.conf") ||
			!strings.HasSuffix(u.Separator.From, "(inbox namespace separator)") {
			t.Errorf("separator %+v", u.Separator)
		}
		// and its "prefix = INBOX.": [mail] prefix.
		if u.Prefix.Value != "INBOX." || !strings.HasPrefix(u.Prefix.From, dir+"/dovecot.conf") ||
			!strings.HasSuffix(u.Prefix.From, "(inbox namespace prefix)") {
			t.Errorf("prefix %+v", u.Prefix)
		}
	})
}

// A dovecot.conf without an inbox namespace separator says so: the
// layout's own ("" ), with where it looked; a bare SQL file cannot say.
func TestSeparatorDefault(t *testing.T) {
	dir := t.TempDir()
	sql := filepath.Join(dir, "sql.conf.ext")
	os.WriteFile(sql, []byte("driver = sqlite\nconnect = /x.db\nuser_query = SELECT 1 FROM u WHERE a = '%u'\n"), 0o644)
	for name, ns := range map[string]string{
		"none":         "",
		"no-separator": "namespace inbox {\n  inbox = yes\n  prefix =\n}\n",
		"not-inbox":    "namespace inbox {\n  inbox = yes\n}\nnamespace shared {\n  type = shared\n  separator = /\n  prefix = shared/%%u/\n  location = maildir:/srv/%%u\n}\n",
	} {
		conf := filepath.Join(dir, name+".conf")
		os.WriteFile(conf, []byte("userdb {\n  driver = sql\n  args = "+sql+"\n}\n"+ns), 0o644)
		withDoveconf(t, func(t *testing.T) {
			u, err := Read(conf)
			if err != nil {
				t.Fatal(err)
			}
			if u.Separator.Value != "" || !strings.HasPrefix(u.Separator.From, conf) {
				t.Errorf("%s: separator %+v", name, u.Separator)
			}
			// The shared namespace's prefix is not the inbox's.
			if u.Prefix.Value != "" || !strings.HasPrefix(u.Prefix.From, conf) {
				t.Errorf("%s: prefix %+v", name, u.Prefix)
			}
		})
	}
	if u, err := Read(sql); err != nil || u.Separator != (Setting{}) {
		t.Errorf("sql file: %+v, %v", u, err)
	}
}

// Seed 004 authenticates through PAM with a static userdb: nothing to read.
func TestSeed004(t *testing.T) {
	dir := install(t, "seed004")
	withDoveconf(t, func(t *testing.T) {
		_, err := Read(filepath.Join(dir, "dovecot.conf"))
		if err == nil || !strings.Contains(err.Error(), "the userdb is static and there is no passdb sql") {
			t.Fatalf("Read = %v", err)
		}
	})
}

func TestV24(t *testing.T) {
	dir := install(t, "v24")
	for _, tc := range []struct {
		file                   string
		driver, connect, query string
		connectFrom, queryFrom string
	}{
		{"pgsql.conf", "pgsql", "host=localhost dbname=mails user=mailreader password=secret",
			`SELECT '/home/'||home AS home, uid, gid FROM users WHERE userid = '%{user}'`,
			"conf.d/10-sql.conf line 3 (pgsql localhost { })", "conf.d/20-auth.conf line 10 (userdb sql { }: query)"},
		{"mysql.conf", "mysql", "host=127.0.0.1 port=3306 dbname=mail user=mail_admin password=password-for-mail_admin connect_timeout=5",
			`SELECT email AS user, password FROM users WHERE email = '%{user | lower}'`,
			"mysql.conf line 11 (mysql 127.0.0.1 { })", "mysql.conf line 19 (passdb sql { }: query); the userdb is static, so the passdb tells who exists"},
		{"sqlite.conf", "sqlite", "/var/lib/maildeliver/users.db", `SELECT home, uid, gid FROM users WHERE userid = '%{user}'`,
			"sqlite.conf line 5 (sqlite_path)", "sqlite.conf line 9 (userdb users { }: userdb_sql_query)"},
	} {
		u, err := readAll(filepath.Join(dir, tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if u.Driver.Value != tc.driver || u.Connect.Value != tc.connect || u.UserQuery.Value != tc.query {
			t.Errorf("%s: got %+v", tc.file, *u)
		}
		if u.Connect.From != dir+"/"+tc.connectFrom || u.UserQuery.From != dir+"/"+tc.queryFrom {
			t.Errorf("%s: provenance %q, %q", tc.file, u.Connect.From, u.UserQuery.From)
		}
	}
}

// Each file in testdata/bad starts with "# want: TEXT": reading it fails
// with one line containing TEXT (2.3 dovecot.conf files both ways).
func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*")
	if len(files) < 10 {
		t.Fatalf("%d files", len(files))
	}
	for _, f := range files {
		abs, _ := filepath.Abs(f)
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(fh).ReadString('\n')
		fh.Close()
		want := strings.TrimSpace(strings.TrimPrefix(line, "# want:"))
		check := func(t *testing.T) {
			_, err := readAll(abs)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Read = %v, want error containing %q", err, want)
			}
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), abs) {
				t.Errorf("want one line naming the file, got %q", err)
			}
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			if strings.HasPrefix(filepath.Base(f), "v23-") {
				withDoveconf(t, check)
			} else {
				check(t)
			}
		})
	}
}

func TestMissingAndRelative(t *testing.T) {
	if _, err := Read("/nonexistent/maildeliver-test/dovecot.conf"); err == nil ||
		err.Error() != "cannot read /nonexistent/maildeliver-test/dovecot.conf: no such file or directory" {
		t.Errorf("missing: %v", err)
	}
	if _, err := Read("dovecot.conf"); err == nil || !strings.Contains(err.Error(), "absolute path") {
		t.Errorf("relative: %v", err)
	}
}

// The doveconf on this machine is really the one used for a 2.3
// dovecot.conf: a setting only doveconf rejects shows its error.
func TestDoveconfUsed(t *testing.T) {
	if doveconfPath() == "" {
		if _, err := exec.LookPath("dovecot"); err == nil {
			t.Fatal("dovecot is installed but doveconf was not found")
		}
		t.Skip("doveconf is not installed")
	}
	p := filepath.Join(t.TempDir(), "dovecot.conf")
	os.WriteFile(p, []byte("no_such_dovecot_setting = 1\nuserdb {\n  driver = passwd\n}\n"), 0o644)
	_, err := Read(p)
	if err == nil || !strings.Contains(err.Error(), "doveconf -n: ") || !strings.Contains(err.Error(), "Unknown setting: no_such_dovecot_setting") {
		t.Fatalf("Read = %v, want doveconf's error", err)
	}
}

// Debian's layout: conf.d/*.conf, auth-sql.conf.ext, and a
// dovecot-sql.conf.ext with a quoted connect (a '#' in the password), a
// continued query and an !include_try of its own.
func TestDebianLayout(t *testing.T) {
	dir := install(t, "debian")
	withDoveconf(t, func(t *testing.T) {
		u, err := readAll(filepath.Join(dir, "dovecot.conf"))
		if err != nil {
			t.Fatal(err)
		}
		want := Userdb{
			Driver:    Setting{Value: "mysql"},
			Connect:   Setting{Value: "host=/var/run/mysqld/mysqld.sock dbname=mails user=admin password=foo#bar"},
			UserQuery: Setting{Value: "SELECT home, uid, gid FROM users WHERE username = '%Ln' AND domain = '%Ld'"},
		}
		if u.Driver.Value != want.Driver.Value || u.Connect.Value != want.Connect.Value || u.UserQuery.Value != want.UserQuery.Value {
			t.Errorf("got %+v", *u)
		}
		if !strings.HasPrefix(u.UserQuery.From, dir+"/dovecot-sql-user.conf.ext line 1 (user_query); named by ") {
			t.Errorf("provenance %q", u.UserQuery.From)
		}
	})
}

// Dovecot 2.4: the inbox namespace's separator, inside the block or by its
// global name.
func TestSeparatorV24(t *testing.T) {
	base, err := os.ReadFile("testdata/v24/sqlite.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, tc := range map[string]struct{ ns, want, prefix string }{
		"inside": {"namespace inbox {\n  inbox = yes\n  separator = /\n  prefix = INBOX/\n}\n", "/", "INBOX/"},
		"global": {"namespace_separator = .\nnamespace_prefix = INBOX.\nnamespace inbox {\n  inbox = yes\n}\n", ".", "INBOX."},
		"unset":  {"namespace inbox {\n  inbox = yes\n}\n", "", ""},
	} {
		conf := filepath.Join(dir, name+".conf")
		os.WriteFile(conf, append(append([]byte{}, base...), tc.ns...), 0o644)
		u, err := Read(conf)
		if err != nil {
			t.Fatal(err)
		}
		if u.Separator.Value != tc.want || !strings.HasPrefix(u.Separator.From, conf) {
			t.Errorf("%s: separator %+v, want %q", name, u.Separator, tc.want)
		}
		if u.Prefix.Value != tc.prefix || !strings.HasPrefix(u.Prefix.From, conf) {
			t.Errorf("%s: prefix %+v, want %q", name, u.Prefix, tc.prefix)
		}
	}
}
