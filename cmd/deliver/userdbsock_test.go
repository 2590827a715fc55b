package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/userdbsock"
)

// countingUserdb counts the lookups the socket answers; failing makes
// every answer an error.
type countingUserdb struct {
	db      lookup.Userdb
	calls   atomic.Int64
	failing bool
}

func (c *countingUserdb) Lookup(ctx context.Context, address string) (*lookup.User, error) {
	c.calls.Add(1)
	if c.failing {
		return nil, errors.New("connection refused (host=db.internal password=hunter2)")
	}
	return c.db.Lookup(ctx, address)
}

func (*countingUserdb) Close() error { return nil }

// serveUserdb answers lookups on a fresh socket in a world-traversable
// directory, as lmtpd does, until the test ends.
func serveUserdb(t *testing.T, db lookup.Userdb, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "udb")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "userdb")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	srv := userdbsock.NewServer(db, userdbsock.ServerOptions{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

// withUserdb writes a copy of e's config with these [userdb] keys added
// or replaced, and returns its path.
func withUserdb(t *testing.T, e *env, name string, keys map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(e.conf)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var out []string
	for _, l := range lines {
		k, _, _ := strings.Cut(l, " = ")
		if _, ok := keys[k]; ok {
			continue
		}
		out = append(out, l)
		if l == "[userdb]" {
			for k, v := range keys {
				out = append(out, k+" = "+v)
			}
		}
	}
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUserdbSocket: with [userdb] socket, deliver asks the socket (and
// never opens the SQL userdb while it answers), falls back to SQL when
// nobody can be asked there, and defers when the socket answers an error.
func TestUserdbSocket(t *testing.T) {
	requireRoot(t)
	e := sqliteEnv(t, "")
	cfg, err := config.Load(e.conf)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := lookup.Open(cfg.Userdb, cfg.Mail.RecipientDelimiter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	served := &countingUserdb{db: sqlDB}
	sock := serveUserdb(t, served, 0o600)
	// The SQL userdb of this config does not exist: only the socket can
	// answer.
	noSQL := `"` + filepath.Join(e.dir, "no-such-users.db") + `"`
	viaSocket := withUserdb(t, e, "socket.toml", map[string]string{"socket": `"` + sock + `"`, "connect": noSQL})

	t.Run("delivered via the socket", func(t *testing.T) {
		r := runDeliver(t, binary, nil, nil, testMsg, "-c", viaSocket, "-f", "alice@example.net", "-d", "user@domain.org")
		checkOutcome(t, r, 0, "")
		checkDelivered(t, filepath.Join(e.dir, "home/domain.org/mails/user/Maildir/new"),
			"alice@example.net", "user@domain.org", 1001, 1001, wantStored)
		if n := served.calls.Load(); n != 1 {
			t.Errorf("socket answered %d lookups, want 1", n)
		}
	})
	t.Run("detail via the socket", func(t *testing.T) {
		r := runDeliver(t, binary, nil, nil, testMsg, "-c", viaSocket, "-f", "a@b", "-d", "user2+lists@domain.org")
		checkOutcome(t, r, 0, "")
		checkDelivered(t, filepath.Join(e.dir, "home/domain.org/mails/user2/Maildir/.lists/new"),
			"a@b", "user2+lists@domain.org", 1001, 1001, wantStored)
	})
	t.Run("mixed case via the socket", func(t *testing.T) {
		// deliver canonicalises ([userdb] username_format %Lu) before it
		// asks: the socket sees, and the mailbox is, the lower-case user's.
		e.db.Exec(t, "insert into users (userid, uid, gid, home) values ('mixed@domain.org', 1001, 1001, 'domain.org/mails/mixed')")
		r := runDeliver(t, binary, nil, nil, testMsg, "-c", viaSocket, "-f", "a@b", "-d", "Mixed@Domain.ORG")
		checkOutcome(t, r, 0, "")
		checkDelivered(t, filepath.Join(e.dir, "home/domain.org/mails/mixed/Maildir/new"),
			"a@b", "mixed@domain.org", 1001, 1001, wantStored)
	})
	t.Run("unknown user via the socket", func(t *testing.T) {
		r := runDeliver(t, binary, nil, nil, testMsg, "-c", viaSocket, "-f", "a@b", "-d", "nobody@domain.org")
		checkOutcome(t, r, 67, "5.1.1 <nobody@domain.org>: user unknown")
	})
	t.Run("socket absent: SQL", func(t *testing.T) {
		absent := withUserdb(t, e, "absent.toml", map[string]string{"socket": `"` + filepath.Join(e.dir, "no-such-socket") + `"`})
		r := runDeliver(t, binary, nil, nil, testMsg, "-c", absent, "-f", "a@b", "-d", "user@foo.org")
		checkOutcome(t, r, 0, "")
		checkDelivered(t, filepath.Join(e.dir, "home/foo.org/mails/user/Maildir/new"), "a@b", "user@foo.org", 1002, 1002, wantStored)
		if log, _ := os.ReadFile(e.log); !strings.Contains(string(log), "userdb socket unavailable") {
			t.Errorf("fallback not logged:\n%s", log)
		}
	})
	t.Run("socket answers error: 4.3.0, no fallback", func(t *testing.T) {
		failing := serveUserdb(t, &countingUserdb{failing: true}, 0o600)
		// The SQL userdb would answer: it must not be asked.
		conf := withUserdb(t, e, "failing.toml", map[string]string{"socket": `"` + failing + `"`})
		r := runDeliver(t, binary, nil, nil, testMsg, "-c", conf, "-f", "a@b", "-d", "user2@domain.org")
		checkOutcome(t, r, 75, "4.3.0 ")
		if strings.Contains(r.out, "hunter2") || strings.Contains(r.out, "db.internal") {
			t.Errorf("server's detail in the output: %q", r.out)
		}
		if ents, _ := os.ReadDir(filepath.Join(e.dir, "home/domain.org/mails/user2/Maildir/new")); len(ents) != 0 {
			t.Errorf("delivered %d files despite the error", len(ents))
		}
	})
	t.Run("socket closed by a dead server: SQL", func(t *testing.T) {
		stale := filepath.Join(e.dir, "stale.sock")
		l, err := net.Listen("unix", stale)
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
		conf := withUserdb(t, e, "stale.toml", map[string]string{"socket": `"` + stale + `"`})
		r := runDeliver(t, binary, nil, nil, testMsg, "-c", conf, "-f", "a@b", "-d", "user2@domain.org")
		checkOutcome(t, r, 0, "")
	})
	// deliver as the pipe user (Postfix's user=): the socket must let it
	// connect, or deliver opens SQL after all.
	t.Run("pipe user without permission: SQL", func(t *testing.T) {
		before := served.calls.Load()
		conf := withUserdb(t, e, "perm.toml", map[string]string{"socket": `"` + sock + `"`})
		r := runDeliver(t, binary, &syscall.Credential{Uid: 1002, Gid: 1002}, nil, testMsg, "-c", conf, "-f", "a@b", "-d", "user@foo.org")
		checkOutcome(t, r, 0, "")
		if served.calls.Load() != before {
			t.Error("the socket answered a user who may not connect")
		}
	})
	t.Run("-check asks the socket as the user it runs as", func(t *testing.T) {
		before := served.calls.Load()
		conf := withUserdb(t, e, "check.toml", map[string]string{"socket": `"` + sock + `"`})
		r := runDeliver(t, binary, nil, nil, "", "-c", conf, "-check")
		if r.code != 0 || !strings.Contains(r.out, "\n# userdb socket "+sock+": ok\n") {
			t.Errorf("root: exit %d, output %q", r.code, r.out)
		}
		if served.calls.Load() != before+1 {
			t.Error("-check did not ask the socket")
		}
		// 0600: the pipe user cannot connect, deliver would use SQL.
		r = runDeliver(t, binary, &syscall.Credential{Uid: 1002, Gid: 1002}, nil, "", "-c", conf, "-check")
		if r.code != 0 || !strings.Contains(r.out, "\n# userdb socket: unavailable to uid 1002, deliver asks the SQL userdb itself (") {
			t.Errorf("uid 1002: exit %d, output %q", r.code, r.out)
		}
		failing := serveUserdb(t, &countingUserdb{failing: true}, 0o600)
		conf = withUserdb(t, e, "check-failing.toml", map[string]string{"socket": `"` + failing + `"`})
		r = runDeliver(t, binary, nil, nil, "", "-c", conf, "-check")
		lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
		if last := lines[len(lines)-1]; r.code != 75 || !strings.HasPrefix(last, "4.3.0 userdb socket: ") ||
			strings.Contains(r.out, "hunter2") {
			t.Errorf("socket answering errors: exit %d, output %q", r.code, r.out)
		}
	})
	t.Run("pipe user with permission: socket", func(t *testing.T) {
		open := serveUserdb(t, served, 0o666)
		conf := withUserdb(t, e, "open.toml", map[string]string{"socket": `"` + open + `"`, "connect": noSQL})
		before := served.calls.Load()
		r := runDeliver(t, binary, &syscall.Credential{Uid: 1002, Gid: 1002}, nil, testMsg, "-c", conf, "-f", "a@b", "-d", "user@foo.org")
		checkOutcome(t, r, 0, "")
		if served.calls.Load() != before+1 {
			t.Error("the socket was not asked")
		}
	})
}

// TestNoSQLBuild: deliver built with -tags maildeliver_nosql has no SQL
// driver. It delivers with lmtpd's socket, defers (never bounces) when
// the socket cannot be asked or none is configured, and -check says so.
func TestNoSQLBuild(t *testing.T) {
	requireRoot(t)
	e := sqliteEnv(t, "")
	cfg, err := config.Load(e.conf)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := lookup.Open(cfg.Userdb, cfg.Mail.RecipientDelimiter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	served := &countingUserdb{db: sqlDB}
	sock := serveUserdb(t, served, 0o600)
	viaSocket := withUserdb(t, e, "nosql.toml", map[string]string{"socket": `"` + sock + `"`})
	absent := withUserdb(t, e, "nosql-absent.toml", map[string]string{"socket": `"` + filepath.Join(e.dir, "no-such-socket") + `"`})

	t.Run("delivered via the socket", func(t *testing.T) {
		r := runDeliver(t, nosqlBinary, nil, nil, testMsg, "-c", viaSocket, "-f", "alice@example.net", "-d", "user@domain.org")
		checkOutcome(t, r, 0, "")
		checkDelivered(t, filepath.Join(e.dir, "home/domain.org/mails/user/Maildir/new"),
			"alice@example.net", "user@domain.org", 1001, 1001, wantStored)
		r = runDeliver(t, nosqlBinary, nil, nil, testMsg, "-c", viaSocket, "-f", "a@b", "-d", "nobody@domain.org")
		checkOutcome(t, r, 67, "5.1.1 <nobody@domain.org>: user unknown")
	})
	t.Run("socket absent: deferred", func(t *testing.T) {
		r := runDeliver(t, nosqlBinary, nil, nil, testMsg, "-c", absent, "-f", "a@b", "-d", "user@foo.org")
		checkOutcome(t, r, 75, "4.3.0 ")
		if ents, _ := os.ReadDir(filepath.Join(e.dir, "home/foo.org/mails/user/Maildir/new")); len(ents) != 0 {
			t.Errorf("delivered %d files without a userdb", len(ents))
		}
	})
	t.Run("no socket configured: deferred", func(t *testing.T) {
		r := runDeliver(t, nosqlBinary, nil, nil, testMsg, "-c", e.conf, "-f", "a@b", "-d", "user@foo.org")
		checkOutcome(t, r, 75, `4.3.5 configuration error: userdb: lookup: driver "sqlite" is not built into this binary`)
	})
	t.Run("-check", func(t *testing.T) {
		r := runDeliver(t, nosqlBinary, nil, nil, "", "-c", viaSocket, "-check")
		if r.code != 0 || !strings.Contains(r.out, "\n# userdb: driver sqlite not built in (-tags maildeliver_nosql): deliver asks the socket only\n") ||
			!strings.Contains(r.out, "\n# userdb socket "+sock+": ok\n") {
			t.Errorf("socket up: exit %d, output %q", r.code, r.out)
		}
		r = runDeliver(t, nosqlBinary, nil, nil, "", "-c", absent, "-check")
		lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
		if last := lines[len(lines)-1]; r.code != 75 ||
			!strings.HasPrefix(last, "4.3.0 userdb socket unavailable to uid 0 and no SQL driver built in: ") {
			t.Errorf("socket absent: exit %d, output %q", r.code, r.out)
		}
		r = runDeliver(t, nosqlBinary, nil, nil, "", "-c", e.conf, "-check")
		lines = strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
		if last := lines[len(lines)-1]; r.code != 75 ||
			!strings.HasPrefix(last, `4.3.5 configuration error: userdb: lookup: driver "sqlite" is not built into this binary`) {
			t.Errorf("no socket: exit %d, output %q", r.code, r.out)
		}
	})
}
