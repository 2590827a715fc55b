package quota

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Usage is what a maildir holds, as counted for quota.
type Usage struct {
	Bytes    int64
	Messages int64
}

// ErrOverQuota means one more message would take the mailbox over its
// limit. Reserve returns it wrapped with the numbers; test with errors.Is.
var ErrOverQuota = errors.New("quota: mailbox over quota")

// errRecalc marks a maildirsize that cannot be trusted and must be
// recalculated: missing, too big, not a regular file, or malformed.
var errRecalc = errors.New("maildirsize needs recalculation")

// Reservation is one delivery's hold on a mailbox's quota, from Reserve
// until Commit (the delivery's line in maildirsize) or Release (nothing was
// delivered). While it is held, a recalculation by another maildeliver
// process waits for it instead of racing with it (the shared root lock,
// lock.go). It is a value the caller owns: defer Release right after
// Reserve; after Commit, Release does nothing. A reservation dropped
// without either is released when it is garbage collected, so a bug
// cannot keep a mailbox from being recounted for ever.
type Reservation struct {
	root  *os.File
	limit Limit
	lock  *heldLock
	done  bool
}

// heldLock is a reservation's shared flock descriptor (noLock: none). It
// lives apart from the Reservation so that a cleanup can close it once the
// Reservation is unreachable; Swap hands it out exactly once.
type heldLock struct{ fd atomic.Int64 }

func newHeldLock(fd int) *heldLock {
	h := &heldLock{}
	h.fd.Store(int64(fd))
	return h
}

func (h *heldLock) take() int { return int(h.fd.Swap(noLock)) }

// Reserve returns the usage of the maildir open at root and, when one more
// message of size bytes fits, a Reservation; else ErrOverQuota (wrapped):
// when usage is already at or over a limit, or usage+size exceeds the byte
// limit plus grace (Dovecot's quota_grace: the last message may take a
// mailbox that is under quota over it by that much). The message limit has
// no grace.
//
// maildirsize is read and, when Courier's rules say so, recalculated (see
// the package doc). An unlimited limit does no I/O at all, and its
// reservation commits nothing. Taking the reservation waits while another
// process holds the maildir's lock, until ctx is done: then Reserve fails
// with ErrLocked (wrapped), a temporary condition. Give ctx a deadline: the
// maildir's owner can hold that lock.
func Reserve(ctx context.Context, root *os.File, limit Limit, grace Grace, size int64) (*Reservation, Usage, error) {
	r := &Reservation{root: root, limit: limit, lock: newHeldLock(noLock)}
	if limit.Unlimited() {
		return r, Usage{}, nil
	}
	if size < 0 {
		return nil, Usage{}, fmt.Errorf("quota: negative message size %d", size)
	}
	fd, err := rootFD(root)
	if err != nil {
		return nil, Usage{}, err
	}
	defer runtime.KeepAlive(root)
	u, err := load(fd, limit, func(u Usage) bool { return exceeds(u, limit, grace, size) != nil })
	if err != nil {
		return nil, u, err
	}
	if err := exceeds(u, limit, grace, size); err != nil {
		return nil, u, err
	}
	lk, err := lockRootWait(ctx, fd, unix.LOCK_SH)
	if err != nil {
		return nil, u, err
	}
	r.lock = newHeldLock(lk)
	runtime.AddCleanup(r, func(h *heldLock) { unlock(h.take()) }, r.lock)
	return r, u, nil
}

// Commit appends the delivery's line ("<bytes> <count>", see Record) to
// maildirsize and releases the reservation. It returns the usage right
// before and after the line. A second Commit, or one after Release, is an
// error and writes nothing.
func (r *Reservation) Commit(bytes, count int64) (Change, error) {
	if r.done {
		return Change{}, errors.New("quota: reservation already committed or released")
	}
	r.done = true
	return record(r.root, r.limit, bytes, count, r.lock.take())
}

// Release gives the reservation up without a line: nothing was delivered.
// It does nothing after Commit or a first Release.
func (r *Reservation) Release() {
	if r == nil || r.done {
		return
	}
	r.done = true
	unlock(r.lock.take())
}

// Fits is Reserve's verdict on given usage, without a maildir: nil, or a
// wrapped ErrOverQuota when a message of size bytes does not fit.
func Fits(u Usage, limit Limit, grace Grace, size int64) error {
	if limit.Unlimited() {
		return nil
	}
	return exceeds(u, limit, grace, size)
}

// exceeds returns a wrapped ErrOverQuota when a message of size bytes does
// not fit, with Dovecot's rules (quota.c, quota_transaction_is_over).
func exceeds(u Usage, l Limit, g Grace, size int64) error {
	if l.Messages > 0 && u.Messages >= l.Messages {
		return fmt.Errorf("%w: %d messages, limit %d", ErrOverQuota, u.Messages, l.Messages)
	}
	if l.Bytes <= 0 {
		return nil
	}
	if u.Bytes > l.Bytes || (u.Bytes == l.Bytes && size > 0) {
		return fmt.Errorf("%w: %d bytes used, limit %d", ErrOverQuota, u.Bytes, l.Bytes)
	}
	grace := graceBytes(l, g)
	room := l.Bytes - u.Bytes
	if grace > math.MaxInt64-room {
		room = math.MaxInt64
	} else {
		room += grace
	}
	if size > room {
		return fmt.Errorf("%w: message of %d bytes, %d of %d bytes used (grace %d)",
			ErrOverQuota, size, u.Bytes, l.Bytes, grace)
	}
	return nil
}

// Exceeds is Reserve's decision on given numbers, without reading the
// maildir: a wrapped ErrOverQuota when a message of size bytes does not
// fit usage u (e.g. a mailbox not created yet, which holds nothing).
func Exceeds(u Usage, l Limit, g Grace, size int64) error {
	if l.Unlimited() {
		return nil
	}
	return exceeds(u, l, g, size)
}

// overLimit is Dovecot's test of a maildirsize total: strictly over a limit.
func overLimit(u Usage, l Limit) bool {
	return (l.Bytes > 0 && u.Bytes > l.Bytes) || (l.Messages > 0 && u.Messages > l.Messages)
}

// Add appends "<bytes> <count>" to maildirsize with one O_APPEND write,
// outside a Reservation: for a removal (negative values) or a message that
// got in another way. When maildirsize does not exist it is created by a
// recalculation, which counts the message just delivered. An unlimited
// limit writes nothing.
func Add(root *os.File, limit Limit, bytes, count int64) error {
	_, err := Record(root, limit, bytes, count)
	return err
}

// Record is Add that also returns the usage right before and after its
// line (see Change).
func Record(root *os.File, limit Limit, bytes, count int64) (Change, error) {
	return record(root, limit, bytes, count, noLock)
}

// record writes the line; lk is the reservation's shared lock (noLock:
// none), released when it returns.
func record(root *os.File, limit Limit, bytes, count int64, lk int) (Change, error) {
	if limit.Unlimited() || (bytes == 0 && count == 0) {
		unlock(lk)
		return Change{}, nil
	}
	fd, err := rootFD(root)
	if err != nil {
		unlock(lk)
		return Change{}, err
	}
	defer runtime.KeepAlive(root)
	if lk == noLock {
		// No reservation (locking unsupported, or Add outside one):
		// never wait here, the message is already delivered. Unlocked,
		// a concurrent recalculation may drop this line (Courier's
		// guarantee); the next recalculation counts the message.
		lk, _ = lockRoot(fd, unix.LOCK_SH)
	}
	// Read and write: the line's place in the file is read back (changeAt).
	flags := unix.O_APPEND | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK
	f, err := unix.Openat(fd, fileName, unix.O_RDWR|flags, 0)
	if errors.Is(err, unix.EACCES) {
		f, err = unix.Openat(fd, fileName, unix.O_WRONLY|flags, 0)
	}
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) {
		unlock(lk)
		_, err = recalc(fd, limit, false)
		return Change{}, err
	}
	defer unlock(lk)
	if err != nil {
		return Change{}, fmt.Errorf("quota: open %s: %w", fileName, err)
	}
	defer unix.Close(f)
	var st unix.Stat_t
	if err := unix.Fstat(f, &st); err != nil {
		return Change{}, fmt.Errorf("quota: stat %s: %w", fileName, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return Change{}, fmt.Errorf("quota: %s is not a regular file", fileName)
	}
	line := usageLine(bytes, count)
	n, err := writeRetry(f, line)
	if err != nil {
		return Change{}, fmt.Errorf("quota: append to %s: %w", fileName, err)
	}
	if n != len(line) {
		return Change{}, fmt.Errorf("quota: append to %s: short write (%d of %d bytes)", fileName, n, len(line))
	}
	return changeAt(f, bytes, count), nil
}

// Get returns the current usage regardless of the limit: from maildirsize
// when it can be trusted, else recounted. With a limit, a recount also
// rewrites maildirsize, as Reserve would; with none, the maildir is only read.
func Get(root *os.File, limit Limit) (Usage, error) {
	fd, err := rootFD(root)
	if err != nil {
		return Usage{}, err
	}
	defer runtime.KeepAlive(root)
	if !limit.Unlimited() {
		return load(fd, limit, func(u Usage) bool { return overLimit(u, limit) })
	}
	c, _, err := readFile(fd)
	if err == nil {
		return c.usage, nil
	}
	if !errors.Is(err, errRecalc) {
		return Usage{}, err
	}
	return count(fd, limit.shape())
}

// count is one counting pass, for callers that do not write maildirsize.
func count(root int, sh shape) (Usage, error) {
	u, err := countAll(root, sh)
	if err != nil {
		return u, fmt.Errorf("quota: count: %w", err)
	}
	return u, nil
}

// Recalculate recounts the maildir and replaces maildirsize with the
// definition of limit ("0S" when unlimited) and the new totals. Unlike the
// recalculations Reserve does, it does not give way to deliveries in flight:
// one of them may then be counted twice or not at all until the next
// recalculation, as with Courier and Dovecot.
func Recalculate(root *os.File, limit Limit) (Usage, error) {
	fd, err := rootFD(root)
	if err != nil {
		return Usage{}, err
	}
	defer runtime.KeepAlive(root)
	return recalc(fd, limit, true)
}

func rootFD(root *os.File) (int, error) {
	if root == nil {
		return -1, errors.New("quota: nil maildir root")
	}
	fd := int(root.Fd())
	if fd < 0 {
		return -1, errors.New("quota: maildir root is closed")
	}
	return fd, nil
}

// load returns the usage recorded in maildirsize, or recalculates it when
// the file is missing, too big, malformed, written for another limit, or
// when over(usage) holds and the file has more than one usage line or is
// older than 15 minutes (Courier's rule: do not refuse mail on stale
// numbers).
func load(root int, l Limit, over func(Usage) bool) (Usage, error) {
	u, trusted, err := loadFile(root, l, over)
	if err != nil || trusted {
		return u, err
	}
	return recalc(root, l, false)
}

// loadFile is load's decision without the recalculation: the usage in
// maildirsize and trusted, or trusted false when load would recalculate.
func loadFile(root int, l Limit, over func(Usage) bool) (u Usage, trusted bool, err error) {
	c, mtime, err := readFile(root)
	if err != nil && !errors.Is(err, errRecalc) {
		return Usage{}, false, err
	}
	if err == nil && c.limit.sameDefinition(l) {
		if !over(c.usage) {
			return c.usage, true, nil
		}
		if c.lines <= 1 && time.Since(time.Unix(mtime.Unix())) < staleAge {
			return c.usage, true, nil
		}
	}
	return Usage{}, false, nil
}

// Peeked is what Peek found.
type Peeked struct {
	Usage Usage
	// Recounted: maildirsize was missing, stale or written for another
	// limit, so the maildir was counted; Reserve would have rewritten it.
	Recounted bool
}

// Peek is Reserve without side effects, for deliver -explain: the same
// decision on the same numbers (maildirsize when Reserve would trust it,
// else a count of the maildir), but nothing is written, no lock is taken
// and nothing is reserved. An error wrapping ErrOverQuota means Reserve
// would refuse a message of size bytes.
func Peek(root *os.File, limit Limit, grace Grace, size int64) (Peeked, error) {
	if limit.Unlimited() {
		return Peeked{}, nil
	}
	fd, err := rootFD(root)
	if err != nil {
		return Peeked{}, err
	}
	defer runtime.KeepAlive(root)
	over := func(u Usage) bool { return exceeds(u, limit, grace, size) != nil }
	u, trusted, err := loadFile(fd, limit, over)
	if err != nil {
		return Peeked{}, err
	}
	p := Peeked{Usage: u, Recounted: !trusted}
	if !trusted {
		if p.Usage, err = count(fd, limit.shape()); err != nil {
			return p, err
		}
	}
	return p, exceeds(p.Usage, limit, grace, size)
}

// readFile reads and parses maildirsize. Errors wrapping errRecalc mean
// "recalculate"; others are I/O errors.
func readFile(root int) (contents, unix.Timespec, error) {
	f, err := unix.Openat(root, fileName, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) {
			return contents{}, unix.Timespec{}, fmt.Errorf("%w: %v", errRecalc, err)
		}
		return contents{}, unix.Timespec{}, fmt.Errorf("quota: open %s: %w", fileName, err)
	}
	defer unix.Close(f)
	var st unix.Stat_t
	if err := unix.Fstat(f, &st); err != nil {
		return contents{}, unix.Timespec{}, fmt.Errorf("quota: stat %s: %w", fileName, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return contents{}, st.Mtim, fmt.Errorf("%w: not a regular file", errRecalc)
	}
	buf := make([]byte, maxFileSize)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(f, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return contents{}, st.Mtim, fmt.Errorf("quota: read %s: %w", fileName, err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	if n >= maxFileSize {
		return contents{}, st.Mtim, fmt.Errorf("%w: %d bytes or more", errRecalc, maxFileSize)
	}
	c, err := parseFile(buf[:n])
	if err != nil {
		return contents{}, st.Mtim, fmt.Errorf("%w: %v", errRecalc, err)
	}
	return c, st.Mtim, nil
}

// recalc recounts the maildir and replaces maildirsize. Unless force, it
// never waits for the root lock and only writes when it gets it without
// waiting, so a delivery of ours never falls between its count and its
// rename (see lock.go); else the file is left for a later call. A maildir
// that keeps changing under the count is not written either; one that
// changed right after the rename gets another try, then maildirsize is
// removed (Courier's rule).
//
// The count, which can take long on a big maildir, runs without the lock
// whenever maildirsize is a regular file: deliveries go on meanwhile, and
// the lock is only taken to see that the file was not appended to or
// replaced during the count (which would mean a delivery the count may have
// missed) and to rename the new file into place. Without such a file there
// is nothing to compare, so the count runs under the lock; a delivery then
// waits for it, up to its lock timeout.
func recalc(root int, l Limit, force bool) (Usage, error) {
	var s scan
	for range 2 {
		var done bool
		var err error
		s, done, err = recalcOnce(root, l, force)
		if done || err != nil {
			return s.usage, err
		}
	}
	if err := unix.Unlinkat(root, fileName, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return s.usage, fmt.Errorf("quota: remove %s: %w", fileName, err)
	}
	return s.usage, nil
}

// recalcOnce is one try of recalc. done is false when the maildir changed
// right after maildirsize was replaced: the caller tries again.
func recalcOnce(root int, l Limit, force bool) (s scan, done bool, err error) {
	before := statFile(root)
	lk := noLock
	defer func() { unlock(lk) }()
	if !before.regular && !force {
		var busy bool
		if lk, busy = lockRoot(root, unix.LOCK_EX); busy {
			s.usage, err = count(root, l.shape()) // nothing is written: one pass will do
			return s, true, err
		}
	}
	s, stable, err := recount(root, l.shape())
	if err != nil {
		return s, true, fmt.Errorf("quota: recount: %w", err)
	}
	if !stable {
		if force {
			return s, true, errors.New("quota: maildir kept changing while counting; maildirsize not rewritten")
		}
		return s, true, nil
	}
	if before.regular || force {
		var busy bool
		lk, busy = lockRoot(root, unix.LOCK_EX)
		if !force && (busy || statFile(root) != before) {
			return s, true, nil // a delivery is or was in flight: left as it is
		}
	}
	if !s.unchanged(root) {
		return s, false, nil
	}
	if err := writeFile(root, l, s.usage); err != nil {
		return s, true, err
	}
	if testHookAfterWrite != nil {
		testHookAfterWrite()
	}
	return s, s.unchanged(root), nil
}

// fileState tells whether maildirsize changed without reading it: an
// append moves its size and times, a replacement its inode.
type fileState struct {
	regular      bool
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
}

// statFile is maildirsize's state; the zero value when it is missing or not
// a regular file.
func statFile(root int) fileState {
	var st unix.Stat_t
	err := unix.Fstatat(root, fileName, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileState{}
	}
	return fileState{regular: true, dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
}

// writeFile writes a new maildirsize under a unique name in tmp/ (at the
// root when there is no tmp/) and renames it into place.
func writeFile(root int, l Limit, u Usage) error {
	var st unix.Stat_t
	if err := unix.Fstat(root, &st); err != nil {
		return fmt.Errorf("quota: stat maildir root: %w", err)
	}
	mode := st.Mode&0o666 | 0o600 // like Dovecot: the root's permissions
	dir, err := unix.Openat(root, "tmp", openDirFlags, 0)
	if err != nil {
		if !vanished(err) {
			return fmt.Errorf("quota: open tmp: %w", err)
		}
		dir = -1
	} else {
		defer unix.Close(dir)
	}
	at := dir
	if at < 0 {
		at = root
	}
	data := fileContents(l, u)
	for {
		name := strconv.FormatInt(time.Now().Unix(), 10) + ".P" + strconv.Itoa(os.Getpid()) +
			"_" + strconv.FormatUint(rand.Uint64(), 36) + ".maildirsize"
		f, err := unix.Openat(at, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return fmt.Errorf("quota: create temporary %s: %w", fileName, err)
		}
		n, werr := writeRetry(f, data)
		cerr := unix.Close(f)
		if werr == nil && n != len(data) {
			werr = errors.New("short write")
		}
		if werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = unix.Renameat(at, name, root, fileName)
		}
		if werr != nil {
			unix.Unlinkat(at, name, 0)
			return fmt.Errorf("quota: write %s: %w", fileName, werr)
		}
		return nil
	}
}

// writeRetry is one write(2), repeated only when interrupted before writing.
func writeRetry(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		if !errors.Is(err, unix.EINTR) {
			return n, err
		}
	}
}
