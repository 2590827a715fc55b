package maildir

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxDepth bounds the directories openDirAll creates in one call.
const maxDepth = 64

// openSub opens name, a single component, below dir without following a
// symbolic link. A symlink yields ErrSymlink, a missing entry
// os.ErrNotExist.
func openSub(dir *os.File, name string) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			// ENOTDIR: a symlink (to anything) opened with O_NOFOLLOW and
			// O_DIRECTORY, or a plain file where a directory belongs.
			return nil, fmt.Errorf("%w: %s/%s", ErrSymlink, dir.Name(), name)
		}
		return nil, &os.PathError{Op: "open", Path: filepath.Join(dir.Name(), name), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name)), nil
}

// openDirAll opens the directory at the absolute path, creating missing
// components as the current identity. The last component must not be a
// symbolic link; components above it are the administrator's layout and
// may be. Each created directory's parent is added to syncs (fsynced at
// the commit, pending.go).
//
// own is path or an ancestor of it: the user's own directory ("" = path).
// Missing directories above own are shared by the users below them (a
// domain's directory): as Dovecot 2.3 does (mailbox_list_try_mkdir_root),
// when the nearest existing parent has the setgid bit they get its mode
// and, through setgid, its group; otherwise, and for own and below, they
// are 0700.
func openDirAll(path, own string, syncs *dirSyncs) (*os.File, error) {
	path = filepath.Clean(path)
	var missing []string
	dir := path
	for {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			f := os.NewFile(uintptr(fd), dir)
			return createChain(f, missing, sharedLevels(dir, own, missing), syncs)
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			if dir == path {
				return nil, fmt.Errorf("%w: %s", ErrSymlink, dir)
			}
			return nil, &os.PathError{Op: "open", Path: dir, Err: err}
		}
		if !errors.Is(err, unix.ENOENT) || dir == "/" || len(missing) >= maxDepth {
			return nil, accessError("open", dir, dir, permRead|permSearch, err)
		}
		missing = append(missing, filepath.Base(dir))
		dir = filepath.Dir(dir)
	}
}

// sharedLevels counts the missing directories (innermost first, below
// the existing dir) that lie strictly above own.
func sharedLevels(dir, own string, missing []string) int {
	if own == "" {
		return 0
	}
	own = filepath.Clean(own)
	n := 0
	p := dir
	for i := len(missing) - 1; i >= 0; i-- {
		p = filepath.Join(p, missing[i])
		if p == own || !strings.HasPrefix(own, p+"/") {
			break
		}
		n++
	}
	return n
}

// createChain creates missing (innermost first) below f, the first
// shared of them (from the top) with f's mode when f is setgid.
func createChain(f *os.File, missing []string, shared int, syncs *dirSyncs) (*os.File, error) {
	sharedMode := uint32(dirMode)
	if shared > 0 {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			f.Close()
			return nil, err
		}
		if st.Mode&unix.S_ISGID != 0 {
			sharedMode = st.Mode & (unix.S_ISGID | unix.S_ISVTX | 0o777)
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		mode, copied := uint32(dirMode), false
		if len(missing)-1-i < shared && sharedMode != dirMode {
			mode, copied = sharedMode, true
		}
		next, err := mkdirOpen(f, missing[i], mode, copied, syncs)
		f.Close()
		if err != nil {
			return nil, err
		}
		f = next
	}
	return f, nil
}

// mkdirOpen creates name below parent with mode (unless it exists), adds
// parent to syncs when it made it, and opens it. A shared directory is published complete: made
// under a temporary name, given its exact mode whatever the umask, then
// renamed into place. Another user's delivery racing for the same new
// domain must never find it with the umask's mode (2750 instead of 2770)
// and be locked out. (A crash between the two leaves an empty ".mkdir.*"
// directory behind, harmless.)
func mkdirOpen(parent *os.File, name string, mode uint32, shared bool, syncs *dirSyncs) (*os.File, error) {
	made, err := mkdirExact(parent, name, mode, shared)
	if err != nil {
		return nil, err
	}
	if made {
		if err := syncs.createdAt(parent, name); err != nil {
			return nil, err
		}
	}
	return openSub(parent, name)
}

// mkdirExact makes name below parent with exactly mode; made is false when
// it existed already.
func mkdirExact(parent *os.File, name string, mode uint32, shared bool) (made bool, err error) {
	pfd := int(parent.Fd())
	target := name
	if shared {
		target = fmt.Sprintf(".mkdir.%016x", rand.Uint64())
	}
	if err := unix.Mkdirat(pfd, target, mode&0o777); err != nil {
		if errors.Is(err, unix.EEXIST) && !shared {
			return false, nil
		}
		return false, accessError("mkdir", filepath.Join(parent.Name(), name), parent.Name(), permWrite|permSearch, err)
	}
	if err := setMode(parent, target, mode); err != nil || !shared {
		if err != nil && shared {
			unix.Unlinkat(pfd, target, unix.AT_REMOVEDIR)
		}
		return err == nil, err
	}
	err = unix.Renameat2(pfd, target, pfd, name, unix.RENAME_NOREPLACE)
	if err == nil {
		return true, nil
	}
	unix.Unlinkat(pfd, target, unix.AT_REMOVEDIR)
	switch {
	case errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY):
		return false, nil // another delivery made it first
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		// No RENAME_NOREPLACE here, and a plain rename would replace an
		// empty directory another delivery just made: in place then.
		return mkdirExact(parent, name, mode, false)
	}
	return false, &os.PathError{Op: "rename", Path: filepath.Join(parent.Name(), name), Err: err}
}

// setMode gives the directory name below parent exactly mode. The kernel
// adds the setgid bit itself below a setgid directory; only bits the
// umask took need a chmod.
func setMode(parent *os.File, name string, mode uint32) error {
	d, err := openSub(parent, name)
	if err != nil {
		return err
	}
	defer d.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(d.Fd()), &st); err != nil {
		return err
	}
	if want := mode | st.Mode&unix.S_ISGID; st.Mode&0o7777 != want {
		if err := unix.Fchmod(int(d.Fd()), want); err != nil {
			return &os.PathError{Op: "chmod", Path: d.Name(), Err: err}
		}
	}
	return nil
}

// makeSubdirs creates the missing ones of cur, new and tmp below base and
// adds base to syncs if it created any.
func makeSubdirs(base *os.File, syncs *dirSyncs) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		err := unix.Mkdirat(int(base.Fd()), sub, dirMode)
		if err == nil {
			err = syncs.createdAt(base, sub)
		} else if errors.Is(err, unix.EEXIST) {
			continue
		} else {
			err = &os.PathError{Op: "mkdir", Path: filepath.Join(base.Name(), sub), Err: err}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
