package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"maildeliver/internal/testdb"
)

// explainSetup is one seed with the addresses of each case: a user that
// gets mail, an alias, a user over quota, a user with uid 0.
type explainSetup struct {
	name                      string
	e                         *env
	ok, mixed, alias, full    string
	root, unknown             string
	okDir, aliasDir, fullDir  string // maildir roots
	uid, aliasUID             int
	okQuery, aliasQueryTarget string // bound value the user_query shows, the alias hop
}

// explainSeed000 is seed 000 (PostgreSQL or SQLite): uid per domain, the
// virtual table as alias_query, a password column in user_query.
func explainSeed000(t *testing.T, db *testdb.DB) *explainSetup {
	db.Exec(t, testdb.Seed000+testdb.Seed000Data+`
update users set password = '{PLAIN}hunter2secret';
insert into users (userid, uid, gid, home) values ('root@domain.org', 0, 0, 'domain.org/mails/root')`)
	e := newEnv(t, db, "", "", "[quota]\ndefault = \"4k\"\n")
	home := filepath.Join(e.dir, "home")
	rewriteQuery(t, e, "SELECT '"+home+"/'||home AS home, uid, gid, password FROM users WHERE userid = '%u'")
	b, _ := os.ReadFile(e.conf)
	os.WriteFile(e.conf, []byte(strings.Replace(string(b), "[userdb]\n",
		"[userdb]\nalias_query = \"SELECT userid FROM virtual WHERE address = '%u'\"\n", 1)), 0o644)
	e.mkdirOwned("home/domain.org", 1001, 1001)
	e.mkdirOwned("home/foo.org", 1002, 1002)
	return &explainSetup{name: db.Driver, e: e,
		ok: "user@domain.org", mixed: "User@Domain.ORG", alias: "foo@foo.org", full: "user2@domain.org",
		root: "root@domain.org", unknown: "nobody@domain.org",
		okDir: home + "/domain.org/mails/user/Maildir", aliasDir: home + "/foo.org/mails/user/Maildir",
		fullDir: home + "/domain.org/mails/user2/Maildir", uid: 1001, aliasUID: 1002,
		okQuery: `["user@domain.org"]`, aliasQueryTarget: "alias: <foo@foo.org> -> <user@foo.org>"}
}

// explainSeed002 is seed 002 (MariaDB): static vmail uid from [mail], the
// forwardings table as alias_query; uid 0 from the query for one user.
func explainSeed002(t *testing.T, db *testdb.DB) *explainSetup {
	db.Exec(t, testdb.Seed002+`;
UPDATE users SET password = 'hunter2secret';
INSERT INTO users (email, password) VALUES ('root@centos.bz', 'hunter2secret');
INSERT INTO users (email, password) VALUES ('full@centos.bz', 'hunter2secret')`)
	e := newEnv(t, db, "SELECT email AS user, password, IF(email = 'root@centos.bz', 0, 5000) AS uid, 5000 AS gid FROM users WHERE email = '%u'",
		"", "[quota]\ndefault = \"4k\"\n")
	base := e.mkdirOwned("home/vmail", 5000, 5000)
	rewriteMail(t, e, fmt.Sprintf("location = \"maildir:%s/%%d/%%n/Maildir\"\nuid = 5000\ngid = 5000", base))
	b, _ := os.ReadFile(e.conf)
	os.WriteFile(e.conf, []byte(strings.Replace(string(b), "[userdb]\n",
		"[userdb]\nalias_query = \"SELECT destination FROM forwardings WHERE source = '%u'\"\n", 1)), 0o644)
	return &explainSetup{name: "mysql", e: e,
		ok: "info@centos.bz", mixed: "Info@CentOS.BZ", alias: "boss@centos.bz", full: "full@centos.bz",
		root: "root@centos.bz", unknown: "nobody@centos.bz",
		okDir: base + "/centos.bz/info/Maildir", aliasDir: base + "/centos.bz/sales/Maildir",
		fullDir: base + "/centos.bz/full/Maildir", uid: 5000, aliasUID: 5000,
		okQuery: `["info@centos.bz"]`, aliasQueryTarget: "alias: <boss@centos.bz> -> <sales@centos.bz>"}
}

// TestExplainAgreesWithDelivery: for each seed and case, deliver -explain
// predicts an exit code and reply, writes nothing, and the delivery of a
// message to the same address then ends with that code and reply (and
// lands in the maildir and folder -explain named).
func TestExplainAgreesWithDelivery(t *testing.T) {
	requireRoot(t)
	for _, s := range []struct {
		name  string
		setup func(t *testing.T) *explainSetup
	}{
		{"seed000-postgres", func(t *testing.T) *explainSetup { return explainSeed000(t, testdb.Postgres(t)) }},
		{"seed000-sqlite", func(t *testing.T) *explainSetup { return explainSeed000(t, testdb.SQLite(t, t.TempDir())) }},
		{"seed002-mysql", func(t *testing.T) *explainSetup { return explainSeed002(t, testdb.MySQL(t)) }},
	} {
		t.Run(s.name, func(t *testing.T) { explainCases(t, s.setup(t)) })
	}
}

type explainCase struct {
	name, rcpt string
	conf       string // "" = the setup's
	msg        string
	code       int
	dsn        string   // enhanced code the reply starts with
	newDir     string   // where the message lands (code 0)
	want       []string // lines or parts of lines in -explain's output
}

func explainCases(t *testing.T, s *explainSetup) {
	e := s.e
	// The full user's mailbox holds 5000 bytes already: over the 4k limit.
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(s.fullDir, d), 0o700)
	}
	for p := filepath.Join(s.fullDir, "cur"); p != filepath.Join(e.dir, "home"); p = filepath.Dir(p) {
		os.Chown(p, s.uid, s.uid)
	}
	os.Chown(filepath.Join(s.fullDir, "new"), s.uid, s.uid)
	os.Chown(filepath.Join(s.fullDir, "tmp"), s.uid, s.uid)
	big := filepath.Join(s.fullDir, "cur", "1.host,S=5000:2,S")
	os.WriteFile(big, []byte(strings.Repeat("x", 5000)), 0o600)
	os.Chown(big, s.uid, s.uid)
	deferConf := filepath.Join(e.dir, "defer.toml")
	b, _ := os.ReadFile(e.conf)
	os.WriteFile(deferConf, []byte(strings.Replace(string(b), "[quota]\n", "[quota]\nfull = \"defer\"\n", 1)), 0o644)
	okLocal, okDomain, _ := strings.Cut(s.ok, "@")
	// After a Received field: not the Delivered-To Postfix's D flag prepends.
	loopMsg := "Received: by relay\nDelivered-To: " + s.ok + "\nSubject: loop\n\nbody\n"
	cases := []explainCase{
		{name: "delivered", rcpt: s.ok, code: 0, dsn: "2.0.0", newDir: s.okDir + "/new", want: []string{
			"recipient: <" + s.ok + ">", "canonical: <" + s.ok + `> ([userdb] username_format "%Lu")`,
			s.okQuery + " -> row ", "password=********", fmt.Sprintf("owner: uid %d gid %d", s.uid, s.uid),
			"maildir: " + s.okDir + " (layout", "folder: INBOX", "ownership: " + s.okDir + " does not exist; uid",
			"quota: limit 4096S, used 0 bytes 0 messages (the maildir does not exist yet); a 1-byte message fits", "sieve: off", "result: 250 2.0.0 would deliver to INBOX of " + s.okDir + " (exit 0)"}},
		{name: "unknown user", rcpt: s.unknown, code: 67, dsn: "5.1.1", want: []string{"-> no row", "result: 550 5.1.1 <" + s.unknown + ">"}},
		{name: "alias", rcpt: s.alias, code: 0, dsn: "2.0.0", newDir: s.aliasDir + "/new", want: []string{
			"alias_query: ", s.aliasQueryTarget, "result: 250 2.0.0 would deliver to INBOX of " + s.aliasDir}},
		{name: "over quota, bounce", rcpt: s.full, code: 73, dsn: "5.2.2", want: []string{
			"quota: limit 4096S, used 5000 bytes 1 messages (counted: maildirsize missing", "does not fit", "result: 552 5.2.2 "}},
		{name: "over quota, defer", rcpt: s.full, conf: deferConf, code: 75, dsn: "4.2.2", want: []string{"result: 452 4.2.2 "}},
		{name: "mixed case", rcpt: s.mixed, code: 0, dsn: "2.0.0", newDir: s.okDir + "/new", want: []string{
			"recipient: <" + s.mixed + ">", "canonical: <" + s.ok + ">", "ownership: " + s.okDir + " exists, owned by uid"}},
		{name: "+detail folder", rcpt: okLocal + "+Foo@" + okDomain, code: 0, dsn: "2.0.0", newDir: s.okDir + "/.Foo/new", want: []string{
			`user: <` + s.ok + `> detail "foo"`, `folder: "Foo" (+detail), directory .Foo`,
			"folder: .Foo does not exist: delivery creates it", "would deliver to Foo of " + s.okDir}},
		{name: "uid 0 refused", rcpt: s.root, code: 75, dsn: "4.3.0", want: []string{"result: 451 4.3.0 mailbox uid/gid is 0", "detail: uid 0 gid"}},
		{name: "loop", rcpt: s.ok, msg: loopMsg, code: 65, dsn: "5.4.6", want: []string{
			"loop: the message already has Delivered-To: " + s.ok, "result: 554 5.4.6 "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { explainThenDeliver(t, s, tc) })
	}
}

// explainThenDeliver runs -explain, checks its prediction and that it
// wrote nothing, then delivers for real and compares.
func explainThenDeliver(t *testing.T, s *explainSetup, tc explainCase) {
	e := s.e
	conf := tc.conf
	if conf == "" {
		conf = e.conf
	}
	msg := tc.msg
	if msg == "" {
		msg = testMsg
	}
	msgFile := filepath.Join(e.dir, "msg.eml")
	os.WriteFile(msgFile, []byte(msg), 0o644)
	before := tree(t, filepath.Join(e.dir, "home"))
	args := []string{"-c", conf, "-explain", tc.rcpt}
	if tc.msg != "" {
		args = append(args, "-p", msgFile)
	}
	x := runDeliver(t, binary, nil, nil, "", args...)
	t.Logf("deliver %s:\n%s", strings.Join(args, " "), x.out)
	if after := tree(t, filepath.Join(e.dir, "home")); after != before {
		t.Fatalf("-explain changed the mail tree:\n%s\nwas\n%s", after, before)
	}
	if strings.Contains(x.out, "hunter2secret") {
		t.Error("-explain shows the password")
	}
	for _, w := range tc.want {
		if !strings.Contains(x.out, w) {
			t.Errorf("-explain output lacks %q", w)
		}
	}
	m := regexp.MustCompile(`(?m)^result: \d{3} (\d\.\d+\.\d+) .*\(exit (\d+)\)$`).FindStringSubmatch(x.out)
	if m == nil || x.code != tc.code || m[1] != tc.dsn || m[2] != fmt.Sprint(tc.code) {
		t.Fatalf("-explain: exit %d, result %q; want exit %d and %s", x.code, m, tc.code, tc.dsn)
	}
	var count int
	if tc.newDir != "" {
		ents, _ := os.ReadDir(tc.newDir)
		count = len(ents)
	}
	r := runDeliver(t, binary, nil, nil, msg, "-c", conf, "-f", "a@b", "-d", tc.rcpt)
	if r.code != x.code {
		t.Fatalf("delivery: exit %d %q, -explain predicted %d", r.code, r.out, x.code)
	}
	if tc.code != 0 {
		if !strings.HasPrefix(r.out, tc.dsn+" ") {
			t.Fatalf("delivery said %q, -explain predicted %s", r.out, tc.dsn)
		}
		return
	}
	if ents, _ := os.ReadDir(tc.newDir); r.out != "" || len(ents) != count+1 {
		t.Fatalf("delivery: %q, %d files in %s, want %d", r.out, len(ents), tc.newDir, count+1)
	}
}

// tree lists every path below dir with its size, mode and mtime.
func tree(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %v %d\n", p, fi.Size(), fi.Mode(), fi.ModTime().UnixNano())
		return nil
	})
	return b.String()
}

// TestExplainProxy: -explain shows a row's proxy fields and where lmtpd in
// proxy mode would send the recipient, and still predicts deliver's own
// (local) delivery.
func TestExplainProxy(t *testing.T) {
	requireRoot(t)
	s := explainSeed000(t, testdb.SQLite(t, t.TempDir()))
	b, _ := os.ReadFile(s.e.conf)
	withRow := strings.Replace(string(b), " password FROM users", " password, '10.0.0.9' AS host, 2424 AS port, 'y' AS proxy_maybe FROM users", 1)
	os.WriteFile(s.e.conf, []byte(withRow), 0o644)
	conf := filepath.Join(s.e.dir, "proxy.toml")
	os.WriteFile(conf, []byte(withRow+"\n[lmtp]\nproxy = true\nlisten = [\"tcp:0.0.0.0:24\"]\n"), 0o644)
	for _, tc := range []struct{ conf, want string }{
		{conf, "proxy: lmtpd ([lmtp] proxy = true) forwards it to 10.0.0.9:2424; deliver (pipe mode) delivers here"},
		{s.e.conf, "proxy: [lmtp] proxy = false: lmtpd delivers here, as deliver does"},
	} {
		x := runDeliver(t, binary, nil, nil, "", "-c", tc.conf, "-explain", s.ok)
		for _, w := range []string{`proxy: row: host "10.0.0.9" port "2424" proxy "" proxy_maybe "y"`, tc.want,
			"result: 250 2.0.0 would deliver to INBOX of " + s.okDir} {
			if !strings.Contains(x.out, w) {
				t.Errorf("-explain output lacks %q:\n%s", w, x.out)
			}
		}
	}
}
