package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// Running the test binary with LMTPD_TEST_MAIN=1 makes it lmtpd itself, so
// the daemon tests exercise the real main: flags, signals, sd_notify,
// systemd socket activation.
func TestMain(m *testing.M) {
	if os.Getenv("LMTPD_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

const ioTimeout = 30 * time.Second

// setup writes a config (listening per listen) and a SQLite userdb with
// one user, alice@domain.org. It returns the config path and alice's
// Maildir.
func setup(t *testing.T, listen, extra string) (cfgPath, maildir string) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	uid := os.Geteuid()
	if uid == 0 {
		uid = 1001
	}
	base := filepath.Join(dir, "mail")
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(base, uid, uid); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "users.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE users (userid VARCHAR(128) PRIMARY KEY, password VARCHAR(128), realname VARCHAR(128),
			uid INTEGER NOT NULL, gid INTEGER NOT NULL, home VARCHAR(128), mail VARCHAR(255))`,
		fmt.Sprintf(`INSERT INTO users (userid, uid, gid, home) VALUES ('alice@domain.org', %d, %d, 'mail/alice')`, uid, uid),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	cfgPath = filepath.Join(dir, "maildeliver.toml")
	cfg := fmt.Sprintf(`hostname = "mx.test"
[log]
target = "stderr"
[userdb]
driver = "sqlite"
connect = %q
user_query = "SELECT '%s/'||home AS home, uid, gid FROM users WHERE userid = '%%u'"
[mail]
min_uid = %d
[lmtp]
listen = [%s]
socket_group = ""
%s`, dbPath, dir, min(uid, 1000), listen, extra)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, filepath.Join(dir, "mail", "alice", "Maildir")
}

func runLmtpd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e, nil)
	return code, o.String(), e.String()
}

func TestHelp(t *testing.T) {
	for _, a := range []string{"-h", "-help", "--help"} {
		code, out, _ := runLmtpd(a)
		if code != 0 || !strings.Contains(out, "usage: lmtpd") {
			t.Errorf("%s: exit %d, %q", a, code, out)
		}
	}
}

// oneLine checks stderr is exactly one line starting with an enhanced code.
func oneStatusLine(t *testing.T, stderr, prefix string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, prefix) {
		t.Errorf("stderr %q, want one line starting %q", stderr, prefix)
	}
}

func TestBadUsage(t *testing.T) {
	code, _, errOut := runLmtpd("-x")
	if code != 75 {
		t.Errorf("exit %d, want 75", code)
	}
	oneStatusLine(t, errOut, "4.3.5 usage: ")
	code, _, errOut = runLmtpd("-c", "/nonexistent/maildeliver.toml")
	if code != 75 {
		t.Errorf("exit %d, want 75", code)
	}
	oneStatusLine(t, errOut, "4.3.5 configuration error: ")
}

func TestCheck(t *testing.T) {
	cfg, _ := setup(t, `"unix:/run/nowhere/lmtp"`, "")
	code, out, errOut := runLmtpd("-c", cfg, "-check")
	if code != 0 || !strings.Contains(out, "# effective configuration") || !strings.Contains(out, "# userdb: ok") || errOut != "" {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}

	// Unreachable userdb: 75, one line, no password anywhere.
	pg := filepath.Join(t.TempDir(), "pg.toml")
	os.WriteFile(pg, []byte(`[userdb]
driver = "pgsql"
connect = "host=127.0.0.1 port=1 dbname=x user=x password=hunter2"
timeout = "2s"
[lmtp]
socket_group = ""
`), 0o644)
	code, out, errOut = runLmtpd("-c", pg, "-check")
	if code != 75 || strings.Contains(out+errOut, "hunter2") || !strings.Contains(out, "********") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	oneStatusLine(t, errOut, "4.3.0 userdb unreachable")

	// An unknown socket_group is a configuration error.
	bad, _ := setup(t, `"unix:/run/nowhere/lmtp"`, `socket_mode = "0660"`)
	b, _ := os.ReadFile(bad)
	os.WriteFile(bad, bytes.Replace(b, []byte(`socket_group = ""`), []byte(`socket_group = "no-such-group-here"`), 1), 0o644)
	code, _, errOut = runLmtpd("-c", bad, "-check")
	if code != 75 {
		t.Errorf("unknown group: exit %d", code)
	}
	oneStatusLine(t, errOut, "4.3.5 configuration error: ")

	// Variables and location options are compiled when the file loads:
	// a typo fails -check instead of deferring every message.
	for extra, want := range map[string]string{
		"location = \"maildir:/var/vmail/%Ld/%Lq\"\n":       `unknown variable "%Lq"`,
		"location = \"maildir:/var/vmail/%{user | md5}\"\n": `unknown filter "md5"`,
		"location = \"maildir:~/Maildir:LAYOT=fs\"\n":       `unknown option "LAYOT=fs"`,
	} {
		f, _ := setup(t, `"unix:/run/nowhere/lmtp"`, "")
		b, _ := os.ReadFile(f)
		os.WriteFile(f, bytes.Replace(b, []byte("[mail]\n"), []byte("[mail]\n"+extra), 1), 0o644)
		code, _, errOut = runLmtpd("-c", f, "-check")
		if code != 75 || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d, %q", extra, code, errOut)
		}
		oneStatusLine(t, errOut, "4.3.5 configuration error: ")
	}
}

// lmtpdProc is lmtpd running as a child process, with its sd_notify socket.
type lmtpdProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	notify *net.UnixConn
	stderr *lockedBuffer
	exit   chan error
}

func startDaemon(t *testing.T, cmd *exec.Cmd) *lmtpdProc {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	d := &lmtpdProc{t: t, cmd: cmd, notify: nc, stderr: &lockedBuffer{}, exit: make(chan error, 1)}
	cmd.Env = append(cmd.Env, "LMTPD_TEST_MAIN=1", "NOTIFY_SOCKET="+sock)
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exit <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.exit
		nc.Close()
		if t.Failed() {
			t.Logf("lmtpd stderr:\n%s", d.stderr.String())
		}
	})
	return d
}

// waitState reads sd_notify messages until one holds state.
func (d *lmtpdProc) waitState(state string) {
	d.t.Helper()
	buf := make([]byte, 4096)
	for {
		d.notify.SetReadDeadline(time.Now().Add(ioTimeout))
		n, err := d.notify.Read(buf)
		if err != nil {
			d.t.Fatalf("waiting for %s: %v", state, err)
		}
		for _, l := range strings.Split(string(buf[:n]), "\n") {
			if l == state {
				return
			}
		}
	}
}

func (d *lmtpdProc) signal(s os.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(s); err != nil {
		d.t.Fatal(err)
	}
}

func (d *lmtpdProc) wait() int {
	d.t.Helper()
	select {
	case err := <-d.exit:
		d.exit <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			d.t.Fatal(err)
		}
		return 0
	case <-time.After(ioTimeout):
		d.t.Fatal("lmtpd did not exit")
		return -1
	}
}

// deliver sends one message for alice and checks the 250.
func deliver(t *testing.T, network, addr, subject string) {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "LHLO t\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\nSubject: %s\r\n\r\nx\r\n.\r\nQUIT\r\n", subject)
	var last string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			break
		}
		if strings.HasPrefix(l, "250 2.0.0 <alice@domain.org> saved as ") {
			return
		}
		last = l
	}
	t.Fatalf("no 250 for %s; last reply %q", subject, last)
}

func TestDaemonUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "lmtp.sock")
	cfg, maildir := setup(t, strconv.Quote("unix:"+sock), "")
	d := startDaemon(t, exec.Command(os.Args[0], "-c", cfg))
	d.waitState("READY=1")
	deliver(t, "unix", sock, "one")

	d.signal(syscall.SIGHUP)
	d.waitState("RELOADING=1")
	d.waitState("READY=1")
	deliver(t, "unix", sock, "two")

	d.signal(syscall.SIGTERM)
	d.waitState("STOPPING=1")
	if code := d.wait(); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if _, err := os.Lstat(sock); err == nil {
		t.Error("socket file left after shutdown")
	}
	if ents, _ := os.ReadDir(filepath.Join(maildir, "new")); len(ents) != 2 {
		t.Errorf("%d files in new/, want 2", len(ents))
	}
}

// TestDaemonSystemd: listen = ["systemd"] takes the socket systemd passes
// (LISTEN_FDS, LISTEN_PID, fd 3).
func TestDaemonSystemd(t *testing.T) {
	cfg, maildir := setup(t, `"systemd"`, "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	// LISTEN_PID must be lmtpd's pid: the shell's, which exec keeps.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, os.Args[0], "-c", cfg)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=lmtp")
	cmd.ExtraFiles = []*os.File{f}
	d := startDaemon(t, cmd)
	d.waitState("READY=1")
	f.Close()
	addr := l.Addr().String()
	l.Close() // the daemon holds its own copy
	deliver(t, "tcp", addr, "activated")
	d.signal(syscall.SIGINT)
	if code := d.wait(); code != 0 {
		t.Errorf("exit %d after SIGINT", code)
	}
	if ents, _ := os.ReadDir(filepath.Join(maildir, "new")); len(ents) != 1 {
		t.Errorf("%d files in new/, want 1", len(ents))
	}
}

// TestDaemonListenFailure: a listener that cannot be set up ends lmtpd
// with 75 and one line.
func TestDaemonListenFailure(t *testing.T) {
	cfg, _ := setup(t, `"systemd"`, "")
	code, _, errOut := runLmtpd("-c", cfg)
	if code != 75 {
		t.Errorf("exit %d, want 75", code)
	}
	oneStatusLine(t, errOut, "4.3.5 cannot listen: ")
}

type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // closed and replaced by every Write
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.written != nil {
		close(l.written)
		l.written = nil
	}
	return l.b.Write(p)
}

// waitMatch waits until the text written matches re (the child's stderr
// is copied by another goroutine, so a line the child wrote before an
// sd_notify message may not be here yet) and returns the submatches, nil
// after ioTimeout.
func (l *lockedBuffer) waitMatch(re *regexp.Regexp) []string {
	timeout := time.After(ioTimeout)
	for {
		l.mu.Lock()
		m := re.FindStringSubmatch(l.b.String())
		if m == nil && l.written == nil {
			l.written = make(chan struct{})
		}
		written := l.written
		l.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-written:
		case <-timeout:
			return nil
		}
	}
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
