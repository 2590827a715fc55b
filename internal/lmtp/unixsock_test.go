package lmtp

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSocketNotChangedThroughLink: whoever can write the socket's
// directory swaps the fresh socket for a symlink or a hard link to a
// private file the moment it appears; lmtpd must not chmod or chown that
// file (issue 17 item 3: root made a 0600 file 0666).
func TestSocketNotChangedThroughLink(t *testing.T) {
	group, gid := someGroup(t)
	for _, kind := range []string{"symlink", "hardlink"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			secret := filepath.Join(dir, "secret")
			if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			before := statT(t, secret)
			path := filepath.Join(dir, "lmtp.sock")
			swapped := false
			testHookPublished = func(p string) {
				swapped = true
				if err := os.Remove(p); err != nil {
					t.Error(err)
				}
				link := os.Symlink
				if kind == "hardlink" {
					link = os.Link
				}
				if err := link(secret, p); err != nil {
					t.Error(err)
				}
			}
			defer func() { testHookPublished = nil }()
			l, err := listenUnix(path, 0o666, group)
			if err != nil {
				t.Fatal(err)
			}
			if !swapped {
				t.Fatal("test hook not called")
			}
			after := statT(t, secret)
			if after.Mode != before.Mode || after.Gid != before.Gid {
				t.Errorf("%s target changed: mode %o gid %d, was mode %o gid %d (socket gid %d)",
					kind, after.Mode, after.Gid, before.Mode, before.Gid, gid)
			}
			l.Close()
			// Close removes the socket's name only while it is the socket.
			if _, err := os.Lstat(path); err != nil {
				t.Errorf("Close removed a name that was no longer its socket: %v", err)
			}
		})
	}
}

// TestSocketBind: the socket appears with its final mode and group (no
// process umask involved), nothing is left beside it, Addr is its path,
// and Close removes it.
func TestSocketBind(t *testing.T) {
	group, gid := someGroup(t)
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o600, 0o660, 0o666, 0o777} {
		path := filepath.Join(dir, "s.sock")
		l, err := listenUnix(path, mode, group)
		if err != nil {
			t.Fatal(err)
		}
		st := statT(t, path)
		if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK || os.FileMode(st.Mode&0o7777) != mode {
			t.Errorf("mode %o, want socket %o", st.Mode, mode)
		}
		if isRoot() && int(st.Gid) != gid {
			t.Errorf("group %d, want %d", st.Gid, gid)
		}
		if a := l.Addr().String(); a != path {
			t.Errorf("Addr %q, want %q", a, path)
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 {
			t.Errorf("directory holds %d entries beside nothing but the socket: %v", len(ents), ents)
		}
		l.Close()
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left after Close: %v", err)
		}
	}
	long := filepath.Join(dir, strings.Repeat("x", 120))
	if _, err := listenUnix(long, 0o600, ""); !errors.Is(err, ErrConfig) {
		t.Errorf("path too long: %v, want ErrConfig", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

func statT(t *testing.T, path string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}
