package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"maildeliver/internal/lookup"
	"maildeliver/internal/userdbsock"
)

// withUserdbSocket adds [userdb] keys to a config written by setup.
func withUserdbSocket(t *testing.T, cfgPath, keys string) {
	t.Helper()
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("[userdb]\n"), []byte("[userdb]\n"+keys+"\n"), 1)
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDaemonUserdbSocket: the real lmtpd answers lookups on [userdb]
// socket, from the reloaded userdb after SIGHUP, and removes the socket
// when it stops.
func TestDaemonUserdbSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "lmtp.sock")
	usock := filepath.Join(dir, "userdb.sock")
	cfg, _ := setup(t, strconv.Quote("unix:"+sock), "")
	withUserdbSocket(t, cfg, "socket = "+strconv.Quote(usock))
	d := startDaemon(t, exec.Command(os.Args[0], "-c", cfg))
	d.waitState("READY=1")

	c := &userdbsock.Client{Path: usock, Timeout: ioTimeout}
	ctx := context.Background()
	if u, err := c.Lookup(ctx, "alice@domain.org"); err != nil || u.Address != "alice@domain.org" {
		t.Fatalf("alice: %+v, %v", u, err)
	}
	if fi, err := os.Lstat(usock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket: %v, %v; want mode 0660", fi, err)
	}

	// A second userdb without alice, with bob; SIGHUP switches to it.
	db2 := filepath.Join(filepath.Dir(cfg), "users2.db")
	db, err := sql.Open("sqlite", db2)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE users (userid VARCHAR(128) PRIMARY KEY, uid INTEGER NOT NULL, gid INTEGER NOT NULL, home VARCHAR(128))`,
		`INSERT INTO users (userid, uid, gid, home) VALUES ('bob@domain.org', 1001, 1001, 'mail/bob')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	b, _ := os.ReadFile(cfg)
	b = bytes.Replace(b, []byte(strconv.Quote(filepath.Join(filepath.Dir(cfg), "users.db"))), []byte(strconv.Quote(db2)), 1)
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	d.signal(syscall.SIGHUP)
	d.waitState("RELOADING=1")
	d.waitState("READY=1")
	if u, err := c.Lookup(ctx, "bob@domain.org"); err != nil || u.UID != 1001 {
		t.Errorf("bob after reload: %+v, %v", u, err)
	}
	if _, err := c.Lookup(ctx, "alice@domain.org"); !errors.Is(err, lookup.ErrNotFound) {
		t.Errorf("alice after reload: %v, want ErrNotFound", err)
	}

	d.signal(syscall.SIGTERM)
	if code := d.wait(); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if _, err := c.Lookup(ctx, "bob@domain.org"); !errors.Is(err, userdbsock.ErrUnavailable) {
		t.Errorf("after shutdown: %v, want ErrUnavailable", err)
	}
}

// An unknown [userdb] socket_group fails -check.
func TestCheckUserdbSocketGroup(t *testing.T) {
	cfg, _ := setup(t, `"unix:/run/nowhere/lmtp"`, "")
	withUserdbSocket(t, cfg, "socket = \"/run/nowhere/userdb\"\nsocket_group = \"no-such-group-here\"")
	code, _, errOut := runLmtpd("-c", cfg, "-check")
	if code != 75 {
		t.Errorf("exit %d, want 75", code)
	}
	oneStatusLine(t, errOut, "4.3.5 configuration error: userdb: ")
}
