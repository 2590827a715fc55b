//go:build faults

package faults

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"maildeliver/internal/testdb"
)

// The mailbox owners of seed 000's example rows: a uid per domain.
const (
	uid1 = 1001 // user@domain.org, user2@domain.org
	uid2 = 1002 // user@foo.org
)

// env is one mail system: a seed 000 userdb (PostgreSQL, MariaDB or
// SQLite), mail under dir/home, a log, and the sockets' directory.
type env struct {
	t    testing.TB
	dir  string
	home string
	log  string
	db   *testdb.DB
	// query is user_query; seed 000's, mail under home, when empty
	query string
}

// newEnv loads seed 000 with its example rows into db (SQLite when nil;
// PostgreSQL and MariaDB through package testdb).
func newEnv(t testing.TB, db *testdb.DB) *env {
	t.Helper()
	dir, err := os.MkdirTemp("", "faults-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	if db == nil {
		db = testdb.SQLite(t, dir)
	}
	db.Exec(t, testdb.Seed000+testdb.Seed000Data)
	e := &env{t: t, dir: dir, home: filepath.Join(dir, "home"), log: filepath.Join(dir, "maildeliver.log"), db: db}
	os.WriteFile(e.log, nil, 0o666)
	os.Chmod(e.log, 0o666)
	if db.Driver == "mysql" { // seed 000's query concatenates with ||, MySQL's OR
		e.query = "SELECT CONCAT('" + e.home + "/', home) AS home, uid, gid FROM users WHERE userid = '%u'"
	}
	e.mkdirOwned("home/domain.org", uid1, uid1)
	e.mkdirOwned("home/foo.org", uid2, uid2)
	return e
}

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

// maildir is the INBOX of a seed 000 user ("user@domain.org").
func (e *env) maildir(addr string) string {
	local, domain, _ := strings.Cut(addr, "@")
	return filepath.Join(e.home, domain, "mails", local, "Maildir")
}

func (e *env) sock() string { return filepath.Join(e.dir, "lmtp.sock") }

// section holds extra lines per config section ("", "userdb", "mail",
// "quota", "lmtp"); they must not repeat a key the base config sets.
type section map[string]string

// config writes a configuration for both binaries and returns its path.
func (e *env) config(name string, extra section) string {
	e.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "hostname = \"mx.faults.test\"\n%s\n", extra[""])
	fmt.Fprintf(&b, "[log]\ntarget = \"file:%s\"\n%s\n", e.log, extra["log"])
	q := e.query
	if q == "" {
		q = testdb.Seed000Query(e.home)
	}
	fmt.Fprintf(&b, "[userdb]\ndriver = %q\nconnect = %q\nuser_query = %q\n%s\n", e.db.Driver, e.db.Connect, q, extra["userdb"])
	fmt.Fprintf(&b, "[mail]\nmin_uid = 1000\n%s\n", extra["mail"])
	fmt.Fprintf(&b, "[quota]\n%s\n", extra["quota"])
	fmt.Fprintf(&b, "[lmtp]\nlisten = [%q]\nsocket_group = \"\"\n%s\n", "unix:"+e.sock(), extra["lmtp"])
	p := filepath.Join(e.dir, name+".toml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// lockedBuffer collects a process's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// daemon is a running lmtpd.
type daemon struct {
	cmd    *exec.Cmd
	pid    int // lmtpd's (under strace, the child of cmd)
	stderr *lockedBuffer
	exit   chan struct{}
	err    error
}

// startLmtpd starts lmtpd with cfg and waits for its sd_notify READY=1.
func startLmtpd(t testing.TB, cfg string) *daemon {
	t.Helper()
	d, err := tryStartLmtpd(cfg, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.kill)
	return d
}

func tryStartLmtpd(cfg string, timeout time.Duration) (*daemon, error) {
	return tryStartUnder(nil, cfg, timeout)
}

// tryStartUnder starts lmtpd as the last argument of prefix (e.g. strace).
func tryStartUnder(prefix []string, cfg string, timeout time.Duration) (*daemon, error) {
	dir, err := os.MkdirTemp("", "faults-notify-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ns := filepath.Join(dir, "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ns, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	argv := append(append([]string{}, prefix...), lmtpdBin(), "-c", cfg)
	d := &daemon{cmd: exec.Command(argv[0], argv[1:]...), stderr: &lockedBuffer{}, exit: make(chan struct{})}
	d.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+ns)
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.err = d.cmd.Wait(); close(d.exit) }()
	buf := make([]byte, 4096)
	deadline := time.Now().Add(timeout)
	for {
		nc.SetReadDeadline(deadline)
		n, err := nc.Read(buf)
		if err != nil {
			d.kill()
			return nil, fmt.Errorf("lmtpd not ready: %v; stderr: %s", err, d.stderr.String())
		}
		for _, l := range strings.Split(string(buf[:n]), "\n") {
			if l == "READY=1" {
				d.pid = d.cmd.Process.Pid
				if prefix != nil {
					d.pid = childPid(d.pid)
				}
				return d, nil
			}
		}
	}
}

// childPid returns the first child of pid (lmtpd under strace).
func childPid(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return pid
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// kill ends lmtpd with SIGKILL and reaps it (and its strace).
func (d *daemon) kill() {
	if d.pid != 0 {
		syscall.Kill(d.pid, syscall.SIGKILL)
	}
	d.cmd.Process.Kill()
	<-d.exit
}

// stop sends SIGTERM and waits up to limit; it reports whether lmtpd
// exited in time (it is killed otherwise).
func (d *daemon) stop(limit time.Duration) bool {
	syscall.Kill(d.pid, syscall.SIGTERM)
	select {
	case <-d.exit:
		return true
	case <-time.After(limit):
		d.kill()
		return false
	}
}

func (d *daemon) alive() bool {
	select {
	case <-d.exit:
		return false
	default:
		return true
	}
}

// status reads a field in kB from /proc/PID/status (VmHWM, VmRSS).
func (d *daemon) status(field string) int64 {
	return procStatus(d.pid, field)
}

func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// lmtpClient is a raw LMTP connection: the suite speaks the protocol by
// hand so that it can send what no client library would.
type lmtpClient struct {
	c net.Conn
	r *bufio.Reader
}

// dialLMTP connects and reads the greeting.
func dialLMTP(sock string, timeout time.Duration) (*lmtpClient, string, error) {
	c, err := net.DialTimeout("unix", sock, timeout)
	if err != nil {
		return nil, "", err
	}
	cl := &lmtpClient{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	cl.c.SetDeadline(time.Now().Add(timeout))
	g, err := cl.reply()
	if err != nil {
		c.Close()
		return nil, g, err
	}
	return cl, g, nil
}

func (cl *lmtpClient) Close() error { return cl.c.Close() }

// deadline sets the deadline of every following read and write.
func (cl *lmtpClient) deadline(d time.Duration) { cl.c.SetDeadline(time.Now().Add(d)) }

// reply reads one (possibly multi-line) reply and returns its last line
// without CRLF.
func (cl *lmtpClient) reply() (string, error) {
	for {
		l, err := cl.r.ReadString('\n')
		if err != nil {
			return strings.TrimRight(l, "\r\n"), err
		}
		l = strings.TrimRight(l, "\r\n")
		if len(l) < 4 || l[3] != '-' {
			return l, nil
		}
	}
}

// cmd sends one command line and reads its reply.
func (cl *lmtpClient) cmd(line string) (string, error) {
	if _, err := cl.c.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	return cl.reply()
}

func (cl *lmtpClient) write(s string) error {
	_, err := cl.c.Write([]byte(s))
	return err
}

// rcptReply is a recipient's reply after DATA (or its RCPT reply when
// RCPT was refused).
type rcptReply struct{ rcpt, reply string }

// deliverLMTP sends one message to rcpts on a fresh connection.
func deliverLMTP(sock string, rcpts []string, msg string, timeout time.Duration) ([]rcptReply, error) {
	cl, g, err := dialLMTP(sock, timeout)
	if err != nil {
		return nil, fmt.Errorf("greeting %q: %v", g, err)
	}
	defer cl.Close()
	return cl.transaction(rcpts, msg)
}

// transaction runs LHLO, MAIL, RCPTs, DATA and returns each recipient's
// reply: the one after DATA for accepted recipients, else the RCPT reply.
// msg uses LF; it is sent with CRLF, dot-stuffed.
func (cl *lmtpClient) transaction(rcpts []string, msg string) ([]rcptReply, error) {
	if r, err := cl.cmd("LHLO faults.test"); err != nil || !strings.HasPrefix(r, "250") {
		return nil, fmt.Errorf("LHLO: %q %v", r, err)
	}
	if r, err := cl.cmd("MAIL FROM:<sender@example.net>"); err != nil || !strings.HasPrefix(r, "250") {
		return nil, fmt.Errorf("MAIL: %q %v", r, err)
	}
	var ok []string
	var out []rcptReply
	for _, rc := range rcpts {
		r, err := cl.cmd("RCPT TO:<" + rc + ">")
		if err != nil {
			return out, fmt.Errorf("RCPT: %v", err)
		}
		if strings.HasPrefix(r, "250") {
			ok = append(ok, rc)
		} else {
			out = append(out, rcptReply{rc, r})
		}
	}
	if len(ok) == 0 {
		cl.cmd("RSET")
		return out, nil
	}
	if r, err := cl.cmd("DATA"); err != nil || !strings.HasPrefix(r, "354") {
		return out, fmt.Errorf("DATA: %q %v", r, err)
	}
	if err := cl.write(dotStuff(msg) + ".\r\n"); err != nil {
		return out, err
	}
	for _, rc := range ok {
		r, err := cl.reply()
		if err != nil {
			return out, err
		}
		out = append(out, rcptReply{rc, r})
	}
	return out, nil
}

func dotStuff(msg string) string {
	lines := strings.SplitAfter(msg, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, ".") {
			b.WriteByte('.')
		}
		b.WriteString(strings.TrimSuffix(l, "\n"))
		b.WriteString("\r\n")
	}
	return b.String()
}

// testMessage is a message whose body is derived from its subject, so a
// stored copy can be checked for completeness without keeping it.
func testMessage(subject string, size int) string {
	return "From: sender@example.net\nSubject: " + subject + "\n\n" + body(subject, size)
}

func body(subject string, size int) string {
	line := "body of " + subject + " 0123456789 abcdefghijklmnopqrstuvwxyz\n"
	n := size/len(line) + 1
	return strings.Repeat(line, n)
}
