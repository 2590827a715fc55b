package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
// components (0700) as the current identity. The last component must not be
// a symbolic link; components above it are the administrator's layout and
// may be. Each created directory's parent is fsynced.
func openDirAll(path string) (*os.File, error) {
	path = filepath.Clean(path)
	var missing []string
	dir := path
	for {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			f := os.NewFile(uintptr(fd), dir)
			return createChain(f, missing)
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			if dir == path {
				return nil, fmt.Errorf("%w: %s", ErrSymlink, dir)
			}
			return nil, &os.PathError{Op: "open", Path: dir, Err: err}
		}
		if !errors.Is(err, unix.ENOENT) || dir == "/" || len(missing) >= maxDepth {
			return nil, &os.PathError{Op: "open", Path: dir, Err: err}
		}
		missing = append(missing, filepath.Base(dir))
		dir = filepath.Dir(dir)
	}
}

// createChain creates missing (innermost last in reverse order) below f.
func createChain(f *os.File, missing []string) (*os.File, error) {
	for i := len(missing) - 1; i >= 0; i-- {
		name := missing[i]
		err := unix.Mkdirat(int(f.Fd()), name, dirMode)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			f.Close()
			return nil, &os.PathError{Op: "mkdir", Path: filepath.Join(f.Name(), name), Err: err}
		}
		if err == nil {
			if err := f.Sync(); err != nil {
				f.Close()
				return nil, err
			}
		}
		next, err := openSub(f, name)
		f.Close()
		if err != nil {
			return nil, err
		}
		f = next
	}
	return f, nil
}

// makeSubdirs creates the missing ones of cur, new and tmp below base and
// syncs base if it created any.
func makeSubdirs(base *os.File) error {
	made := false
	for _, sub := range []string{"cur", "new", "tmp"} {
		err := unix.Mkdirat(int(base.Fd()), sub, dirMode)
		if err == nil {
			made = true
		} else if !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "mkdir", Path: filepath.Join(base.Name(), sub), Err: err}
		}
	}
	if made {
		return base.Sync()
	}
	return nil
}

func syncDirs(dirs ...*os.File) error {
	for _, d := range dirs {
		if err := d.Sync(); err != nil {
			return err
		}
	}
	return nil
}
