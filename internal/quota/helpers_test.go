package quota

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testMaildir is a maildir built by hand in a temporary directory.
type testMaildir struct {
	t   testing.TB
	dir string
}

func newTestMaildir(t testing.TB) *testMaildir {
	t.Helper()
	m := &testMaildir{t: t, dir: t.TempDir()}
	m.mkdirs("new", "cur", "tmp")
	return m
}

func (m *testMaildir) path(rel string) string { return filepath.Join(m.dir, filepath.FromSlash(rel)) }

func (m *testMaildir) mkdirs(rels ...string) {
	m.t.Helper()
	for _, rel := range rels {
		if err := os.MkdirAll(m.path(rel), 0o700); err != nil {
			m.t.Fatal(err)
		}
	}
}

// folder creates a Maildir++ folder ".name".
func (m *testMaildir) folder(name string) {
	m.t.Helper()
	m.mkdirs("."+name+"/new", "."+name+"/cur", "."+name+"/tmp")
	m.write("."+name+"/maildirfolder", "")
}

// msg writes a message of size bytes at rel (e.g. "cur/1.host,S=10:2,S").
func (m *testMaildir) msg(rel string, size int) {
	m.t.Helper()
	m.write(rel, strings.Repeat("x", size))
}

func (m *testMaildir) write(rel, data string) {
	m.t.Helper()
	if err := os.WriteFile(m.path(rel), []byte(data), 0o600); err != nil {
		m.t.Fatal(err)
	}
}

func (m *testMaildir) symlink(target, rel string) {
	m.t.Helper()
	if err := os.Symlink(target, m.path(rel)); err != nil {
		m.t.Fatal(err)
	}
}

// open opens the root the way the delivery core does.
func (m *testMaildir) open() *os.File {
	m.t.Helper()
	f, err := os.OpenFile(m.dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { f.Close() })
	return f
}

func (m *testMaildir) maildirsize() string {
	m.t.Helper()
	b, err := os.ReadFile(m.path(fileName))
	if err != nil {
		m.t.Fatal(err)
	}
	return string(b)
}

func (m *testMaildir) hasMaildirsize() bool {
	_, err := os.Lstat(m.path(fileName))
	return err == nil
}

// age sets the mtime of maildirsize d in the past.
func (m *testMaildir) age(d time.Duration) {
	m.t.Helper()
	old := time.Now().Add(-d)
	if err := os.Chtimes(m.path(fileName), old, old); err != nil {
		m.t.Fatal(err)
	}
}

// tmpEmpty fails unless tmp/ is empty (no temporary maildirsize left over).
func (m *testMaildir) tmpEmpty() {
	m.t.Helper()
	ents, err := os.ReadDir(m.path("tmp"))
	if err != nil {
		m.t.Fatal(err)
	}
	if len(ents) != 0 {
		m.t.Fatalf("tmp/ not empty: %v", ents)
	}
}

// busy reports whether another holder has the root lock (a reservation).
func busy(t testing.TB, root *os.File) bool {
	t.Helper()
	fd, isBusy := lockRoot(int(root.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	unlock(fd)
	return isBusy
}
