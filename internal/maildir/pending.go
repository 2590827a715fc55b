package maildir

import (
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Directory syncs of a new mailbox, folded into the first message's commit.
//
// A directory this package creates (a user's directory, the maildir root,
// cur new tmp, a folder) is durable only once its parent is fsynced. Done
// one by one right after each mkdir, as before, the first delivery into a
// new mailbox paid one journal commit per level on top of the message's
// two. Instead a Dir collects the parents of what it created (dirSyncs)
// and Draft.Commit syncs them after the message file's fsync and before
// the rename into new/: on a journalling file system the file's fsync has
// by then committed the mkdirs too, and the directory fsyncs that follow
// find nothing left to write. Every directory is still fsynced before
// anything is acknowledged, so nothing is weaker than before; a Dir closed
// without a commit syncs what it collected.
//
// Until then another delivery in this process (lmtpd: a second session
// for the same new user) may find the directories already there and
// would skip the syncs it does not know about. So every created directory
// is registered in unsyncedDirs until its syncs are done, and a Dir that
// opens a registered directory takes the creator's dirSyncs into its own
// commit (checkOwner). Another process cannot see the registry: it
// finds the mailbox young and syncs the directories above its new/ itself
// (young.go), relying on the creator to have synced within
// creatorSyncBound (the bound timer) what is older.

// dirSyncs are directories to fsync before a message in a new mailbox is
// acknowledged. Shared between Dirs through unsyncedDirs, hence the lock.
type dirSyncs struct {
	mu       sync.Mutex
	dirs     []*os.File // duplicated descriptors, owned: fsynced, then closed
	dirKeys  []dirKey   // their identities, to add each once
	keys     []dirKey   // created directories registered in unsyncedDirs
	done     bool       // every directory collected so far is fsynced
	released bool       // the creator is gone; lastErr is final
	lastErr  error
	// bound, armed while created directories wait for their syncs,
	// syncs them creatorSyncBound after the first mkdir if the commit
	// has not: another process relies on that bound (young.go)
	bound *time.Timer
}

// unsyncedDirs maps a created directory whose entry (or whose parent's
// entry) may not be durable yet to the dirSyncs that make it so.
var unsyncedDirs sync.Map // dirKey -> *dirSyncs

// add records that parent must be fsynced because an entry was created in
// it; created, if not nil, is that entry, a directory, registered until
// then. parent's descriptor is duplicated: the caller closes its own.
func (s *dirSyncs) add(parent *os.File, created *dirKey) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(parent.Fd()), &st); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if created != nil {
		s.keys = append(s.keys, *created)
		unsyncedDirs.Store(*created, s)
		if s.bound == nil && !s.released {
			s.bound = time.AfterFunc(creatorSyncBound, s.syncLate)
		}
	}
	s.done = false
	pk := dirKey{uint64(st.Dev), st.Ino}
	if slices.Contains(s.dirKeys, pk) {
		return nil // already to be synced
	}
	fd, err := unix.FcntlInt(parent.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "dup", Path: parent.Name(), Err: err}
	}
	s.dirs = append(s.dirs, os.NewFile(uintptr(fd), parent.Name()))
	s.dirKeys = append(s.dirKeys, pk)
	return nil
}

// syncLate is the bound timer's: the commit has not come within
// creatorSyncBound of a mkdir (a message still being received), so the
// created directories are synced now.
func (s *dirSyncs) syncLate() {
	s.mu.Lock()
	s.bound = nil // a directory created from here on arms it again
	s.mu.Unlock()
	s.flush(FsyncDir)
}

// has reports whether key is among the directories still to be fsynced.
func (s *dirSyncs) has(key dirKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.dirKeys, key)
}

// createdAt is add for the directory name just made below parent.
func (s *dirSyncs) createdAt(parent *os.File, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(int(parent.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "stat", Path: parent.Name() + "/" + name, Err: err}
	}
	return s.add(parent, &dirKey{uint64(st.Dev), st.Ino})
}

// flush fsyncs the collected directories with sync (lmtpd's GroupSync
// coalesces the fsync of a domain's directory between concurrent new
// mailboxes) and closes them. After an error the rest stay to be synced
// by the next caller.
func (s *dirSyncs) flush(sync Syncer) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	if s.released {
		return s.lastErr
	}
	syncDir := sync.Sync
	if g, ok := sync.(*GroupSync); ok {
		syncDir = g.syncCreated
	}
	for len(s.dirs) > 0 {
		start := time.Now().Unix()
		if err := syncDir(s.dirs[0]); err != nil {
			s.lastErr = err
			return err
		}
		noteSynced(s.dirKeys[0], start)
		s.dirs[0].Close()
		s.dirs, s.dirKeys = s.dirs[1:], s.dirKeys[1:]
	}
	for _, k := range s.keys {
		unsyncedDirs.CompareAndDelete(k, s)
	}
	s.keys, s.done, s.lastErr = nil, true, nil
	if s.bound != nil {
		s.bound.Stop()
		s.bound = nil
	}
	return nil
}

// release is the end of the creating Dir: what it created and never
// committed into is synced anyway (best effort: no delivery of its own
// depends on it; a sharer that still does gets the error), and the
// descriptors are closed.
func (s *dirSyncs) release() {
	if s == nil {
		return
	}
	err := s.flush(FsyncDir)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.dirs {
		f.Close()
	}
	s.dirs, s.dirKeys = nil, nil
	for _, k := range s.keys {
		unsyncedDirs.CompareAndDelete(k, s)
	}
	s.keys = nil
	s.released, s.lastErr = true, err
	if s.bound != nil {
		s.bound.Stop()
		s.bound = nil
	}
}

// pendingFor returns the dirSyncs that will make the directory with key
// durable, or nil when nobody in this process created it unsynced.
func pendingFor(key dirKey) *dirSyncs {
	v, ok := unsyncedDirs.Load(key)
	if !ok {
		return nil
	}
	return v.(*dirSyncs)
}
