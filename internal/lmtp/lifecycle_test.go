package lmtp

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
)

// startData opens a connection and leaves it in the middle of DATA for
// alice and bob, half the message sent.
func (e *env) startData(network string) *rawClient {
	e.t.Helper()
	c := e.raw(network)
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRCPT TO:<bob@foo.org>\r\nDATA\r\n")
	c.expect("250-")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	c.send("Subject: half\r\n\r\nfirst half\r\n")
	return c
}

func TestCommandTimeout(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.CommandTimeout = config.Duration(200 * time.Millisecond) }})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\n")
	c.expect("250-")
	c.expect("250 ")
	if got := c.closed(); len(got) != 1 || !strings.HasPrefix(got[0], "421 4.4.2") {
		t.Errorf("idle client: got %q, want 421 4.4.2 and close", got)
	}
}

// TestDataTimeout: a client that stalls in DATA gets 451 4.4.2 per
// recipient after data_timeout, then the connection ends (what it would
// still send cannot be told from commands).
func TestDataTimeout(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.DataTimeout = config.Duration(300 * time.Millisecond) }})
	c := e.startData("tcp")
	got := c.closed()
	if len(got) < 2 || !strings.HasPrefix(got[0], "451 4.4.2 <alice@domain.org> timeout waiting for message data [") ||
		!strings.HasPrefix(got[1], "451 4.4.2 <bob@foo.org>") {
		t.Errorf("got %q", got)
	}
	for _, r := range got {
		if r[0] == '5' || r[0] == '2' {
			t.Errorf("reply %q after a data timeout", r)
		}
	}
	e.stop()
	e.noMail()
}

// TestDataTimeoutBDAT: the same for a client that stalls between chunks.
func TestDataTimeoutBDAT(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.DataTimeout = config.Duration(300 * time.Millisecond) }})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nBDAT 5\r\nSubje")
	c.expect("250-")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("250 ")
	got := c.closed()
	if len(got) == 0 {
		t.Error("no reply before the connection closed")
	}
	for _, r := range got {
		if !strings.HasPrefix(r, "4") {
			t.Errorf("reply %q after a data timeout", r)
		}
	}
	e.stop()
	e.noMail()
}

func TestDisconnectMidData(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.SpoolMemory = 1 << 10 }})
	c := e.startData("unix")
	c.send(strings.Repeat("more body\r\n", 1000)) // past spool_memory: in the spool file
	c.c.Close()
	e.stop() // returns once the connection and its data phase are over
	e.noMail()
	if ents, _ := os.ReadDir(e.cfg.LMTP.SpoolDir); len(ents) != 0 {
		t.Errorf("spool_dir: %v", ents)
	}
}

func TestConnectionLimit(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.MaxConnections = 2 }})
	a := e.raw("unix")
	e.raw("tcp")
	over := e.dial("unix")
	r, err := bufio.NewReader(over).ReadString('\n')
	if err != nil || r != "421 4.3.2 too many connections, try again later\r\n" {
		t.Fatalf("third connection: %q %v", r, err)
	}
	// Once one ends, there is room again.
	a.send("QUIT\r\n")
	a.expect("221 ")
	a.closed()
	e.raw("unix")
}

// TestShutdownGraceful: idle connections are told 421 and closed, a
// transaction in DATA finishes and gets its 250s, Shutdown returns nil,
// and the socket file is gone.
func TestShutdownGraceful(t *testing.T) {
	e := newEnv(t, envOptions{})
	busy := e.startData("unix")
	idle := e.raw("tcp")
	idle.send("LHLO client.test\r\n")
	idle.expect("250-")

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	e.stopped = true
	if got := idle.closed(); len(got) != 1 || !strings.HasPrefix(got[0], "421 ") {
		t.Errorf("idle connection: got %q", got)
	}
	busy.send("second half\r\n.\r\n")
	savedID(t, busy.reply(), "alice@domain.org")
	savedID(t, busy.reply(), "bob@foo.org")
	busy.closed()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if !strings.HasSuffix(e.only("alice@domain.org"), "first half\nsecond half\n") {
		t.Error("alice: incomplete message")
	}
	if _, err := os.Lstat(e.unix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after shutdown: %v", err)
	}
}

// TestShutdownDeadline: past shutdown's deadline a transaction still in
// DATA is cut: no reply, nothing on disk, nothing left in tmp/ or spool.
func TestShutdownDeadline(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.SpoolMemory = 0 }})
	busy := e.startData("unix")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	e.stopped = true
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want deadline exceeded", err)
	}
	for _, r := range busy.closed() {
		if !strings.HasPrefix(r, "4") {
			t.Errorf("cut transaction answered %q", r)
		}
	}
	e.noMail()
}

// closeSpy records when a userdb is closed.
type closeSpy struct {
	lookup.Userdb
	closed chan struct{}
}

func (c *closeSpy) Close() error {
	close(c.closed)
	return c.Userdb.Close()
}

// TestReload: a new userdb applies to new transactions; one that started
// before keeps the old userdb, which is closed when it ends.
func TestReload(t *testing.T) {
	var spies []*closeSpy
	e := newEnv(t, envOptions{open: func(c *config.Config) (lookup.Userdb, error) {
		db, err := lookup.Open(c.Userdb, c.Mail.RecipientDelimiter)
		if err != nil {
			return nil, err
		}
		s := &closeSpy{Userdb: db, closed: make(chan struct{})}
		spies = append(spies, s)
		return s, nil
	}})
	old := e.raw("unix")
	old.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\n")
	old.expect("250-")
	old.expect("250 ")

	path2 := filepath.Join(e.dir, "users2.db")
	a, _ := uids()
	e.createDB(path2, map[string]int{"dave@domain.org": a})
	cfg2 := *e.cfg
	cfg2.Userdb.Connect = path2
	if err := e.srv.Reload(&cfg2); err != nil {
		t.Fatal(err)
	}

	old.send("RCPT TO:<dave@domain.org>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n")
	old.expect("550 5.1.1")
	old.expect("250 ")
	old.expect("354 ")
	select {
	case <-spies[0].closed:
		t.Fatal("old userdb closed while a transaction uses it")
	default:
	}
	old.send(msg("old", "x") + ".\r\n")
	savedID(t, old.reply(), "alice@domain.org")
	select {
	case <-spies[0].closed:
	case <-time.After(ioTimeout):
		t.Fatal("old userdb not closed after its last transaction")
	}

	c := e.raw("tcp")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRCPT TO:<dave@domain.org>\r\nDATA\r\n")
	c.expect("250-")
	c.expect("250 ")
	c.expect("550 5.1.1")
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("new", "x") + ".\r\n")
	savedID(t, c.reply(), "dave@domain.org")
	e.only("dave@domain.org")
}

// someGroup returns a group other than the process's, for socket_group.
func someGroup(t *testing.T) (string, int) {
	for _, name := range []string{"daemon", "mail", "nogroup", "users"} {
		if g, err := user.LookupGroup(name); err == nil {
			gid, _ := strconv.Atoi(g.Gid)
			return name, gid
		}
	}
	t.Skip("SKIPPED: no group daemon/mail/nogroup/users on this system")
	return "", 0
}

func TestUnixSocket(t *testing.T) {
	group, gid := someGroup(t)
	e := newEnv(t, envOptions{noStart: true, config: func(c *config.Config) {
		c.LMTP.SocketMode = 0o660
		c.LMTP.SocketGroup = group
	}})
	listen := func() error {
		srv, err := New(e.cfg, Options{Log: e.logger()})
		if err != nil {
			t.Fatal(err)
		}
		err = srv.Listen()
		srv.Shutdown(context.Background())
		return err
	}

	// A stale socket (nobody accepting) is replaced.
	l, err := net.Listen("unix", e.unix)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	srv, err := New(e.cfg, Options{Log: e.logger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	fi, err := os.Lstat(e.unix)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("socket mode %v, want socket 0660", fi.Mode())
	}
	if isRoot() {
		if g := int(fi.Sys().(*syscall.Stat_t).Gid); g != gid {
			t.Errorf("socket group %d, want %d (%s)", g, gid, group)
		}
	}
	// A live socket is not touched: another server is running.
	if err := listen(); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("live socket: %v", err)
	}
	srv.Shutdown(context.Background())

	// Not a socket: never removed.
	if err := os.WriteFile(e.unix, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := listen(); !errors.Is(err, ErrConfig) {
		t.Errorf("regular file in the way: %v, want ErrConfig", err)
	}
	if b, _ := os.ReadFile(e.unix); string(b) != "precious" {
		t.Error("regular file removed or changed")
	}
	os.Remove(e.unix)

	// An unknown group is a configuration error, and nothing is left.
	e.cfg.LMTP.SocketGroup = "no-such-group-here"
	if err := listen(); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown group: %v, want ErrConfig", err)
	}
	if _, err := os.Lstat(e.unix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after failed Listen: %v", err)
	}
}
