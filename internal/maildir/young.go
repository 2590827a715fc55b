package maildir

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
// directory below is young. A directory born longer ago has been synced by
// its creator, which syncs everything it created no later than
// creatorSyncBound after creating it (even when its message is still
// being written: dirSyncs.add arms a timer), or whose creator was killed
// long enough ago for the kernel's writeback (ext4 commits its journal
// every 5 s, dirty metadata is written back after 30 s) to have written
// it. The birth time is statx's btime (ext4, XFS, Btrfs, tmpfs); where the
// file system has none, the ctime (never earlier than the birth), which is
// conservative but makes every delivery into a recently changed new/ pay
// the extra fsyncs.
//
// An old mailbox pays nothing: the birth time comes with the statx that
// checks the directory's owner, which the delivery makes anyway.
//
// Variables only for the tests.
var (
	youngWindow      = 10 * time.Minute
	creatorSyncBound = time.Minute
)

// dirStat is what a delivery needs to know of a directory it uses.
type dirStat struct {
	uid   uint32
	key   dirKey
	isDir bool
	born  int64 // birth time (or ctime), Unix seconds
}

// statDir statx-es name below dirfd (name "" with unix.AT_EMPTY_PATH:
// dirfd itself) without following a symbolic link.
func statDir(dirfd int, name string, flags int) (dirStat, error) {
	var sx unix.Statx_t
	const mask = unix.STATX_TYPE | unix.STATX_UID | unix.STATX_INO | unix.STATX_BTIME | unix.STATX_CTIME
	if err := unix.Statx(dirfd, name, flags|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT, mask, &sx); err != nil {
		return dirStat{}, err
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
// fsynced them yet. A parent this process fsynced after the directory
// below was born is skipped (syncedSince).
func (d *Dir) addYoungAncestors(dir *os.File, born int64) error {
	cur, name := dir, dir.Name()
	defer func() {
		if cur != dir {
			cur.Close()
		}
	}()
	for young(born) && name != "/" {
		fd, err := unix.Openat(int(cur.Fd()), "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: name + "/..", Err: err}
		}
		name = filepath.Dir(name)
		if cur != dir {
			cur.Close()
		}
		cur = os.NewFile(uintptr(fd), name)
		st, err := statDir(fd, "", unix.AT_EMPTY_PATH)
		if err != nil {
			return &os.PathError{Op: "stat", Path: name, Err: err}
		}
		if slices.Contains(d.youngWalked, st.key) {
			return nil // added and walked from here already
		}
		d.youngWalked = append(d.youngWalked, st.key)
		if !syncedSince(st.key, born) {
			if err := d.syncs.add(cur, nil); err != nil {
				return err
			}
		}
		born = st.born
	}
	return nil
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
