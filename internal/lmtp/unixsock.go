package lmtp

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// maxSunPath is the room for a path in sockaddr_un (108 with its NUL).
const maxSunPath = 107

// testHookPublished, when set (tests only), runs right after the socket
// appears under its final name: whatever it does to that name must not
// make lmtpd act on something else.
var testHookPublished func(path string)

// bindUnix creates a listening unix socket at path, owned by the process's
// user, with group gid (-1: the process's) and mode.
//
// The directory of a socket is often writable by someone else (Postfix's
// private/ belongs to postfix), who could swap a freshly bound socket for
// a symlink or a hard link before a chown or chmod by path reaches it:
// root would then change the link's target. So nothing is ever done to
// the socket by its public name. It is bound inside a fresh 0700
// directory beside path, reached through its descriptor
// (/proc/self/fd/N: no name anyone else can swap), gets its group and
// mode there, where nobody else can touch it, and is then renamed into
// place, complete. No process-wide umask change is needed either.
func bindUnix(path string, mode os.FileMode, gid int) (net.Listener, error) {
	if len(path) > maxSunPath {
		return nil, fmt.Errorf("%w: socket path longer than %d bytes: %s", ErrConfig, maxSunPath, path)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	pfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(pfd)
	priv, dfd, err := privateDir(pfd, base)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	defer func() {
		unix.Unlinkat(dfd, "s", 0) // still there only on failure
		unix.Close(dfd)
		unix.Unlinkat(pfd, priv, unix.AT_REMOVEDIR)
	}()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: "/proc/self/fd/" + strconv.Itoa(dfd) + "/s", Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false) // it would unlink the private name; Close below does it
	ul := &unixListener{UnixListener: l, path: path}
	if err := finishSocket(dfd, pfd, base, mode, gid, ul); err != nil {
		l.Close()
		return nil, err
	}
	if testHookPublished != nil {
		testHookPublished(path)
	}
	return ul, nil
}

// privateDir makes a 0700 directory in the directory pfd and opens it,
// checking that what it opened is the process's own (nobody swapped it in
// between). It returns the directory's name and descriptor.
func privateDir(pfd int, base string) (string, int, error) {
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "." + base + ".bind-" + hex.EncodeToString(rnd[:])
	if err := unix.Mkdirat(pfd, name, 0o700); err != nil {
		return "", -1, fmt.Errorf("mkdir %s: %w", name, err)
	}
	dfd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		var st unix.Stat_t
		if err = unix.Fstat(dfd, &st); err == nil && (int(st.Uid) != os.Geteuid() || st.Mode&0o077 != 0) {
			err = errors.New("replaced by someone else")
		}
		if err != nil {
			unix.Close(dfd)
		}
	}
	if err != nil {
		unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
		return "", -1, fmt.Errorf("private directory %s: %w", name, err)
	}
	return name, dfd, nil
}

// finishSocket gives the socket "s" in the private directory dfd its group
// and mode, remembers its identity for Close, and moves it to base in pfd.
// The move never replaces anything: a name that appeared since the stale
// socket was removed belongs to someone else.
func finishSocket(dfd, pfd int, base string, mode os.FileMode, gid int, ul *unixListener) error {
	if gid >= 0 {
		if err := unix.Fchownat(dfd, "s", -1, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%w: socket_group gid %d: %v", ErrConfig, gid, err)
		}
	}
	if err := unix.Fchmodat(dfd, "s", uint32(mode.Perm()), 0); err != nil {
		return fmt.Errorf("chmod socket: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, "s", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	ul.dev, ul.ino = st.Dev, st.Ino
	err := unix.Renameat2(dfd, "s", pfd, base, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) { // no RENAME_NOREPLACE here
		if err = unix.Linkat(dfd, "s", pfd, base, 0); err == nil {
			unix.Unlinkat(dfd, "s", 0)
		}
	}
	if errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s appeared while the socket was being created; not replacing it", base)
	}
	if err != nil {
		return fmt.Errorf("rename socket into place: %w", err)
	}
	return nil
}

// unixListener reports and, on Close, removes the socket's public name,
// and only while that name is still this socket.
type unixListener struct {
	*net.UnixListener
	path     string
	dev, ino uint64
	once     sync.Once
}

func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		var st unix.Stat_t
		if unix.Lstat(l.path, &st) == nil && st.Dev == l.dev && st.Ino == l.ino {
			unix.Unlink(l.path)
		}
	})
	return err
}
