package maildir

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Syncer makes a directory's new entries durable. FsyncDir is one fsync
// per delivery; a GroupSync shares one among concurrent deliveries (lmtpd).
type Syncer interface {
	Sync(dir *os.File) error
}

// FsyncDir is the Syncer of a single delivery: fsync(2) on the directory.
var FsyncDir Syncer = fsyncDir{}

type fsyncDir struct{}

func (fsyncDir) Sync(dir *os.File) error { return dir.Sync() }

// Draft is one message being written, in two phases: Create makes
// tmp/<unique>, the caller writes the message, Finish makes the file
// durable and gives its size (for the quota), Commit moves it into new/
// (or cur/ with an info) and makes that directory durable. Until Commit
// nothing is visible to readers; Abort, or any failure, removes the file.
// A Draft is used by one goroutine.
type Draft struct {
	f        *Folder
	n        *Namer
	base     string
	file     *os.File
	cw       countWriter
	bw       *bufio.Writer
	mode     os.FileMode
	size     int64
	finished bool
	done     bool // committed or aborted
}

// Create starts a message in f's tmp/ with mode (0600 or 0660), named by n.
func (f *Folder) Create(n *Namer, mode os.FileMode) (*Draft, error) {
	base := n.Next()
	fd, err := unix.Openat(int(f.tmp.Fd()), base,
		unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode.Perm()))
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: "tmp/" + base, Err: err}
	}
	d := &Draft{f: f, n: n, base: base, file: os.NewFile(uintptr(fd), base), mode: mode}
	if mode.Perm() != 0o600 {
		// The process umask may have cleared group bits.
		if err := d.file.Chmod(mode.Perm()); err != nil {
			d.Abort()
			return nil, err
		}
	}
	d.cw.w = d.file
	d.bw = writerPool.Get().(*bufio.Writer)
	d.bw.Reset(&d.cw)
	return d, nil
}

// writerPool holds the Drafts' 64 KiB write buffers: one per recipient
// was most of lmtpd's allocation per delivery, and so of its GC work.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// releaseWriter returns the buffer to the pool; the Draft writes no more.
func (d *Draft) releaseWriter() {
	if d.bw != nil {
		d.bw.Reset(nil)
		writerPool.Put(d.bw)
		d.bw = nil
	}
}

// errDraftState is a Draft used out of order: a bug in the caller.
var errDraftState = errors.New("maildir: draft used out of order")

// Write appends to the message (buffered).
func (d *Draft) Write(p []byte) (int, error) {
	if d.finished || d.done {
		return 0, errDraftState
	}
	return d.bw.Write(p)
}

// ReadFrom appends all of r to the message: io.Copy's path, reading
// straight into the write buffer instead of through a buffer of its own.
func (d *Draft) ReadFrom(r io.Reader) (int64, error) {
	if d.finished || d.done {
		return 0, errDraftState
	}
	return d.bw.ReadFrom(r)
}

// Finish flushes the message, sets its mtime when mtime is not zero
// (Dovecot reads a maildir message's received date, INTERNALDATE, from
// it), fsyncs and closes the file, and returns its size. The file is
// durable in tmp/, not yet delivered.
func (d *Draft) Finish(mtime time.Time) (int64, error) {
	if d.finished || d.done {
		return 0, errDraftState
	}
	d.finished = true
	err := d.finish(mtime)
	d.releaseWriter()
	if cerr := d.file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		d.Abort()
		return 0, err
	}
	d.size = d.cw.n
	return d.size, nil
}

func (d *Draft) finish(mtime time.Time) error {
	if err := d.bw.Flush(); err != nil {
		return err
	}
	if !mtime.IsZero() {
		ts := []unix.Timespec{unix.NsecToTimespec(time.Now().UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
		if err := unix.UtimesNanoAt(int(d.file.Fd()), "", ts, unix.AT_EMPTY_PATH); err != nil {
			return &os.PathError{Op: "utimens", Path: d.file.Name(), Err: err}
		}
	}
	if err := d.file.Sync(); err != nil {
		return fmt.Errorf("maildir: fsync: %w", err)
	}
	return nil
}

// Commit delivers a finished message: renamed into new/ as
// <name>,S=<size> and new/ made durable by sync, or, with info (a
// Maildir info "2,<flags>", see CheckInfo), into cur/ as
// <name>,S=<size>:<info> with cur/ fsynced (Dovecot's maildir-save does so
// for a message saved with flags). It returns only once the entry is
// durable; on any failure the message is taken back out (see withdraw).
func (d *Draft) Commit(info string, sync Syncer) (Written, error) {
	if !d.finished || d.done {
		return Written{}, errDraftState
	}
	if info != "" {
		if err := CheckInfo(info); err != nil {
			d.Abort()
			return Written{}, err
		}
	}
	if sync == nil {
		sync = FsyncDir
	}
	dest, suffix, born, destSync := d.f.new, "", d.f.newBorn, sync
	if info != "" {
		destSync = FsyncDir
		cur, err := d.f.curDir()
		if err != nil {
			d.Abort()
			return Written{}, err
		}
		dest, suffix, born = cur, ":"+info, d.f.curBorn
	}
	// A destination born recently: the directories above it, which
	// another process may have created and not yet synced (young.go).
	if young(born) {
		if err := d.f.dir.addYoungAncestors(dest, born); err != nil {
			d.Abort()
			return Written{}, err
		}
	}
	// The directories a new mailbox or folder needed, after the file's
	// fsync (which committed their creation on a journalling file
	// system) and before the message is visible (pending.go).
	if err := d.f.dir.flushSyncs(sync); err != nil {
		d.Abort()
		return Written{}, fmt.Errorf("maildir: fsync of a created directory: %w", err)
	}
	final, err := d.f.moveTo(dest, d.n, d.base, d.size, suffix)
	if err != nil {
		d.Abort()
		return Written{}, err
	}
	d.done = true
	if err := destSync.Sync(dest); err != nil {
		// Not durable, so not delivered: take it back out so that a
		// retry does not make a duplicate.
		err = fmt.Errorf("maildir: fsync %s/: %w", filepath.Base(dest.Name()), err)
		if werr := d.f.withdraw(dest, d.base, final); werr != nil {
			return Written{}, fmt.Errorf("%w: %w", err, werr)
		}
		return Written{}, err
	}
	return Written{Name: final, Size: d.size}, nil
}

// Abort removes an uncommitted message; after Commit it does nothing, so
// it can be deferred right after Create.
func (d *Draft) Abort() {
	if d == nil || d.done {
		return
	}
	d.done = true
	if !d.finished {
		d.finished = true
		d.releaseWriter()
		d.file.Close()
	}
	unix.Unlinkat(int(d.f.tmp.Fd()), d.base, 0)
}
