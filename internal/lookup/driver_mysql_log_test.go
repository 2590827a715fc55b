//go:build !maildeliver_nosql

package lookup

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"maildeliver/internal/config"
	"maildeliver/internal/logging"
)

// closingServer accepts TCP connections and closes them at once: the
// MySQL driver reads EOF where the server's greeting should be and logs
// "packets.go:…: unexpected EOF".
func closingServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// captureStderr points fd 2 at a file for the test and returns a function
// that restores it and returns what was written there.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(int(f.Fd()), 2, 0); err != nil {
		t.Fatal(err)
	}
	return func() string {
		syscall.Dup3(saved, 2, 0)
		syscall.Close(saved)
		b, _ := os.ReadFile(f.Name())
		f.Close()
		return string(b)
	}
}

// The MySQL driver's warnings go to the configured log, redacted, never
// to stderr (issue 17 item 5: deliver printed them before its DSN line,
// which Postfix reads as the reason).
func TestMySQLDriverLogsToConfiguredLog(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "md.log")
	_, closer, err := logging.New(logging.Options{Target: "file:" + logPath, Level: "info"})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	port := closingServer(t)
	db, err := Open(config.Userdb{Driver: "mysql", Timeout: config.Duration(5e9),
		Connect:   "host=127.0.0.1 port=" + port + " dbname=mail user=mail_admin password=" + secretPw,
		UserQuery: "SELECT '/h' AS home FROM users WHERE email = '%u'"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	restore := captureStderr(t)
	_, lerr := db.Lookup(context.Background(), "bob@example.org")
	stderr := restore()
	if lerr == nil {
		t.Fatal("lookup against a server that hangs up succeeded")
	}
	if stderr != "" {
		t.Errorf("stderr got %q, want nothing", stderr)
	}
	b, _ := os.ReadFile(logPath)
	log := string(b)
	if !strings.Contains(log, "userdb mysql driver") || !strings.Contains(log, "unexpected EOF") {
		t.Errorf("driver warning not in the configured log:\n%s", log)
	}
	if strings.Contains(log, secretPw) {
		t.Errorf("log shows the password:\n%s", log)
	}
}
