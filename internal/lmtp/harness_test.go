package lmtp

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/sievedeliver"
)

// The test environment: a SQLite userdb with the seed 000 schema in
// t.TempDir(), mailboxes below it, and a Server listening in-process on a
// unix socket and on TCP 127.0.0.1:0. As root (the normal CI case), users
// get uids 1001 and 1002 and deliveries switch identity per thread; as
// another user, every mailbox belongs to that user.

// ioTimeout bounds every client read, so a server bug fails the test
// instead of hanging it.
const ioTimeout = 30 * time.Second

type testUser struct {
	addr    string
	uid     int
	maildir string
}

type env struct {
	t       *testing.T
	dir     string
	dbPath  string
	cfg     *config.Config
	srv     *Server
	logs    *lockedBuffer
	users   map[string]testUser
	unix    string
	tcp     string
	stopped bool
}

// uids returns the two uids test users get.
func uids() (int, int) {
	if os.Geteuid() == 0 {
		return 1001, 1002
	}
	return os.Geteuid(), os.Geteuid()
}

func isRoot() bool { return os.Geteuid() == 0 }

// defaultUsers: the seed's domain.org (uid 1001) and foo.org (uid 1002).
func defaultUsers() map[string]int {
	a, b := uids()
	return map[string]int{
		"alice@domain.org": a, "carol@domain.org": a, "josé@domain.org": a,
		"bob@foo.org": b,
	}
}

type envOptions struct {
	users  map[string]int // address -> uid; nil = defaultUsers
	config func(*config.Config)
	open   func(*config.Config) (lookup.Userdb, error)
	// noStart: build the config only (for tests that start servers themselves).
	noStart bool
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), logs: &lockedBuffer{}, users: make(map[string]testUser)}
	// Mailbox owners other than root must be able to reach their homes.
	for _, d := range []string{filepath.Dir(e.dir), e.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	users := o.users
	if users == nil {
		users = defaultUsers()
	}
	e.dbPath = filepath.Join(e.dir, "users.db")
	e.createDB(e.dbPath, users)
	if err := os.Mkdir(filepath.Join(e.dir, "spool"), 0o700); err != nil {
		t.Fatal(err)
	}
	a, b := uids()
	uid := 1000
	if !isRoot() {
		uid = a
	}
	cfg := config.Defaults()
	cfg.Hostname = "mx.test"
	cfg.Log.Target = "stderr"
	cfg.Userdb = config.Userdb{Driver: "sqlite", Connect: e.dbPath,
		UserQuery: "SELECT '" + e.dir + "/'||home AS home, uid, gid FROM users WHERE userid = '%u'",
		Timeout:   config.Duration(5 * time.Second), MaxConnections: 4}
	cfg.Mail.MinUID = int64(min(uid, a, b))
	e.unix = filepath.Join(e.dir, "lmtp.sock")
	cfg.LMTP.Listen = []string{"unix:" + e.unix, "tcp:127.0.0.1:0"}
	cfg.LMTP.SocketGroup = ""
	cfg.LMTP.SpoolDir = filepath.Join(e.dir, "spool")
	if o.config != nil {
		o.config(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	if !o.noStart {
		e.start(o.open)
	}
	return e
}

func (e *env) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (e *env) start(open func(*config.Config) (lookup.Userdb, error)) {
	e.t.Helper()
	// The binary's wiring: Sieve when a test's config enables it.
	srv, err := New(e.cfg, Options{Log: e.logger(), OpenUserdb: open, Decider: sievedeliver.Option})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		e.t.Fatal(err)
	}
	for _, a := range srv.Addrs() {
		if a.Network() == "tcp" {
			e.tcp = a.String()
		}
	}
	e.srv = srv
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	e.t.Cleanup(func() {
		e.stop()
		if err := <-done; err != nil {
			e.t.Errorf("Serve: %v", err)
		}
	})
}

// stop shuts the server down (gracefully, generous deadline) once.
func (e *env) stop() {
	if e.stopped || e.srv == nil {
		return
	}
	e.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Errorf("Shutdown: %v", err)
	}
}

// createDB writes the seed 000 users table with one row per user.
func (e *env) createDB(path string, users map[string]int) {
	e.t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	// One transaction without fsync: test setup, not the subject.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`PRAGMA synchronous = OFF; PRAGMA journal_mode = MEMORY`); err != nil {
		e.t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() {
		if err := tx.Commit(); err != nil {
			e.t.Fatal(err)
		}
	}()
	if _, err := tx.Exec(`CREATE TABLE users (
		userid VARCHAR(128) NOT NULL, password VARCHAR(128), realname VARCHAR(128),
		uid INTEGER NOT NULL, gid INTEGER NOT NULL, home VARCHAR(128), mail VARCHAR(255),
		PRIMARY KEY (userid))`); err != nil {
		e.t.Fatal(err)
	}
	for addr, uid := range users {
		local, domain, _ := strings.Cut(addr, "@")
		home := filepath.Join("mail", strconv.Itoa(uid), domain, local)
		if _, err := tx.Exec(`INSERT INTO users (userid, uid, gid, home) VALUES (?, ?, ?, ?)`,
			addr, uid, uid, home); err != nil {
			e.t.Fatal(err)
		}
		base := filepath.Join(e.dir, "mail", strconv.Itoa(uid))
		if err := os.MkdirAll(base, 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.Chown(base, uid, uid); err != nil {
			e.t.Fatal(err)
		}
		e.users[addr] = testUser{addr: addr, uid: uid, maildir: filepath.Join(e.dir, home, "Maildir")}
	}
}

// files lists the entries of a user's Maildir subdirectory ("new", "tmp").
func (e *env) files(addr, sub string) []string {
	e.t.Helper()
	u, ok := e.users[addr]
	if !ok {
		e.t.Fatalf("no test user %s", addr)
	}
	ents, err := os.ReadDir(filepath.Join(u.maildir, sub))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	return names
}

// messages returns the contents of the files in a user's new/.
func (e *env) messages(addr string) []string {
	e.t.Helper()
	var out []string
	for _, n := range e.files(addr, "new") {
		b, err := os.ReadFile(filepath.Join(e.users[addr].maildir, "new", n))
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// only returns the single message in addr's new/, failing otherwise.
func (e *env) only(addr string) string {
	e.t.Helper()
	m := e.messages(addr)
	if len(m) != 1 {
		e.t.Fatalf("%s: %d messages in new/, want 1", addr, len(m))
	}
	return m[0]
}

// noMail checks that nothing is in new/ or tmp/ of any user.
func (e *env) noMail() {
	e.t.Helper()
	for addr := range e.users {
		if n := e.files(addr, "new"); len(n) > 0 {
			e.t.Errorf("%s: new/ holds %v", addr, n)
		}
		if n := e.files(addr, "tmp"); len(n) > 0 {
			e.t.Errorf("%s: tmp/ holds %v", addr, n)
		}
	}
}

func (e *env) dial(network string) net.Conn {
	e.t.Helper()
	addr := e.unix
	if network == "tcp" {
		addr = e.tcp
	}
	c, err := net.Dial(network, addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// client returns a go-smtp LMTP client after LHLO.
func (e *env) client(network string) *smtp.Client {
	e.t.Helper()
	c := smtp.NewClientLMTP(e.dial(network))
	if err := c.Hello("client.test"); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// rawClient speaks LMTP by hand, byte for byte.
type rawClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// raw connects and reads the greeting.
func (e *env) raw(network string) *rawClient {
	e.t.Helper()
	c := &rawClient{t: e.t, c: e.dial(network)}
	c.r = bufio.NewReader(c.c)
	c.expect("220 ")
	return c
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// reply reads one (possibly multi-line) reply; lines are joined by "\n".
func (c *rawClient) reply() string {
	c.t.Helper()
	s, err := c.tryReply()
	if err != nil {
		c.t.Fatalf("reading reply: %v (got %q)", err, s)
	}
	return s
}

func (c *rawClient) tryReply() (string, error) {
	c.c.SetReadDeadline(time.Now().Add(ioTimeout))
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return strings.Join(append(lines, line), "\n"), err
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n"), nil
		}
	}
}

// expect reads one reply and checks its start.
func (c *rawClient) expect(prefix string) string {
	c.t.Helper()
	r := c.reply()
	if !strings.HasPrefix(r, prefix) {
		c.t.Fatalf("got reply %q, want %q...", r, prefix)
	}
	return r
}

// closed checks that the server closes the connection (after any replies
// it still sends, which are returned).
func (c *rawClient) closed() []string {
	c.t.Helper()
	var got []string
	for {
		r, err := c.tryReply()
		if err != nil {
			if r != "" {
				got = append(got, r)
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("connection not closed; got %q", got)
			}
			return got
		}
		got = append(got, r)
	}
}

// lockedBuffer collects the server's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// owner returns a file's uid.
func owner(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}

// msg builds a small message with CRLF line endings.
func msg(subject string, body ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: sender@example.net\r\nTo: someone@domain.org\r\nSubject: %s\r\nMessage-ID: <%s@example.net>\r\n\r\n", subject, subject)
	for _, l := range body {
		b.WriteString(l + "\r\n")
	}
	return b.String()
}
