package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"maildeliver/internal/testdb"
)

// checkDir is a world-traversable directory with the seed 000 userdb
// (users.db), the users' mail base (mail/, per-domain directories owned by
// the domain's uid) and a root-owned directory (rootonly/).
func checkDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	db := testdb.SQLite(t, dir)
	db.Exec(t, testdb.Seed000+testdb.Seed000Data)
	os.Chmod(filepath.Join(dir, "users.db"), 0o644)
	for _, d := range []struct {
		rel      string
		uid, gid int
	}{{"mail", 0, 0}, {"mail/domain.org", 1001, 1001}, {"mail/foo.org/mails/user", 1002, 1002}, {"rootonly", 0, 0}} {
		p := filepath.Join(dir, d.rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, d.uid, d.gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCheckBrokenConfigs runs deliver -check -d ADDRESS on each broken
// configuration in testdata/check: each would pass a plain config load (or
// fail only there) and then defer every message; -check must fail with the
// expected reason in exactly one line.
func TestCheckBrokenConfigs(t *testing.T) {
	requireRoot(t)
	files, _ := filepath.Glob("testdata/check/*.toml")
	if len(files) < 10 {
		t.Fatalf("%d broken configs, want at least 10", len(files))
	}
	dir := checkDir(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.ReplaceAll(string(data), "@DIR@", dir)
			want, rcpt, code := checkHeader(t, text)
			conf := filepath.Join(t.TempDir(), "maildeliver.toml")
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runCheck(t, conf, rcpt)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != code || len(lines) != 1 || !strings.Contains(lines[0], want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and one line with %q", r.code, r.stderr, code, want)
			}
			t.Log(lines[0])
			if !strings.HasPrefix(lines[0], "4.") && !strings.HasPrefix(lines[0], "5.") {
				t.Errorf("line %q does not start with an enhanced status code", lines[0])
			}
		})
	}
}

// TestCheckAddressOK: a good address passes the dry run, in any letter
// case, and nothing is written.
func TestCheckAddressOK(t *testing.T) {
	requireRoot(t)
	dir := checkDir(t)
	conf := filepath.Join(dir, "ok.toml")
	os.WriteFile(conf, []byte(`[log]
target = "file:`+dir+`/deliver.log"
[userdb]
driver = "sqlite"
connect = "`+dir+`/users.db"
user_query = "SELECT '`+dir+`/mail/'||home AS home, uid, gid FROM users WHERE userid = '%u'"
`), 0o644)
	for _, rcpt := range []string{"user@domain.org", "User@Domain.ORG"} {
		r := runCheck(t, conf, rcpt)
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "user user@domain.org, maildir "+dir+"/mail/domain.org/mails/user/Maildir") {
			t.Fatalf("%s: exit %d\nstdout %s\nstderr %s", rcpt, r.code, r.stdout, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "mail/domain.org/mails")); !os.IsNotExist(err) {
		t.Errorf("-check created the mailbox: %v", err)
	}
}

type checkResult struct {
	stdout, stderr string
	code           int
}

func runCheck(t *testing.T, conf, rcpt string) checkResult {
	t.Helper()
	var out, errb strings.Builder
	code := run([]string{"-c", conf, "-check", "-d", rcpt}, strings.NewReader(""), &out, &errb)
	return checkResult{stdout: out.String(), stderr: errb.String(), code: code}
}

// checkHeader reads "# want:", "# rcpt:" and the optional "# exit:".
func checkHeader(t *testing.T, text string) (want, rcpt string, code int) {
	t.Helper()
	code = 75
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "# ") {
			break
		}
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "# "), ": ")
		switch k {
		case "want":
			want = v
		case "rcpt":
			rcpt = v
		case "exit":
			code, _ = strconv.Atoi(v)
		}
	}
	if want == "" || rcpt == "" {
		t.Fatal("test data without # want: and # rcpt:")
	}
	return want, rcpt, code
}
