package main

// Integration tests: they build the real deliver binary and run it as
// Postfix or an administrator would, against real PostgreSQL, MariaDB and
// SQLite userdbs. Most need root (deliver drops to the mailbox uid).

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"maildeliver/internal/testdb"
)

var (
	binary      string // deliver
	faultBinary string // deliver built with -tags faultinject
	nosqlBinary string // deliver built with -tags maildeliver_nosql
)

// superviseLDFlags links deliver's supervising entry point (supervise.go).
const superviseLDFlags = "-E=main.entry"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deliver-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // runnable by the test's non-root uids
	binary = filepath.Join(dir, "deliver")
	faultBinary = filepath.Join(dir, "deliver-fault")
	nosqlBinary = filepath.Join(dir, "deliver-nosql")
	for _, b := range [][]string{{"-o", binary}, {"-tags", "faultinject", "-o", faultBinary},
		{"-tags", "maildeliver_nosql", "-o", nosqlBinary}} {
		// As scripts/build.sh links it: with the supervising entry point.
		b = append([]string{"-ldflags=" + superviseLDFlags}, b...)
		cmd := exec.Command("go", append([]string{"build"}, append(b, ".")...)...)
		// As scripts/build.sh ships it: statically linked.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building deliver:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("MAILDELIVER_ALLOW_NONROOT") == "1" {
			t.Skip("needs root (changes uid); MAILDELIVER_ALLOW_NONROOT=1")
		}
		t.Fatal("this test needs root: deliver must drop to the mailbox uid (set MAILDELIVER_ALLOW_NONROOT=1 to skip)")
	}
}

// env is one userdb + config + mail base directory.
type env struct {
	t    *testing.T
	dir  string // world-traversable base of everything
	conf string
	log  string
	db   *testdb.DB
}

// newEnv writes a config for db. extra is appended to the TOML (sections
// [mail] etc. may be given whole; mailSection holds [mail] keys).
func newEnv(t *testing.T, db *testdb.DB, userQuery, mailSection, extra string) *env {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	e := &env{t: t, dir: dir, conf: filepath.Join(dir, "maildeliver.toml"), log: filepath.Join(dir, "deliver.log"), db: db}
	// deliver appends to it as root and as the pipe user
	if err := os.WriteFile(e.log, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(e.log, 0o666)
	conf := fmt.Sprintf(`hostname = "mx.test.example"
[log]
target = "file:%s"
[userdb]
driver = %q
connect = %q
user_query = %q
timeout = "2s"
[mail]
%s
%s
`, e.log, db.Driver, db.Connect, userQuery, mailSection, extra)
	if err := os.WriteFile(e.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// mkdirOwned creates a directory under e.dir owned by uid/gid, as an
// administrator prepares the base of a domain.
func (e *env) mkdirOwned(rel string, uid, gid int) string {
	p := filepath.Join(e.dir, rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		e.t.Fatal(err)
	}
	return p
}

type result struct {
	out  string // stdout + stderr
	code int
}

func runDeliver(t *testing.T, bin string, cred *syscall.Credential, envv []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), envv...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out: out.String(), code: code}
}

func (e *env) deliver(stdin string, args ...string) result {
	e.t.Helper()
	return runDeliver(e.t, binary, nil, nil, stdin, append([]string{"-c", e.conf}, args...)...)
}

const testMsg = "From: Alice <alice@example.net>\r\nTo: someone\r\nSubject: test \xe2\x82\xac\r\n" +
	"Message-ID: <m1@example.net>\r\n\r\nBody line 1\r\n\xe2\x82\xac 8-bit line\r\n.leading dot\r\n..two dots\r\n\r\nlast line\r\n"

// wantBody is testMsg's header + body as it must land: LF line endings.
var wantStored = strings.ReplaceAll(testMsg, "\r\n", "\n")

var fileRE = regexp.MustCompile(`^\d+\.M\d+P\d+Q\d+R[0-9a-f]{8}\.mx\.test\.example,S=(\d+)$`)

// onlyFile returns the single file in dir (failing otherwise).
func onlyFile(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Fatalf("%s holds %d files, want 1", dir, len(ents))
	}
	return filepath.Join(dir, ents[0].Name())
}

// checkDelivered verifies the one message in maildir/new: name, size,
// owner, mode, exactly one Return-Path and Delivered-To, original bytes.
func checkDelivered(t *testing.T, newDir, sender, rcpt string, uid, gid int, original string) {
	t.Helper()
	p := onlyFile(t, newDir)
	m := fileRE.FindStringSubmatch(filepath.Base(p))
	if m == nil {
		t.Fatalf("file name %q does not follow the scheme", filepath.Base(p))
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != fmt.Sprint(len(data)) {
		t.Errorf("S=%s but file has %d bytes", m[1], len(data))
	}
	want := "Return-Path: <" + sender + ">\nDelivered-To: " + rcpt + "\n" + original
	if string(data) != want {
		t.Errorf("content:\n%q\nwant\n%q", data, want)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if int(st.Uid) != uid || int(st.Gid) != gid || st.Mode&0o777 != 0o600 {
		t.Errorf("owner %d:%d mode %o, want %d:%d 0600", st.Uid, st.Gid, st.Mode&0o777, uid, gid)
	}
	for _, sub := range []string{"tmp", "cur", "new"} {
		if err := syscall.Stat(filepath.Join(filepath.Dir(newDir), sub), &st); err != nil {
			t.Fatal(err)
		}
		if int(st.Uid) != uid || st.Mode&0o777 != 0o700 {
			t.Errorf("%s owner %d mode %o, want %d 0700", sub, st.Uid, st.Mode&0o777, uid)
		}
	}
}

// TestSpecSetups delivers in each of SPEC's four "examples that must work
// unchanged", with the seeds' schemas and queries.
func TestSpecSetups(t *testing.T) {
	requireRoot(t)
	t.Run("seed000-postgres-uid-per-domain", func(t *testing.T) {
		db := testdb.Postgres(t)
		db.Exec(t, testdb.Seed000+testdb.Seed000Data)
		seed000(t, db)
	})
	t.Run("seed000-sqlite", func(t *testing.T) {
		db := testdb.SQLite(t, t.TempDir())
		db.Exec(t, testdb.Seed000+testdb.Seed000Data)
		seed000(t, db)
	})
	t.Run("seed002-mysql-static-vmail", func(t *testing.T) {
		db := testdb.MySQL(t)
		db.Exec(t, testdb.Seed002)
		e := newEnv(t, db, "SELECT email FROM users WHERE email='%u'", "", "")
		base := e.mkdirOwned("home/vmail", 5000, 5000)
		rewriteMail(t, e, fmt.Sprintf("location = \"maildir:%s/%%d/%%n/Maildir\"\nuid = 5000\ngid = 5000", base))
		r := e.deliver(testMsg, "-f", "alice@example.net", "-d", "sales@centos.bz")
		if r.code != 0 || r.out != "" {
			t.Fatalf("exit %d output %q", r.code, r.out)
		}
		checkDelivered(t, filepath.Join(base, "centos.bz/sales/Maildir/new"), "alice@example.net", "sales@centos.bz", 5000, 5000, wantStored)
		// Mixed case: MySQL's collation matches, and %d/%n must still be
		// the lower-case directory Dovecot (auth_username_format %Lu) reads.
		r = e.deliver(testMsg, "-f", "a@b", "-d", "Info@CentOS.BZ")
		if r.code != 0 || r.out != "" {
			t.Fatalf("mixed case: exit %d output %q", r.code, r.out)
		}
		checkDelivered(t, filepath.Join(base, "centos.bz/info/Maildir/new"), "a@b", "info@centos.bz", 5000, 5000, wantStored)
		// The forwardings source is Postfix's business: without an
		// alias_query it is simply unknown here.
		if r := e.deliver(testMsg, "-f", "a@b", "-d", "boss@centos.bz"); r.code != 67 || !strings.HasPrefix(r.out, "5.1.1 ") {
			t.Errorf("alias without alias_query: exit %d %q", r.code, r.out)
		}
	})
	t.Run("seed004-mysql-view", func(t *testing.T) {
		db := testdb.MySQL(t)
		db.Exec(t, testdb.Seed004)
		e := newEnv(t, db, "SELECT name FROM emails WHERE name='%u'", "", "")
		base := e.mkdirOwned("var/spool/vmail", 5000, 5000)
		rewriteMail(t, e, fmt.Sprintf("location = \"maildir:%s/%%u\"\nuid = 5000\ngid = 5000", base))
		r := e.deliver(testMsg, "-f", "", "-d", "info@fuga.com")
		if r.code != 0 || r.out != "" {
			t.Fatalf("exit %d output %q", r.code, r.out)
		}
		checkDelivered(t, filepath.Join(base, "info@fuga.com/new"), "", "info@fuga.com", 5000, 5000, wantStored)
		r = e.deliver(testMsg, "-f", "", "-d", "Admin@Hoge.COM")
		if r.code != 0 || r.out != "" {
			t.Fatalf("mixed case: exit %d output %q", r.code, r.out)
		}
		checkDelivered(t, filepath.Join(base, "admin@hoge.com/new"), "", "admin@hoge.com", 5000, 5000, wantStored)
	})
}

// rewriteMail replaces the empty [mail] section body of e's config.
func rewriteMail(t *testing.T, e *env, mail string) {
	t.Helper()
	b, _ := os.ReadFile(e.conf)
	s := strings.Replace(string(b), "[mail]\n", "[mail]\n"+mail+"\n", 1)
	if err := os.WriteFile(e.conf, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func seed000(t *testing.T, db *testdb.DB) {
	db.Exec(t, "insert into users (userid, uid, gid, home) values ('user3@domain.org', 1001, 1001, 'domain.org/mails/user3')")
	e := newEnv(t, db, "", "", "")
	rewriteQuery(t, e, testdb.Seed000Query(filepath.Join(e.dir, "home")))
	e.mkdirOwned("home/domain.org", 1001, 1001)
	e.mkdirOwned("home/foo.org", 1002, 1002)
	r := e.deliver(testMsg, "-f", "alice@example.net", "-d", "user@domain.org")
	if r.code != 0 || r.out != "" {
		t.Fatalf("exit %d output %q", r.code, r.out)
	}
	checkDelivered(t, filepath.Join(e.dir, "home/domain.org/mails/user/Maildir/new"), "alice@example.net", "user@domain.org", 1001, 1001, wantStored)
	// Other domain, other uid; Postfix's D and R flags already prepended
	// Return-Path and Delivered-To: not duplicated.
	pf := "Return-Path: <alice@example.net>\nDelivered-To: user@foo.org\n" + testMsg
	r = e.deliver(pf, "-f", "alice@example.net", "-d", "user@foo.org")
	if r.code != 0 || r.out != "" {
		t.Fatalf("exit %d output %q", r.code, r.out)
	}
	checkDelivered(t, filepath.Join(e.dir, "home/foo.org/mails/user/Maildir/new"), "alice@example.net", "user@foo.org", 1002, 1002, wantStored)
	// user+detail goes to the folder "detail", created with maildirfolder.
	r = e.deliver(testMsg, "-f", "<alice@example.net>", "-d", "user2+lists@domain.org")
	if r.code != 0 {
		t.Fatalf("detail: exit %d output %q", r.code, r.out)
	}
	mdir := filepath.Join(e.dir, "home/domain.org/mails/user2/Maildir")
	checkDelivered(t, filepath.Join(mdir, ".lists/new"), "alice@example.net", "user2+lists@domain.org", 1001, 1001, wantStored)
	if _, err := os.Stat(filepath.Join(mdir, ".lists/maildirfolder")); err != nil {
		t.Error(err)
	}
	// -m FOLDER
	r = e.deliver(testMsg, "-f", "a@b", "-m", "Archive.2024", "-d", "user2@domain.org")
	if r.code != 0 {
		t.Fatalf("-m: exit %d output %q", r.code, r.out)
	}
	checkDelivered(t, filepath.Join(mdir, ".Archive.2024/new"), "a@b", "user2@domain.org", 1001, 1001, wantStored)
	// Mixed case (no Postfix hu flags): the lookup and the mailbox are
	// the lower-case user's, as Dovecot's auth_username_format %Lu makes
	// them; the +Detail keeps its case, as Dovecot's LMTP does.
	r = e.deliver(testMsg, "-f", "a@b", "-d", "User3@Domain.ORG")
	if r.code != 0 || r.out != "" {
		t.Fatalf("mixed case: exit %d output %q", r.code, r.out)
	}
	m3 := filepath.Join(e.dir, "home/domain.org/mails/user3/Maildir")
	checkDelivered(t, filepath.Join(m3, "new"), "a@b", "user3@domain.org", 1001, 1001, wantStored)
	r = e.deliver(testMsg, "-f", "a@b", "-d", "User3+Lists@Domain.ORG")
	if r.code != 0 || r.out != "" {
		t.Fatalf("mixed case detail: exit %d output %q", r.code, r.out)
	}
	checkDelivered(t, filepath.Join(m3, ".Lists/new"), "a@b", "user3+lists@domain.org", 1001, 1001, wantStored)
	// Folders created at delivery are subscribed ([mail] autosubscribe).
	subs, err := os.ReadFile(filepath.Join(m3, "subscriptions"))
	if err != nil || string(subs) != "V\t2\n\nLists\n" {
		t.Errorf("subscriptions %q, %v", subs, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(m3, "subscriptions"), &st); err != nil || st.Uid != 1001 || st.Mode&0o777 != 0o600 {
		t.Errorf("subscriptions owner %d mode %o: %v", st.Uid, st.Mode&0o777, err)
	}
}

func rewriteQuery(t *testing.T, e *env, q string) {
	t.Helper()
	b, _ := os.ReadFile(e.conf)
	s := strings.Replace(string(b), `user_query = ""`, fmt.Sprintf("user_query = %q", q), 1)
	if err := os.WriteFile(e.conf, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
