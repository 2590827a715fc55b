package lmtp

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/userdbsock"
)

// TestUserdbSocket: with [userdb] socket set, the server answers lookups
// there from the current userdb, switches with a reload, and removes the
// socket at shutdown (so that deliver falls back to SQL).
func TestUserdbSocket(t *testing.T) {
	group, gid := someGroup(t)
	var spies []*closeSpy
	var sock string
	e := newEnv(t, envOptions{noStart: true, config: func(c *config.Config) {
		sock = filepath.Join(filepath.Dir(c.LMTP.SpoolDir), "userdb.sock")
		c.Userdb.Socket = sock
		c.Userdb.SocketMode = 0o660
		c.Userdb.SocketGroup = group
	}})
	// A stale socket left by a crashed lmtpd is replaced, as the LMTP one.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	e.start(func(c *config.Config) (lookup.Userdb, error) {
		db, err := lookup.Open(c.Userdb, c.Mail.RecipientDelimiter)
		if err != nil {
			return nil, err
		}
		s := &closeSpy{Userdb: db, closed: make(chan struct{})}
		spies = append(spies, s)
		return s, nil
	})

	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("userdb socket mode %v, want socket 0660", fi.Mode())
	}
	if isRoot() {
		if g := int(fi.Sys().(*syscall.Stat_t).Gid); g != gid {
			t.Errorf("userdb socket group %d, want %d (%s)", g, gid, group)
		}
	}

	c := &userdbsock.Client{Path: sock, Timeout: ioTimeout}
	ctx := context.Background()
	a, _ := uids()
	u, err := c.Lookup(ctx, "alice+lists@domain.org")
	if err != nil {
		t.Fatal(err)
	}
	if u.Address != "alice@domain.org" || u.Detail != "lists" || u.UID != int64(a) ||
		u.Home != e.dir+"/"+filepath.Join("mail", strconv.Itoa(a), "domain.org/alice") {
		t.Errorf("alice: %+v", u)
	}
	if _, err := c.Lookup(ctx, "dave@domain.org"); !errors.Is(err, lookup.ErrNotFound) {
		t.Errorf("dave before reload: %v, want ErrNotFound", err)
	}

	// Reload to a userdb that knows dave and not alice.
	path2 := filepath.Join(e.dir, "users2.db")
	e.createDB(path2, map[string]int{"dave@domain.org": a})
	cfg2 := *e.cfg
	cfg2.Userdb.Connect = path2
	if err := e.srv.Reload(&cfg2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-spies[0].closed:
	case <-time.After(ioTimeout):
		t.Fatal("old userdb not closed after the reload")
	}
	if u, err := c.Lookup(ctx, "dave@domain.org"); err != nil || u.Address != "dave@domain.org" {
		t.Errorf("dave after reload: %+v, %v", u, err)
	}
	if _, err := c.Lookup(ctx, "alice@domain.org"); !errors.Is(err, lookup.ErrNotFound) {
		t.Errorf("alice after reload: %v, want ErrNotFound", err)
	}

	// LMTP is unaffected.
	lc := e.raw("unix")
	lc.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<dave@domain.org>\r\n")
	lc.expect("250-")
	lc.expect("250 ")
	lc.expect("250 ")
	lc.send("QUIT\r\n")
	lc.expect("221 ")

	e.stop()
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("userdb socket after shutdown: %v", err)
	}
	if _, err := c.Lookup(ctx, "dave@domain.org"); !errors.Is(err, userdbsock.ErrUnavailable) {
		t.Errorf("after shutdown: %v, want ErrUnavailable", err)
	}
	select {
	case <-spies[1].closed:
	default:
		t.Error("userdb not closed at shutdown")
	}
}

// A userdb socket lookup in progress keeps its userdb open across a
// reload, and is answered during shutdown.
func TestUserdbSocketPinsUserdb(t *testing.T) {
	var sock string
	blocked := make(chan struct{})
	release := make(chan struct{})
	var spies []*closeSpy
	e := newEnv(t, envOptions{noStart: true, config: func(c *config.Config) {
		sock = filepath.Join(filepath.Dir(c.LMTP.SpoolDir), "userdb.sock")
		c.Userdb.Socket = sock
	}})
	e.start(func(c *config.Config) (lookup.Userdb, error) {
		db, err := lookup.Open(c.Userdb, c.Mail.RecipientDelimiter)
		if err != nil {
			return nil, err
		}
		s := &closeSpy{Userdb: db, closed: make(chan struct{})}
		if len(spies) == 0 {
			s.Userdb = &blockingUserdb{Userdb: db, blocked: blocked, release: release}
		}
		spies = append(spies, s)
		return s, nil
	})
	c := &userdbsock.Client{Path: sock, Timeout: ioTimeout}
	got := make(chan error, 1)
	go func() {
		_, err := c.Lookup(context.Background(), "alice@domain.org")
		got <- err
	}()
	<-blocked
	cfg2 := *e.cfg
	if err := e.srv.Reload(&cfg2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-spies[0].closed:
		t.Fatal("old userdb closed while a socket lookup uses it")
	default:
	}
	stopped := make(chan struct{})
	go func() {
		e.stop()
		close(stopped)
	}()
	// Shutdown has begun once the socket is gone; it then waits for the
	// lookup in progress.
	deadline := time.Now().Add(ioTimeout)
	for {
		_, err := c.Lookup(context.Background(), "alice@domain.org")
		if errors.Is(err, userdbsock.ErrUnavailable) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("userdb socket still answering after Shutdown began: %v", err)
		}
	}
	select {
	case <-stopped:
		t.Fatal("Shutdown returned with a socket lookup in progress")
	default:
	}
	close(release)
	if err := <-got; err != nil {
		t.Errorf("lookup in progress at reload and shutdown: %v", err)
	}
	<-stopped
	for i, s := range spies {
		select {
		case <-s.closed:
		default:
			t.Errorf("userdb %d not closed", i)
		}
	}
}

// blockingUserdb holds its first lookup until release is closed.
type blockingUserdb struct {
	lookup.Userdb
	blocked, release chan struct{}
}

func (b *blockingUserdb) Lookup(ctx context.Context, address string) (*lookup.User, error) {
	close(b.blocked)
	<-b.release
	return b.Userdb.Lookup(ctx, address)
}

func (*blockingUserdb) Close() error { return nil }

// Listen fails, leaving nothing behind, when the userdb socket's path is
// in the way.
func TestUserdbSocketListenFailure(t *testing.T) {
	e := newEnv(t, envOptions{noStart: true, config: func(c *config.Config) {
		c.Userdb.Socket = filepath.Join(filepath.Dir(c.LMTP.SpoolDir), "userdb.sock")
	}})
	if err := os.WriteFile(e.cfg.Userdb.Socket, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := New(e.cfg, Options{Log: e.logger()})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Listen()
	srv.Shutdown(context.Background())
	if !errors.Is(err, ErrConfig) {
		t.Errorf("Listen = %v, want ErrConfig", err)
	}
	if b, _ := os.ReadFile(e.cfg.Userdb.Socket); string(b) != "precious" {
		t.Error("regular file removed or changed")
	}
	if _, err := os.Lstat(e.unix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LMTP socket left after failed Listen: %v", err)
	}
}
