package maildir

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Young mailboxes: the directory syncs another process may still owe.
//
// The creator of a directory fsyncs its parent only at its first
// message's commit (pending.go), and within one process the registry
// (unsyncedDirs) tells a second delivery so. Another process cannot see
// the registry: two deliver processes Postfix runs in parallel for the
// same new user, or deliver beside lmtpd, may find the directories of a
// mailbox whose creator is still writing its message, deliver into them
// and exit 0 while a power cut could still take the mailbox's directory
// entry, and the acknowledged message with it.
//
// So a delivery whose destination directory (new/, or cur/ for a message
// with flags) was born less than youngWindow ago treats the directories
// above it as possibly unsynced: at its commit (after the file's fsync,
// before the rename, with the created directories' syncs) it fsyncs the
// parent of that directory, and the parent's parent as long as the
// directory below is young. The window bounds how long a creator can owe
// a sync:
//   - a live creator syncs everything it created no later than
//     creatorSyncBound (10 s) after the mkdir, even while its message is
//     still being received (dirSyncs.add arms a timer);
//   - a creator killed before that leaves the entries to the kernel's
//     writeback: ext4 commits its journal every 5 s (commit=), XFS its
//     log every 30 s, dirty metadata of a file system without a journal
//     goes out after 30 s (vm.dirty_expire_centisecs) plus the flusher's
//     5 s. Before pending.go a creator killed between its mkdir and the
//     fsync left the same; Dovecot never fsyncs a directory at all.
//
// youngWindow, 2 minutes, is 12 times the first and more than 3 times the
// longest default of the second. A longer window costs the pipe mode: a
// deliver process into a mailbox younger than the window fsyncs its young
// directories every time (clean directories: ~60 µs each here; no journal
// commit of their own on a journalling ext4 after the file's fsync);
// lmtpd does so only until its own fsync of them, started two seconds
// after their birth, is recorded (syncedSince).
//
// The birth time is statx's btime (ext4 with 256-byte inodes, the
// default, XFS v5, Btrfs, tmpfs); where the file system records none, the
// ctime (never earlier than the birth): conservative, but then a new/ that
// any delivery changed less than the window ago counts as young.
//
// An old mailbox pays nothing: the birth time comes with the statx that
// checks the directory's owner, which the delivery makes anyway.
//
// Variables only for the tests.
var (
	youngWindow      = 2 * time.Minute
	creatorSyncBound = 10 * time.Second
)

// dirStat is what a delivery needs to know of a directory it uses.
type dirStat struct {
	uid   uint32
	key   dirKey
	isDir bool
	born  int64 // birth time (or ctime), Unix seconds
}

var emptyPath [1]byte // "" for statx with AT_EMPTY_PATH

// statDir statx-es name below dirfd (name "" with unix.AT_EMPTY_PATH:
// dirfd itself) without following a symbolic link.
func statDir(dirfd int, name string, flags int) (dirStat, error) {
	var sx unix.Statx_t
	const mask = unix.STATX_TYPE | unix.STATX_UID | unix.STATX_INO | unix.STATX_BTIME | unix.STATX_CTIME
	p := &emptyPath[0] // not unix.Statx: its copy of "" is an allocation per check
	if name != "" {
		var err error
		if p, err = unix.BytePtrFromString(name); err != nil {
			return dirStat{}, err
		}
	}
	_, _, errno := unix.Syscall6(unix.SYS_STATX, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(flags|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT), mask, uintptr(unsafe.Pointer(&sx)), 0)
	if errno != 0 {
		return dirStat{}, errno
	}
	born := sx.Ctime.Sec
	if sx.Mask&unix.STATX_BTIME != 0 && sx.Btime.Sec != 0 { // 0: not recorded
		born = sx.Btime.Sec
	}
	return dirStat{
		uid:   sx.Uid,
		key:   dirKey{unix.Mkdev(sx.Dev_major, sx.Dev_minor), sx.Ino},
		isDir: sx.Mode&unix.S_IFMT == unix.S_IFDIR,
		born:  born,
	}, nil
}

// young reports whether born is less than youngWindow ago (or in the
// future: a clock set back errs on the side of a sync).
func young(born int64) bool { return time.Now().Add(-youngWindow).Unix() < born }

// addYoungAncestors adds to the Dir's syncs the parent of dir, a
// directory born at born, and so on upwards while the directory below is
// young: their entries may have been made by another process that has not
// fsynced them yet. A parent already to be synced (this Dir's, or another
// of this process's, own creation) or that this process fsynced after the
// directory below was born (syncedSince) is only stat'ed. The levels are
// reached from dir as "..", "../..": never through a symbolic link.
func (d *Dir) addYoungAncestors(dir *os.File, born int64) error {
	name := dir.Name() // for errors only: ".." is the real parent, the name may be a symlink's
	// "/" is its own parent: youngWalked ends the walk there
	for i, rel := 0, ".."; young(born) && i < maxDepth; i, rel = i+1, rel+"/.." {
		name = filepath.Dir(name)
		st, err := statDir(int(dir.Fd()), rel, 0)
		if err != nil {
			return &os.PathError{Op: "stat", Path: name, Err: err}
		}
		if slices.Contains(d.youngWalked, st.key) {
			return nil // added and walked from here already
		}
		d.youngWalked = append(d.youngWalked, st.key)
		if !syncedSince(st.key, born) && !d.syncsHave(st.key) {
			fd, err := unix.Openat(int(dir.Fd()), rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return &os.PathError{Op: "open", Path: name, Err: err}
			}
			parent := os.NewFile(uintptr(fd), name)
			err = d.syncs.add(parent, nil)
			parent.Close()
			if err != nil {
				return err
			}
		}
		born = st.born
	}
	return nil
}

// syncsHave reports whether the directory key is to be fsynced at the
// commit already.
func (d *Dir) syncsHave(key dirKey) bool {
	if d.syncs.has(key) {
		return true
	}
	for _, s := range d.shared {
		if s.has(key) {
			return true
		}
	}
	return false
}

// dirSyncedAt maps a directory to the start (Unix seconds) of the last
// fsync of it this process completed through a dirSyncs (flush).
var (
	dirSyncedAt sync.Map // dirKey -> int64
	syncedCount atomic.Uint64
)

// noteSynced records a completed fsync of key that started at start, and
// now and then forgets the records older than youngWindow.
func noteSynced(key dirKey, start int64) {
	dirSyncedAt.Store(key, start)
	if syncedCount.Add(1)%1024 == 0 {
		old := time.Now().Add(-youngWindow).Unix()
		dirSyncedAt.Range(func(k, v any) bool {
			if v.(int64) < old {
				dirSyncedAt.CompareAndDelete(k, v)
			}
			return true
		})
	}
}

// syncedSince reports whether this process completed an fsync of key
// that started after an entry born at born was made in it. The margin
// of two seconds covers the coarse clock the kernel stamps a birth with
// (it lags the real time by up to a tick) and the seconds' resolution.
func syncedSince(key dirKey, born int64) bool {
	v, ok := dirSyncedAt.Load(key)
	return ok && v.(int64) >= born+2
}
