// Package maildir owns the moment a message becomes a file: durable,
// collision-free writes into Maildir and Maildir++ folders, shared by
// deliver and lmtpd.
//
// The order of one delivery (after Postfix's src/virtual/maildir.c and
// Dovecot's maildir-save.c, with the directory syncs they leave to the
// file system made explicit):
//
//  1. create tmp/<unique> with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600 (or 0660);
//  2. write the message, fsync the file, close it;
//  3. rename tmp/<unique> to new/<unique>,S=<size> with RENAME_NOREPLACE
//     (link + unlink where the file system lacks renameat2), so an existing
//     file is never overwritten;
//  4. fsync new/.
//
// The steps are a Draft's (draft.go): Folder.Create is step 1, writing and
// Draft.Finish step 2, Draft.Commit steps 3 and 4 (the directory fsync
// through a Syncer: lmtpd passes a GroupSync). The caller decides between
// Finish and Commit, where the size is known: the quota is reserved there.
//
// A message stored with flags (an import keeping a source's flags, see
// Draft.Commit) goes to cur/<name>,S=<size>:2,<flags> instead, and
// cur/ is the directory fsynced: Dovecot's maildir-save does the same.
//
// Only after step 4 may the caller report success. Any failure removes the
// tmp file, and a failure in step 4 also takes the entry back out of new/
// (unlink, retried; else renamed back to tmp/), so nothing half-done is
// ever reported or left visible. If that fails too (a disk failing both
// the fsync and every removal) the failure is still reported, with
// ErrLeftInNew naming the file: reporting success for a file whose
// directory entry may not survive a crash could lose the message, while
// the file left in new/ costs at most a duplicate, which the log names.
//
// Every path below the maildir root is opened relative to an open directory
// with O_NOFOLLOW: a symbolic link inside the mailbox is never followed, and
// every directory used must be owned by the mailbox's uid. Directories the
// package creates are mode 0700, but for missing parents that several
// users share (a domain's directory, see OpenOwn): those copy a setgid
// parent's mode and group, as Dovecot does. The parent of each new
// directory is fsynced so the new entry survives a crash: at the first
// message's commit, after the file's fsync (pending.go). A delivery into a
// mailbox born minutes ago, maybe by another process that still owes those
// fsyncs, makes them itself (young.go).
//
// Folders (folder.go): Maildir++ (".a.b" with a maildirfolder file, the
// default) or Dovecot's LAYOUT=fs ("a/b", each folder with its own cur new
// tmp); names on disk in IMAP's modified UTF-7 unless the location says
// UTF-8; the INBOX may live elsewhere (INBOX=, Dir.UseInbox).
//
// Subscriptions (subscriptions.go): a folder created at delivery can be
// added to Dovecot's "subscriptions" file:
//
//	V<TAB>2<LF><LF>            header (version 2)
//	a<TAB>b<LF>                one folder per line, levels TAB-separated,
//	Stra&AN8-e<LF>             each level as stored on disk
//
// rewritten whole under Dovecot's dotlock ("subscriptions.lock", O_EXCL,
// fsynced, renamed over the file, directory fsynced), mode 0600; see
// subscriptions.go for version 1 files, escaping and lock timeouts.
//
// The caller runs all of this as the mailbox owner (see package privilege):
// this package never changes identity itself.
package maildir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Errors callers classify. All are temporary conditions.
var (
	ErrNotOwner = errors.New("maildir: directory owned by another uid")
	ErrSymlink  = errors.New("maildir: symbolic link in the mailbox")
	ErrNoFolder = errors.New("maildir: folder does not exist")
	ErrBadPath  = errors.New("maildir: path is not absolute or contains '..'")
)

const dirMode = 0o700

// Dir is an open maildir root (the INBOX).
type Dir struct {
	root   *os.File
	path   string
	uid    int
	inbox  *os.File    // INBOX= directory; nil: the root
	syncs  *dirSyncs   // parents of the directories this Dir created
	shared []*dirSyncs // another Dir's, for directories it created that this one uses
	// youngWalked: directories whose parents are already in syncs
	// because they are young (young.go)
	youngWalked []dirKey
}

// Open opens the maildir at path, creating it and any missing parent
// when it does not exist, and checks that it is owned by uid: OpenOwn with
// path as the user's own directory.
func Open(path string, uid int) (*Dir, error) { return OpenOwn(path, path, uid) }

// OpenOwn is Open where own, path or an ancestor of it, is the user's own
// directory (location.Mailbox.RootOwn): the missing directories above own
// are shared with other users (a domain's directory) and get the mode and
// group of their nearest existing parent when that is setgid, as Dovecot
// creates them; the others are 0700.
func OpenOwn(path, own string, uid int) (*Dir, error) {
	if err := CheckPath(path); err != nil {
		return nil, err
	}
	syncs := &dirSyncs{}
	root, err := openDirAll(path, own, syncs)
	if err != nil {
		syncs.release()
		return nil, err
	}
	d := &Dir{root: root, path: path, uid: uid, syncs: syncs}
	if _, err := d.checkOwner(root); err != nil {
		root.Close()
		return nil, err
	}
	return d, nil
}

// CheckPath refuses a maildir path that is relative or has a ".."
// component: such a path comes from a bad userdb row or location, and
// following it could write outside every mailbox.
func CheckPath(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%w: %q", ErrBadPath, path)
	}
	for _, c := range strings.Split(path, "/") {
		if c == ".." {
			return fmt.Errorf("%w: %q", ErrBadPath, path)
		}
	}
	return nil
}

// Path returns the maildir root's path.
func (d *Dir) Path() string { return d.path }

// Root returns the open root directory, for maildirsize (package quota).
func (d *Dir) Root() *os.File { return d.root }

// Close releases the root. Directories created and not yet synced by a
// commit are synced now.
func (d *Dir) Close() error {
	d.syncs.release()
	if d.inbox != nil {
		d.inbox.Close()
	}
	return d.root.Close()
}

// flushSyncs makes the directories this Dir created, and those another
// Dir created that this one delivers into, durable (pending.go).
func (d *Dir) flushSyncs(sync Syncer) error {
	if err := d.syncs.flush(sync); err != nil {
		return err
	}
	for _, s := range d.shared {
		if err := s.flush(sync); err != nil {
			return err
		}
	}
	return nil
}

// UseInbox makes the INBOX live at path instead of the root (Dovecot's
// INBOX= option, 2.4's mail_inbox_path): opened like the root (created
// when missing, owned by the mailbox's uid, no symlink as last component),
// own being the user's own directory as for OpenOwn ("" = path).
func (d *Dir) UseInbox(path, own string) error {
	if err := CheckPath(path); err != nil {
		return err
	}
	if own == "" {
		own = path
	}
	f, err := openDirAll(path, own, d.syncs)
	if err != nil {
		return err
	}
	if _, err := d.checkOwner(f); err != nil {
		f.Close()
		return err
	}
	if d.inbox != nil {
		d.inbox.Close()
	}
	d.inbox = f
	return nil
}

func (d *Dir) inboxDir() *os.File {
	if d.inbox != nil {
		return d.inbox
	}
	return d.root
}

// Folder opens a folder for delivery. dir is FolderPath's Dir ("" is
// INBOX): ".Name" (Maildir++) or "a/b" (fs layout). A missing folder is
// created when create is set, else ErrNoFolder. The INBOX's tmp/new/cur are
// always created when missing.
func (d *Dir) Folder(dir string, create bool) (*Folder, error) {
	if dir == "" {
		return d.folderAt(d.inboxDir(), false, false)
	}
	if err := checkFolderDir(dir); err != nil {
		return nil, err
	}
	parts := strings.Split(dir, "/")
	parent := d.root
	for i, name := range parts {
		last := i == len(parts)-1
		fd, created, err := d.openLevel(parent, name, create, last, len(parts) == 1)
		if parent != d.root {
			parent.Close()
		}
		if err != nil {
			return nil, err
		}
		if last {
			return d.folderAt(fd, true, created)
		}
		parent = fd
	}
	return nil, fmt.Errorf("%w: folder %q", ErrBadPath, dir) // no level: checkFolderDir refused it
}

// openLevel opens (or, with create, makes) one level of a folder path below
// parent and checks its owner; created says it made the folder itself.
func (d *Dir) openLevel(parent *os.File, name string, create, last, marker bool) (fd *os.File, created bool, err error) {
	fd, err = openSub(parent, name)
	if errors.Is(err, os.ErrNotExist) {
		if !create {
			return nil, false, ErrNoFolder
		}
		fd, err = d.createFolder(parent, name, last, marker)
		created = err == nil && last
	}
	if err != nil {
		return nil, false, err
	}
	if _, err := d.checkOwner(fd); err != nil {
		fd.Close()
		return nil, false, err
	}
	return fd, created, nil
}

// checkFolderDir refuses a folder path that is not FolderPath's making.
func checkFolderDir(dir string) error {
	plusplus := strings.HasPrefix(dir, ".")
	for _, c := range strings.Split(dir, "/") {
		if c == "" || c == "." || c == ".." || (plusplus && strings.Contains(dir, "/")) {
			return fmt.Errorf("%w: folder %q", ErrBadPath, dir)
		}
	}
	return nil
}

// folderAt opens base's tmp and new (creating tmp new cur when missing).
func (d *Dir) folderAt(base *os.File, owned, created bool) (*Folder, error) {
	f := &Folder{dir: d, base: base, owned: owned, created: created}
	var err error
	if f.tmp, f.new, f.newBorn, err = d.subdirs(base); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// subdirs opens tmp and new below base and checks cur, creating all three
// when one is missing (Dovecot and Courier create them lazily too). cur/
// is only stat'ed: a delivery opens it only for a message with flags
// (Folder.curDir), which saves an open, fstat, fcntl and close per
// delivery. newBorn is new/'s birth time (young.go).
func (d *Dir) subdirs(base *os.File) (tmp, nw *os.File, newBorn int64, err error) {
	var fds [2]*os.File
	closeAll := func() {
		for i, f := range fds {
			if f != nil {
				f.Close()
				fds[i] = nil
			}
		}
	}
	open := func() error {
		for i, n := range [2]string{"tmp", "new"} {
			f, err := openSub(base, n)
			if err != nil {
				return err
			}
			fds[i] = f
		}
		return d.checkSub(base, "cur")
	}
	err = open()
	if errors.Is(err, os.ErrNotExist) {
		closeAll()
		if err = makeSubdirs(base, d.syncs); err == nil {
			err = open()
		}
	}
	for _, f := range fds {
		if err == nil && f != nil {
			newBorn, err = d.checkOwner(f) // new/ last
		}
	}
	if err != nil {
		closeAll()
		return nil, nil, 0, err
	}
	return fds[0], fds[1], newBorn, nil
}

// checkSub checks, without opening it, what openSub and checkOwner would:
// name below base is a directory (not a symlink) owned by the mailbox's
// uid. A missing one is os.ErrNotExist.
func (d *Dir) checkSub(base *os.File, name string) error {
	st, err := statDir(int(base.Fd()), name, 0)
	if err != nil {
		return &os.PathError{Op: "stat", Path: filepath.Join(base.Name(), name), Err: err}
	}
	if !st.isDir {
		return fmt.Errorf("%w: %s/%s", ErrSymlink, base.Name(), name)
	}
	return d.checkStat(filepath.Join(base.Name(), name), st)
}

// createFolder makes a folder's directory name below parent. A Maildir++
// folder (marker) gets {cur,new,tmp} and the maildirfolder marker file; an
// fs-layout level gets cur new tmp only when it is the folder itself
// (last), as Dovecot leaves parents plain. The new directory and parent
// are added to the Dir's syncs.
func (d *Dir) createFolder(parent *os.File, name string, last, marker bool) (*os.File, error) {
	err := unix.Mkdirat(int(parent.Fd()), name, dirMode)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "mkdir", Path: name, Err: err}
	}
	fd, err := openSub(parent, name)
	if err != nil {
		return nil, err
	}
	if err := d.syncs.createdAt(parent, name); err != nil {
		fd.Close()
		return nil, err
	}
	if last {
		if err := makeSubdirs(fd, d.syncs); err != nil {
			fd.Close()
			return nil, err
		}
	}
	if marker && strings.HasPrefix(name, ".") {
		m, err := unix.Openat(int(fd.Fd()), "maildirfolder", unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			fd.Close()
			return nil, &os.PathError{Op: "create", Path: name + "/maildirfolder", Err: err}
		}
		unix.Close(m)
		if err := d.syncs.add(fd, nil); err != nil {
			fd.Close()
			return nil, err
		}
	}
	return fd, nil
}

// checkOwner checks that the open directory f is owned by the mailbox's
// uid; born is its birth time (young.go).
func (d *Dir) checkOwner(f *os.File) (born int64, err error) {
	st, err := statDir(int(f.Fd()), "", unix.AT_EMPTY_PATH)
	if err != nil {
		return 0, &os.PathError{Op: "stat", Path: f.Name(), Err: err}
	}
	return st.born, d.checkStat(f.Name(), st)
}

// checkStat is checkOwner's verdict on the directory name with st.
func (d *Dir) checkStat(name string, st dirStat) error {
	if int(st.uid) != d.uid {
		return fmt.Errorf("%w: %s is uid %d, want %d", ErrNotOwner, name, st.uid, d.uid)
	}
	// created by another delivery of this process and not yet durable:
	// ours waits for (or makes) the same syncs
	if s := pendingFor(st.key); s != nil && s != d.syncs && !slices.Contains(d.shared, s) {
		d.shared = append(d.shared, s)
	}
	return nil
}

// Folder is one open Maildir folder (INBOX or a Maildir++ folder).
type Folder struct {
	dir           *Dir     // for the directory syncs of a new mailbox
	base          *os.File // folder root; the Dir's root (or INBOX=) for INBOX
	owned         bool     // base is ours to close
	created       bool     // Folder created it (for autosubscribe)
	tmp, new, cur *os.File // cur: opened by curDir, for a message with flags
	// birth times of new/ and cur/: when recent, the directories above
	// may still be owed a sync by another process (young.go)
	newBorn, curBorn int64
}

// curDir opens cur/ on first use.
func (f *Folder) curDir() (*os.File, error) {
	if f.cur != nil {
		return f.cur, nil
	}
	c, err := openSub(f.base, "cur")
	if err != nil {
		return nil, err
	}
	born, err := f.dir.checkOwner(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	f.cur, f.curBorn = c, born
	return c, nil
}

// Created reports whether this Folder call created the folder: the caller
// then subscribes it ([mail] autosubscribe).
func (f *Folder) Created() bool { return f.created }

// Close releases the folder's directories.
func (f *Folder) Close() error {
	for _, d := range []*os.File{f.tmp, f.new, f.cur} {
		if d != nil {
			d.Close()
		}
	}
	if f.owned && f.base != nil {
		f.base.Close()
	}
	return nil
}

// NewDir returns the folder's open new/ directory (for group commit).
func (f *Folder) NewDir() *os.File { return f.new }

// Written describes a delivered file.
type Written struct {
	Name string // file name in new/ (in cur/ when Info was set), with ",S="
	Size int64
}

// CheckInfo reports whether info is a Maildir info this package writes:
// "2," followed by flags, each an ASCII letter, in strictly ascending
// order (the Maildir specification's rule; Dovecot and Courier rely on
// it), so that it can never add a path or another separator to a name.
func CheckInfo(info string) error {
	flags, ok := strings.CutPrefix(info, "2,")
	if !ok {
		return fmt.Errorf("maildir: info %q does not start with \"2,\"", info)
	}
	for i := 0; i < len(flags); i++ {
		c := flags[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') || i > 0 && flags[i-1] >= c {
			return fmt.Errorf("maildir: info %q: flags must be ASCII letters in ascending order", info)
		}
	}
	return nil
}

// ErrLeftInNew means a delivery failed after its file reached new/ and the
// file could not be taken out again: it is visible there although the
// failure is reported, and the retry will deliver it a second time. The
// error names the file.
var ErrLeftInNew = errors.New("maildir: undelivered file left in new/")

// withdrawPauses are the pauses between tries to take a file back out of
// new/: a failing disk sometimes recovers, and a duplicate is worse than
// a short wait.
var withdrawPauses = [...]time.Duration{0, 10 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond}

// withdraw takes final out of dest (new/, or cur/) after dest could not be made
// durable. Reporting success is not an option then (the entry may not
// survive a crash), and a file that stays visible in new/ is read as mail
// while Postfix retries it: a duplicate. So: unlink it, retrying a few
// times; failing that, rename it back to tmp/base, where no reader looks
// and it expires like any stale tmp file. Then fsync new/ once more, so
// the removal is on disk if the disk lets it. Only when every try failed
// is the file left in new/: ErrLeftInNew, with its name, for the log.
func (f *Folder) withdraw(dest *os.File, base, final string) error {
	nw, tmp := int(dest.Fd()), int(f.tmp.Fd())
	var err error
	for _, pause := range withdrawPauses {
		time.Sleep(pause) // not synchronisation: a back-off for a failing disk
		if err = unix.Unlinkat(nw, final, 0); err == nil || errors.Is(err, unix.ENOENT) {
			dest.Sync()
			return nil
		}
		err2 := unix.Renameat2(nw, final, tmp, base, unix.RENAME_NOREPLACE)
		if err2 == nil {
			unix.Unlinkat(tmp, base, 0) // best effort: a tmp file is harmless
			dest.Sync()
			return nil
		}
	}
	return fmt.Errorf("%w: %s/%s: unlink: %w", ErrLeftInNew, filepath.Base(dest.Name()), final, err)
}

// moveTo renames tmp/base into dest (new/ or cur/) under its final name
// (base, ",S=<size>", suffix) without ever replacing an existing file; on
// a name collision it picks a new name.
func (f *Folder) moveTo(dest *os.File, n *Namer, base string, size int64, suffix string) (string, error) {
	tmp, nw := int(f.tmp.Fd()), int(dest.Fd())
	for attempt := 0; attempt < 5; attempt++ {
		final := WithSize(base, size) + suffix
		if attempt > 0 {
			final = WithSize(n.Next(), size) + suffix
		}
		err := unix.Renameat2(tmp, base, nw, final, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			// No renameat2 on this file system: link fails with EEXIST
			// instead of overwriting.
			if err = unix.Linkat(tmp, base, nw, final, 0); err == nil {
				unix.Unlinkat(tmp, base, 0)
			}
		}
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return "", &os.PathError{Op: "rename", Path: filepath.Base(dest.Name()) + "/" + final, Err: err}
		}
		return final, nil
	}
	return "", fmt.Errorf("maildir: could not find a free name in %s/", filepath.Base(dest.Name()))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
