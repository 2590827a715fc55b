package logging

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeSyslog is a real unixgram socket standing in for /dev/log.
type fakeSyslog struct {
	t  *testing.T
	pc net.PacketConn
}

func newSyslog(t *testing.T) *fakeSyslog {
	t.Helper()
	dir, err := os.MkdirTemp("", "lg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	addr := filepath.Join(dir, "log")
	pc, err := net.ListenPacket("unixgram", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	setSyslogAddr(t, addr)
	return &fakeSyslog{t: t, pc: pc}
}

func setSyslogAddr(t *testing.T, addr string) {
	old := syslogAddr
	syslogAddr = addr
	t.Cleanup(func() { syslogAddr = old })
}

// next returns the next syslog message.
func (f *fakeSyslog) next() string {
	f.t.Helper()
	f.pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 64<<10)
	n, _, err := f.pc.ReadFrom(b)
	if err != nil {
		f.t.Fatalf("no syslog message: %v", err)
	}
	return string(b[:n])
}

// A log file that cannot be opened (issue 15 item 8: one the pipe user may
// not write) must not fail New, which made deliver defer every message:
// its lines go to syslog, with the reason first.
func TestUnopenableFileGoesToSyslog(t *testing.T) {
	sl := newSyslog(t)
	target := "file:" + filepath.Join(t.TempDir(), "missing-dir", "deliver.log")
	log, closer, err := New(Options{Target: target, Level: "info", Tag: "test"})
	if err != nil {
		t.Fatalf("New: %v; logging must never stop a delivery", err)
	}
	defer closer.Close()
	if m := sl.next(); !strings.Contains(m, "log target unusable") || !strings.Contains(m, "missing-dir") {
		t.Errorf("first syslog message %q, want the reason", m)
	}
	log.Info("delivered", "to", "bob@example.org")
	if m := sl.next(); !strings.Contains(m, "msg=delivered to=bob@example.org") {
		t.Errorf("syslog message %q", m)
	}
}

// A file that fails at write time (ENOSPC: /dev/full) sends its lines to
// syslog; with no syslog either they are dropped and counted, and the
// count precedes the next line that gets through.
func TestWriteFailure(t *testing.T) {
	sl := newSyslog(t)
	log, closer, err := New(Options{Target: "file:/dev/full", Tag: "test"})
	if err != nil {
		t.Fatal(err)
	}
	log.Warn("first")
	if m := sl.next(); !strings.Contains(m, "msg=first") {
		t.Errorf("syslog message %q", m)
	}
	closer.Close()

	setSyslogAddr(t, filepath.Join(t.TempDir(), "no-syslog-here"))
	s, openErr, err := newSink(Options{Target: "file:/dev/full"})
	if err != nil || openErr != nil {
		t.Fatal(err, openErr)
	}
	before := Dropped()
	for range 3 {
		if n, err := s.Write([]byte("level=INFO msg=x\n")); n != 17 || err != nil {
			t.Errorf("Write: %d, %v; want no error ever", n, err)
		}
	}
	if d := Dropped() - before; d != 3 {
		t.Errorf("dropped %d, want 3", d)
	}
	// The target recovers (here: another file takes its place).
	good := filepath.Join(t.TempDir(), "ok.log")
	f, err := os.Create(good)
	if err != nil {
		t.Fatal(err)
	}
	s.primary = f
	s.Write([]byte("level=INFO msg=back\n"))
	s.Close()
	b, _ := os.ReadFile(good)
	if !strings.Contains(string(b), "dropped=3\n") || !strings.HasSuffix(string(b), "msg=back\n") {
		t.Errorf("after recovery the file holds %q, want the dropped count, then the line", b)
	}
}

func TestDescribe(t *testing.T) {
	dir := t.TempDir()
	if d := Describe(Options{Target: "file:" + filepath.Join(dir, "new.log")}); strings.Contains(d, "WARNING") {
		t.Errorf("creatable file: %s", d)
	}
	d := Describe(Options{Target: "file:" + filepath.Join(dir, "missing", "x.log")})
	if !strings.Contains(d, "WARNING") || !strings.Contains(d, "syslog") {
		t.Errorf("unwritable file: %s", d)
	}
	if d := Describe(Options{Target: "syslog"}); d != "# log: syslog" {
		t.Errorf("syslog: %s", d)
	}
}

// Library is the configured log once New has run (the MySQL driver's
// warnings go there, not to deliver's stderr).
func TestLibrary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.log")
	_, closer, err := New(Options{Target: "file:" + path})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	Library().Warn("from a driver")
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "from a driver") {
		t.Errorf("log file holds %q", b)
	}
}
