package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"maildeliver/internal/testdb"
)

// sqliteEnv is a seed 000 SQLite userdb with a few extra users for the
// failure cases, mail under e.dir/home.
func sqliteEnv(t *testing.T, extra string) *env {
	t.Helper()
	db := testdb.SQLite(t, t.TempDir())
	db.Exec(t, testdb.Seed000+testdb.Seed000Data+`
insert into users (userid, uid, gid, home) values ('root@domain.org', 0, 0, 'domain.org/mails/root');
insert into users (userid, uid, gid, home) values ('low@domain.org', 100, 100, 'domain.org/mails/low');
insert into users (userid, uid, gid, home) values ('escape@domain.org', 1001, 1001, '../../../../../../tmp/escape');
insert into users (userid, uid, gid, home, mail) values ('abs@domain.org', 1001, 1001, 'x', '/etc/maildeliver-escape/Maildir');
insert into users (userid, uid, gid, home) values ('full@domain.org', 1001, 1001, 'full/user');
insert into users (userid, uid, gid, home) values ('link@domain.org', 1001, 1001, 'domain.org/mails/link')`)
	e := newEnv(t, db, "", "", extra)
	rewriteQuery(t, e, testdb.Seed000Query(filepath.Join(e.dir, "home")))
	e.mkdirOwned("home/domain.org", 1001, 1001)
	e.mkdirOwned("home/foo.org", 1002, 1002)
	return e
}

// TestExitCodes is SPEC's exit-code table, row by row, against the binary.
func TestExitCodes(t *testing.T) {
	requireRoot(t)
	e := sqliteEnv(t, "")
	loopMsg := "Received: by relay\nDelivered-To: user@domain.org\nSubject: x\n\nbody\n"
	badConf := filepath.Join(e.dir, "bad.toml")
	os.WriteFile(badConf, []byte("[userdb]\nuser_qeury = 1\n"), 0o644)
	downConf := filepath.Join(e.dir, "down.toml")
	os.WriteFile(downConf, []byte(`[log]
target = "file:`+e.log+`"
[userdb]
driver = "pgsql"
connect = "host=127.0.0.1 port=1 dbname=x user=x password=hunter2"
timeout = "2s"
`), 0o644)
	sizeConf := filepath.Join(e.dir, "size.toml")
	b, _ := os.ReadFile(e.conf)
	os.WriteFile(sizeConf, []byte(strings.Replace(string(b), "[mail]\n", "[mail]\nmax_message_size = \"1k\"\n", 1)), 0o644)

	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		code   int
		prefix string
	}{
		{"delivered", []string{"-f", "a@b", "-d", "user@domain.org"}, testMsg, 0, ""},
		{"unknown user", []string{"-f", "a@b", "-d", "nobody@domain.org"}, testMsg, 67, "5.1.1 <nobody@domain.org>: user unknown"},
		{"loop", []string{"-f", "a@b", "-d", "user@domain.org"}, loopMsg, 65, "5.4.6 "},
		{"bad sender CR", []string{"-f", "a\r@b", "-d", "user@domain.org"}, testMsg, 65, "5.1.7 "},
		{"bad sender LF", []string{"-f", "a@b\nX-Injected: 1", "-d", "user@domain.org"}, testMsg, 65, "5.1.7 "},
		{"bad sender long", []string{"-f", strings.Repeat("s", 300) + "@b", "-d", "user@domain.org"}, testMsg, 65, "5.1.7 "},
		{"bad recipient LF", []string{"-f", "a@b", "-d", "user@domain.org\nx"}, testMsg, 65, "5.1.3 "},
		{"bad recipient long", []string{"-f", "a@b", "-d", "user+" + strings.Repeat("d", 300) + "@domain.org"}, testMsg, 65, "5.1.3 "},
		{"over size", []string{"-c", sizeConf, "-f", "a@b", "-d", "user@domain.org"}, testMsg + strings.Repeat("x", 2000), 73, "5.2.3 "},
		{"usage: no -d", []string{"-f", "a@b"}, testMsg, 75, "4.3.5 "},
		{"usage: unknown flag", []string{"-x", "-d", "user@domain.org"}, testMsg, 75, "4.3.5 "},
		{"usage: stray argument", []string{"-d", "user@domain.org", "extra"}, testMsg, 75, "4.3.5 "},
		{"bad queue id", []string{"-q", "4Z x", "-f", "a@b", "-d", "user@domain.org"}, testMsg, 75, "4.3.5 "},
		{"bad queue id LF", []string{"-q", "4Z\nx", "-f", "a@b", "-d", "user@domain.org"}, testMsg, 75, "4.3.5 "},
		{"queue id too long", []string{"-q", strings.Repeat("A", 33), "-f", "a@b", "-d", "user@domain.org"}, testMsg, 75, "4.3.5 "},
		{"config error", []string{"-c", badConf, "-d", "user@domain.org"}, testMsg, 75, "4.3.5 "},
		{"config missing", []string{"-c", filepath.Join(e.dir, "none.toml"), "-d", "user@domain.org"}, testMsg, 75, "4.3.5 "},
		{"db down", []string{"-c", downConf, "-f", "a@b", "-d", "user@domain.org"}, testMsg, 75, "4.3.0 "},
		{"uid 0", []string{"-f", "a@b", "-d", "root@domain.org"}, testMsg, 75, "4.3.0 "},
		{"uid below min_uid", []string{"-f", "a@b", "-d", "low@domain.org"}, testMsg, 75, "4.3.0 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args[0] != "-c" {
				args = append([]string{"-c", e.conf}, args...)
			}
			r := runDeliver(t, binary, nil, nil, tc.stdin, args...)
			checkOutcome(t, r, tc.code, tc.prefix)
			if strings.Contains(r.out, "hunter2") || strings.Contains(strings.ToLower(r.out), "select") {
				t.Errorf("secret or SQL in output: %q", r.out)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		for _, h := range []string{"-h", "-help", "--help"} {
			r := runDeliver(t, binary, nil, nil, "", h)
			if r.code != 0 || !strings.Contains(r.out, "usage: deliver") {
				t.Errorf("%s: exit %d %q", h, r.code, r.out)
			}
		}
	})
	t.Run("panic", func(t *testing.T) {
		r := runDeliver(t, faultBinary, nil, []string{"MAILDELIVER_FAULT=panic"}, testMsg, "-c", e.conf, "-f", "a@b", "-d", "user2@domain.org")
		checkOutcome(t, r, 75, "4.3.0 ")
		if ents, _ := os.ReadDir(filepath.Join(e.dir, "home/domain.org/mails/user2/Maildir/new")); len(ents) != 0 {
			t.Errorf("panic left %d files in new/", len(ents))
		}
	})
	t.Run("uid mismatch", func(t *testing.T) {
		// deliver running as uid 1002 (pipe user=) for a uid 1001 mailbox.
		r := runDeliver(t, binary, &syscall.Credential{Uid: 1002, Gid: 1002}, nil, testMsg, "-c", e.conf, "-f", "a@b", "-d", "user@domain.org")
		checkOutcome(t, r, 75, "4.3.0 ")
	})
	t.Run("non-root matching uid", func(t *testing.T) {
		r := runDeliver(t, binary, &syscall.Credential{Uid: 1002, Gid: 1002}, nil, testMsg, "-c", e.conf, "-f", "a@b", "-d", "user@foo.org")
		checkOutcome(t, r, 0, "")
		checkDelivered(t, filepath.Join(e.dir, "home/foo.org/mails/user/Maildir/new"), "a@b", "user@foo.org", 1002, 1002, wantStored)
	})
	t.Run("disk full", func(t *testing.T) {
		full := e.mkdirOwned("home/full", 1001, 1001)
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,uid=1001,gid=1001,mode=0700", "tmpfs", full).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs (needs root and mount(8)): %v %s", err, out)
		}
		defer exec.Command("umount", full).Run()
		r := e.deliver(testMsg+strings.Repeat("0123456789abcdef\n", 16<<10), "-f", "a@b", "-d", "full@domain.org")
		checkOutcome(t, r, 75, "4.3.1 ")
		for _, sub := range []string{"new", "tmp"} {
			if ents, _ := os.ReadDir(filepath.Join(full, "user/Maildir", sub)); len(ents) != 0 {
				t.Errorf("%s holds %d files after ENOSPC", sub, len(ents))
			}
		}
		// A message that fits still goes through on the same file system.
		checkOutcome(t, e.deliver(testMsg, "-f", "a@b", "-d", "full@domain.org"), 0, "")
	})
}

// checkOutcome: exit code, and output either empty (success) or exactly
// one line starting with the enhanced status code.
func checkOutcome(t *testing.T, r result, code int, prefix string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d (output %q)", r.code, code, r.out)
	}
	if code == 0 {
		if r.out != "" {
			t.Errorf("output on success: %q", r.out)
		}
		return
	}
	if !strings.HasPrefix(r.out, prefix) || strings.Count(r.out, "\n") != 1 || !strings.HasSuffix(r.out, "\n") {
		t.Errorf("output %q: want exactly one line starting with %q", r.out, prefix)
	}
}

// TestSecurity: hostile recipients and userdb rows never write outside the
// mailbox, and get the right DSN.
func TestSecurity(t *testing.T) {
	requireRoot(t)
	e := sqliteEnv(t, "")
	inbox := filepath.Join(e.dir, "home/domain.org/mails/user/Maildir")
	for _, tc := range []struct {
		name, rcpt string
		code       int
		prefix     string
		inInbox    bool // delivered to INBOX instead of a folder
	}{
		{"sql metacharacters", "user'; DROP TABLE users; --@domain.org", 67, "5.1.1 ", false},
		{"quote and backslash", `us\'er@domain.org`, 67, "5.1.1 ", false},
		{"percent u", "%u@domain.org", 67, "5.1.1 ", false},
		{"percent n d", "%n@%d", 67, "5.1.1 ", false},
		{"detail climbs", "user+../../x@domain.org", 0, "", true},
		{"detail slash", "user+a/b@domain.org", 0, "", true},
		{"detail dot", "user+.hidden@domain.org", 0, "", true},
		{"detail 300 bytes", "user+" + strings.Repeat("x", 300) + "@domain.org", 65, "5.1.3 ", false},
		{"home outside base", "escape@domain.org", 75, "4.3.0 ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.deliver(testMsg, "-f", "a@b", "-d", tc.rcpt)
			checkOutcome(t, r, tc.code, tc.prefix)
			if tc.inInbox {
				p := onlyFile(t, filepath.Join(inbox, "new"))
				os.Remove(p)
				ents, _ := os.ReadDir(inbox)
				for _, en := range ents {
					if strings.HasPrefix(en.Name(), ".") {
						t.Errorf("folder %q created", en.Name())
					}
				}
			}
		})
	}
	if _, err := e.db.DB.Exec("SELECT count(*) FROM users"); err != nil {
		t.Fatal("users table damaged:", err)
	}
	if _, err := os.Stat("/tmp/escape"); err == nil {
		t.Fatal("wrote /tmp/escape")
	}
	t.Run("allowed_roots", func(t *testing.T) {
		e2 := sqliteEnv(t, "")
		rewriteMail(t, e2, fmt.Sprintf("allowed_roots = [%q]", filepath.Join(e2.dir, "home")))
		checkOutcome(t, e2.deliver(testMsg, "-f", "a@b", "-d", "abs@domain.org"), 75, "4.3.0 ")
		if _, err := os.Stat("/etc/maildeliver-escape"); err == nil {
			t.Fatal("wrote outside allowed_roots")
		}
		checkOutcome(t, e2.deliver(testMsg, "-f", "a@b", "-d", "user@domain.org"), 0, "")
	})
	t.Run("symlinked new", func(t *testing.T) {
		outside := t.TempDir()
		md := filepath.Join(e.dir, "home/domain.org/mails/link/Maildir")
		os.MkdirAll(filepath.Join(md, "tmp"), 0o700)
		os.MkdirAll(filepath.Join(md, "cur"), 0o700)
		os.Symlink(outside, filepath.Join(md, "new"))
		exec.Command("chown", "-R", "-h", "1001:1001", filepath.Join(e.dir, "home/domain.org/mails/link")).Run()
		checkOutcome(t, e.deliver(testMsg, "-f", "a@b", "-d", "link@domain.org"), 75, "4.3.0 ")
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Fatal("wrote through the symlink")
		}
		if ents, _ := os.ReadDir(filepath.Join(md, "tmp")); len(ents) != 0 {
			t.Fatal("left a tmp file")
		}
	})
	t.Run("maildir of another uid", func(t *testing.T) {
		md := filepath.Join(e.dir, "home/domain.org/mails/user2/Maildir")
		os.MkdirAll(md, 0o700)
		os.Chown(md, 1002, 1002)
		os.Chown(filepath.Dir(md), 1001, 1001)
		checkOutcome(t, e.deliver(testMsg, "-f", "a@b", "-d", "user2@domain.org"), 75, "4.3.0 ")
	})
}

// TestConcurrentDeliveries: 8 processes x 500 deliveries into one mailbox
// give 4,000 distinct, complete files.
func TestConcurrentDeliveries(t *testing.T) {
	requireRoot(t)
	e := sqliteEnv(t, "")
	workers, each := 8, 500
	if testing.Short() {
		each = 50
	}
	var wg sync.WaitGroup
	errs := make(chan string, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				msg := fmt.Sprintf("Subject: %d-%d\n\n%s", w, i, strings.Repeat(fmt.Sprintf("worker %d message %d\n", w, i), 50))
				r := runDeliver(t, binary, nil, nil, msg, "-c", e.conf, "-f", "a@b", "-d", "user@domain.org")
				if r.code != 0 {
					errs <- fmt.Sprintf("%d/%d: exit %d %q", w, i, r.code, r.out)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Error(s)
	}
	md := filepath.Join(e.dir, "home/domain.org/mails/user/Maildir")
	ents, err := os.ReadDir(filepath.Join(md, "new"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != workers*each {
		t.Fatalf("%d files in new/, want %d", len(ents), workers*each)
	}
	seen := map[string]bool{}
	for _, en := range ents {
		data, err := os.ReadFile(filepath.Join(md, "new", en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var w, i int
		if _, err := fmt.Sscanf(string(data), "Return-Path: <a@b>\nDelivered-To: user@domain.org\nSubject: %d-%d\n", &w, &i); err != nil {
			t.Fatalf("%s: %v", en.Name(), err)
		}
		want := fmt.Sprintf("Return-Path: <a@b>\nDelivered-To: user@domain.org\nSubject: %d-%d\n\n%s", w, i, strings.Repeat(fmt.Sprintf("worker %d message %d\n", w, i), 50))
		if string(data) != want {
			t.Fatalf("%s: incomplete or corrupt", en.Name())
		}
		key := fmt.Sprint(w, "-", i)
		if seen[key] {
			t.Fatalf("message %s delivered twice", key)
		}
		seen[key] = true
	}
	if ents, _ := os.ReadDir(filepath.Join(md, "tmp")); len(ents) != 0 {
		t.Errorf("tmp holds %d files", len(ents))
	}
}

// TestQuota: SPEC's quota rows for deliver, and -quota / -quota-recalc.
func TestQuota(t *testing.T) {
	requireRoot(t)
	for _, policy := range []struct {
		full   string
		code   int
		prefix string
	}{{"bounce", 73, "5.2.2 "}, {"defer", 75, "4.2.2 "}} {
		t.Run(policy.full, func(t *testing.T) {
			e := sqliteEnv(t, fmt.Sprintf("[quota]\ndefault = \"1k\"\nfull = %q\n", policy.full))
			msg := "Subject: q\n\n" + strings.Repeat("x", 300) + "\n" // ~360 bytes stored
			delivered := 0
			var r result
			for i := 0; i < 5; i++ {
				r = e.deliver(msg, "-f", "a@b", "-d", "user@domain.org")
				if r.code != 0 {
					break
				}
				delivered++
			}
			if delivered != 2 {
				t.Fatalf("delivered %d messages of ~360 bytes into 1k, want 2 (last: exit %d %q)", delivered, r.code, r.out)
			}
			checkOutcome(t, r, policy.code, policy.prefix)
			md := filepath.Join(e.dir, "home/domain.org/mails/user/Maildir")
			ents, _ := os.ReadDir(filepath.Join(md, "new"))
			var total int64
			for _, en := range ents {
				fi, _ := en.Info()
				total += fi.Size()
			}
			if n, _ := os.ReadDir(filepath.Join(md, "tmp")); len(n) != 0 {
				t.Errorf("over-quota delivery left %d files in tmp/", len(n))
			}
			want := fmt.Sprintf("recipient=user@domain.org maildir=%s limit_bytes=1024 limit_messages=0 bytes=%d messages=%d\n", md, total, len(ents))
			for _, args := range [][]string{{"-quota", "user@domain.org"}, {"-quota", "user@domain.org", "-quota-recalc"}, {"-quota-recalc", "user@domain.org"}} {
				r := e.deliver("", args...)
				if r.code != 0 || r.out != want {
					t.Errorf("%v: exit %d\n%q\nwant\n%q", args, r.code, r.out, want)
				}
			}
			if r := e.deliver("", "-quota", "nobody@domain.org"); r.code != 67 || !strings.HasPrefix(r.out, "5.1.1 ") {
				t.Errorf("-quota for an unknown user: exit %d %q", r.code, r.out)
			}
			sz, _ := os.ReadFile(filepath.Join(md, "maildirsize"))
			if !strings.HasPrefix(string(sz), "1024S\n") {
				t.Errorf("maildirsize = %q", sz)
			}
		})
	}
}
