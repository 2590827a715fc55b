package quota

import (
	"errors"
	"fmt"
	"maps"
	"strings"

	"golang.org/x/sys/unix"

	"maildeliver/internal/maildir"
)

// trashFolder is not counted, as in Courier's default build (see doc.go);
// fsTrashFolder is the same folder with LAYOUT=fs.
const (
	trashFolder   = ".Trash"
	fsTrashFolder = "Trash"
)

// openFlags open a directory below the root without following a symlink.
const openDirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// Test hooks: called after counting, and after renaming a new maildirsize.
var testHookAfterCount, testHookAfterWrite func()

// scan is one counting pass over a maildir.
type scan struct {
	usage Usage
	// stamps holds the mtime of every new/ and cur/ directory counted,
	// keyed by "<folder>/<sub>", taken before counting.
	stamps map[string]unix.Timespec
	shape  shape
}

// shape is what a recount must know of the mailbox besides its root: the
// folder layout, and where the INBOX is when the location moved it.
type shape struct {
	layout maildir.Layout
	inbox  string // absolute path; "" = the root
}

func (l Limit) shape() shape { return shape{layout: l.Layout, inbox: l.Inbox} }

// recount counts every message of the maildir at root: new/ and cur/ of
// INBOX (the root itself, or sh.inbox) and of every folder (a ".Name"
// directory, not a symlink, or with LAYOUT=fs any directory), except Trash. It returns stable=false when a
// counted directory changed while it was being counted (its mtime moved, a
// folder appeared or vanished), after trying a few times.
func recount(root int, sh shape) (s scan, stable bool, err error) {
	s.shape = sh
	for range 3 {
		if s.stamps, err = snapshot(root, sh); err != nil {
			return s, false, err
		}
		if s.usage, err = countAll(root, sh); err != nil {
			return s, false, err
		}
		if testHookAfterCount != nil {
			testHookAfterCount()
		}
		after, err := snapshot(root, sh)
		if err != nil {
			return s, false, err
		}
		if maps.Equal(s.stamps, after) {
			return s, true, nil
		}
	}
	return s, false, nil
}

// unchanged reports whether the directories counted by s still look the same.
func (s scan) unchanged(root int) bool {
	now, err := snapshot(root, s.shape)
	return err == nil && maps.Equal(s.stamps, now)
}

// folders lists the folders counted for quota: "" for INBOX, then each
// ".Name" directory at the root except ".Trash" (and except names starting
// with "..", which Maildir++ does not allow), or with LAYOUT=fs every
// directory below the root (fsFolders). Symlinks are skipped, and so is a
// folder that is the moved INBOX itself (INBOX=<root>/INBOX with
// LAYOUT=fs): it is counted once, as INBOX.
func folders(root int, sh shape) ([]string, error) {
	list, err := listFolders(root, sh.layout)
	if err != nil || sh.inbox == "" {
		return list, err
	}
	var in unix.Stat_t
	if err := unix.Stat(sh.inbox, &in); err != nil {
		return list, nil // no INBOX yet: nothing to tell apart
	}
	out := list[:1]
	for _, f := range list[1:] {
		var st unix.Stat_t
		if unix.Fstatat(root, f, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Dev == in.Dev && st.Ino == in.Ino {
			continue
		}
		out = append(out, f)
	}
	return out, nil
}

// listFolders is folders without the INBOX= check.
func listFolders(root int, layout maildir.Layout) ([]string, error) {
	if layout == maildir.FS {
		return fsFolders(root)
	}
	fd, err := unix.Openat(root, ".", openDirFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("open maildir root: %w", err)
	}
	defer unix.Close(fd)
	list := []string{""}
	err = readNames(fd, func(name string) error {
		if len(name) < 2 || name[0] != '.' || name[1] == '.' || name == trashFolder {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Fstatat(root, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return fmt.Errorf("lstat %s: %w", name, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			list = append(list, name)
		}
		return nil
	})
	return list, err
}

// openFolder opens a folder directory; "" is the INBOX: the root itself,
// returned as is (close is then a no-op), or the moved INBOX, opened by its
// path (the last component not followed if a symlink, as package maildir
// opens it). ok is false when the folder is gone or is not a directory (a
// symlink put there since it was listed). An fs-layout path "a/b" is
// opened one level at a time, none followed if it is a symlink.
func openFolder(root int, folder string, sh shape) (fd int, closeFn func(), ok bool, err error) {
	if folder == "" && sh.inbox == "" {
		return root, func() {}, true, nil
	}
	if folder == "" {
		fd, err := unix.Open(sh.inbox, openDirFlags, 0)
		if err != nil {
			if vanished(err) {
				return -1, nil, false, nil
			}
			return -1, nil, false, fmt.Errorf("open INBOX %s: %w", sh.inbox, err)
		}
		return fd, func() { unix.Close(fd) }, true, nil
	}
	fd = root
	for _, level := range strings.Split(folder, "/") {
		next, err := unix.Openat(fd, level, openDirFlags, 0)
		if fd != root {
			unix.Close(fd)
		}
		if err != nil {
			if vanished(err) {
				return -1, nil, false, nil
			}
			return -1, nil, false, fmt.Errorf("open %s: %w", folder, err)
		}
		fd = next
	}
	return fd, func() { unix.Close(fd) }, true, nil
}

// Bounds of the fs-layout walk: a mailbox is not an arbitrary tree.
const (
	fsMaxDepth   = 32
	fsMaxFolders = 10000
)

// fsFolders lists the folders of a LAYOUT=fs maildir: "" for INBOX, then
// every directory below the root, at any depth ("a", "a/b"), except cur new
// tmp, names starting with '.', and "Trash" at the top (not counted, as
// .Trash in Maildir++). A parent without cur/new counts nothing, its
// children are still listed.
func fsFolders(root int) ([]string, error) {
	list := []string{""}
	var walk func(fd int, prefix string, depth int) error
	walk = func(fd int, prefix string, depth int) error {
		dir, err := unix.Openat(fd, ".", openDirFlags, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", cmpOr(prefix, "maildir root"), err)
		}
		defer unix.Close(dir)
		var subs []string
		err = readNames(dir, func(name string) error {
			if name == "" || name[0] == '.' || name == "cur" || name == "new" || name == "tmp" ||
				(prefix == "" && name == fsTrashFolder) {
				return nil
			}
			var st unix.Stat_t
			if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if errors.Is(err, unix.ENOENT) {
					return nil
				}
				return fmt.Errorf("lstat %s%s: %w", prefix, name, err)
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				subs = append(subs, name)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range subs {
			if len(list) >= fsMaxFolders || depth >= fsMaxDepth {
				return fmt.Errorf("more than %d folders or %d levels below the maildir root", fsMaxFolders, fsMaxDepth)
			}
			list = append(list, prefix+name)
			sub, err := unix.Openat(dir, name, openDirFlags, 0)
			if vanished(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("open %s%s: %w", prefix, name, err)
			}
			err = walk(sub, prefix+name+"/", depth+1)
			unix.Close(sub)
			if err != nil {
				return err
			}
		}
		return nil
	}
	return list, walk(root, "", 0)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// vanished: the entry is gone or was replaced by something we do not follow.
func vanished(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) ||
		errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ESTALE)
}

var subdirs = [...]string{"new", "cur"}

// snapshot records the mtime of new/ and cur/ of every counted folder.
func snapshot(root int, sh shape) (map[string]unix.Timespec, error) {
	list, err := folders(root, sh)
	if err != nil {
		return nil, err
	}
	stamps := make(map[string]unix.Timespec, 2*len(list))
	for _, folder := range list {
		fd, closeFn, ok, err := openFolder(root, folder, sh)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		for _, sub := range subdirs {
			var st unix.Stat_t
			err := unix.Fstatat(fd, sub, &st, unix.AT_SYMLINK_NOFOLLOW)
			if err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
				stamps[folder+"/"+sub] = st.Mtim
			} else if err != nil && !vanished(err) {
				closeFn()
				return nil, fmt.Errorf("lstat %s/%s: %w", folder, sub, err)
			}
		}
		closeFn()
	}
	return stamps, nil
}

// countAll sums the messages of every counted folder.
func countAll(root int, sh shape) (Usage, error) {
	var u Usage
	list, err := folders(root, sh)
	if err != nil {
		return u, err
	}
	for _, folder := range list {
		fd, closeFn, ok, err := openFolder(root, folder, sh)
		if err != nil {
			return u, err
		}
		if !ok {
			continue
		}
		for _, sub := range subdirs {
			if err = countDir(fd, sub, &u); err != nil {
				err = fmt.Errorf("count %s/%s: %w", folder, sub, err)
				break
			}
		}
		closeFn()
		if err != nil {
			return u, err
		}
	}
	return u, nil
}

// countDir adds the messages in parent/sub to u. A missing directory counts
// nothing; a file that vanishes while counting is skipped.
func countDir(parent int, sub string, u *Usage) error {
	fd, err := unix.Openat(parent, sub, openDirFlags, 0)
	if err != nil {
		if vanished(err) {
			return nil
		}
		return err
	}
	defer unix.Close(fd)
	return readNames(fd, func(name string) error {
		// Dovecot counts every entry but "." and "..".
		if name == "." || strings.HasPrefix(name, "..") {
			return nil
		}
		size, ok := sizeFromName(name)
		if !ok {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if vanished(err) {
					return nil
				}
				return fmt.Errorf("lstat %s: %w", name, err)
			}
			size = st.Size
		}
		if !addInt(&u.Bytes, size) {
			return errors.New("size total overflows")
		}
		u.Messages++
		return nil
	})
}

// sizeFromName returns n from the first ",S=<n>" of a Maildir++ file name,
// when n is followed by the end of the name, ':' (the info part) or ',' (the
// next field, e.g. Dovecot's ",W=").
func sizeFromName(name string) (int64, bool) {
	i := strings.Index(name, ",S=")
	if i < 0 {
		return 0, false
	}
	rest := name[i+3:]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	if j < len(rest) && rest[j] != ':' && rest[j] != ',' {
		return 0, false
	}
	n, err := parseDigits(rest[:j])
	if err != nil {
		return 0, false
	}
	return n, true
}

// readNames calls fn with every name in the directory open at fd, which
// must be freshly opened (its offset at the start).
func readNames(fd int, fn func(name string) error) error {
	buf := make([]byte, 32<<10)
	names := make([]string, 0, 256)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("getdents: %w", err)
		}
		if n <= 0 {
			return nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names[:0])
		for _, name := range names {
			if err := fn(name); err != nil {
				return err
			}
		}
	}
}
