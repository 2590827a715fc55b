package maildir

// Dovecot's subscriptions file (src/lib-storage/list/subscription-file.c;
// checked with `doveadm mailbox create -s` on Dovecot 2.3.19, both layouts):
//
//	V<TAB>2<LF>
//	<LF>
//	a<TAB>b<LF>             one subscribed folder per line
//	Stra&AN8-e<LF>
//
// The file is "subscriptions" in the maildir root (or in CONTROL=, or
// named by SUBSCRIPTIONS=), mode 0600, owned by the mailbox owner. In
// version 2 (the header above, which Dovecot writes for a new file) a
// name's hierarchy levels are separated by TAB whatever the layout, each
// level as stored on disk (modified UTF-7, or UTF-8 with the UTF-8 option)
// and tab-escaped (\x01 -> \x01 1, TAB -> \x01 t, CR -> \x01 r,
// LF -> \x01 n). A file without the header is version 1: names use the
// layout's separator ('.' Maildir++, '/' fs) and are not escaped; it is
// rewritten in version 1.
//
// Writers lock with Dovecot's dotlock: "<file>.lock" created with O_EXCL
// holds the new content, is fsynced and renamed over the file, then the
// directory is fsynced. A lock older than 30 s that did not change is
// stale and broken (Dovecot's SUBSCRIPTION_FILE_CHANGE_TIMEOUT); waiting
// for a live one gives up after 120 s (SUBSCRIPTION_FILE_LOCK_TIMEOUT).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SubscriptionsFile is the default name of the subscriptions file.
const SubscriptionsFile = "subscriptions"

const (
	subsVersion2    = "V\t2\n\n"
	subsStaleAfter  = 30 * time.Second
	subsLockTimeout = 120 * time.Second
)

// Subscriptions says where a mailbox's subscriptions file is.
type Subscriptions struct {
	// Dir is the directory holding the file: "" is the maildir root; else
	// an absolute path (Dovecot's CONTROL=), created when missing.
	Dir string
	// File is the file name; "" is SubscriptionsFile.
	File string
}

// Subscribe adds folder p to the subscriptions file (see the format above)
// unless it is already listed. It must run as the mailbox owner.
func (d *Dir) Subscribe(s Subscriptions, n Naming, p FolderPath) error {
	if p.Dir == "" || len(p.Levels) == 0 {
		return nil // INBOX is always there
	}
	dir := d.root
	if s.Dir != "" {
		if err := CheckPath(s.Dir); err != nil {
			return err
		}
		syncs := &dirSyncs{}
		defer syncs.release()
		f, err := openDirAll(s.Dir, s.Dir, syncs)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := syncs.flush(FsyncDir); err != nil {
			return err
		}
		if _, err := d.checkOwner(f); err != nil {
			return err
		}
		dir = f
	}
	file := s.File
	if file == "" {
		file = SubscriptionsFile
	}
	if strings.ContainsRune(file, '/') || file == "." || file == ".." {
		return fmt.Errorf("%w: subscriptions file %q", ErrBadPath, file)
	}
	return subscribe(dir, file, n, p.Levels)
}

// subscribe does Subscribe's work below the open directory dir.
func subscribe(dir *os.File, file string, n Naming, levels []string) error {
	lock := file + ".lock"
	lk, err := dotlock(dir, lock)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			unix.Unlinkat(int(dir.Fd()), lock, 0)
		}
		lk.Close()
	}()
	old, err := readAt(dir, file)
	if err != nil {
		return err
	}
	content, changed := addSubscription(old, n, levels)
	if !changed {
		return nil
	}
	if _, err := lk.Write(content); err != nil {
		return err
	}
	if err := lk.Sync(); err != nil {
		return fmt.Errorf("maildir: fsync %s: %w", lock, err)
	}
	if err := unix.Renameat(int(dir.Fd()), lock, int(dir.Fd()), file); err != nil {
		return &os.PathError{Op: "rename", Path: file, Err: err}
	}
	done = true
	return dir.Sync()
}

// addSubscription returns the file's new content with levels listed, and
// whether it changed.
func addSubscription(old []byte, n Naming, levels []string) ([]byte, bool) {
	v2 := old == nil || bytes.HasPrefix(old, []byte(subsVersion2))
	var entry string
	if v2 {
		esc := make([]string, len(levels))
		for i, l := range levels {
			esc[i] = tabEscape(l)
		}
		entry = strings.Join(esc, "\t")
	} else {
		entry = strings.Join(levels, n.Layout.sep())
	}
	if len(levels) == 1 && strings.EqualFold(entry, "INBOX") {
		// Dovecot 2.3.19 subscribes folder "INBOX.inbox" of an "INBOX."
		// namespace (<root>/.inbox) as "INBOX": what it writes, we write.
		entry = "INBOX"
	}
	body := old
	if v2 && old != nil {
		body = old[len(subsVersion2):]
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if sc.Text() == entry {
			return old, false
		}
	}
	var b bytes.Buffer
	if old == nil {
		b.WriteString(subsVersion2)
	}
	b.Write(old)
	if len(old) > 0 && old[len(old)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString(entry)
	b.WriteByte('\n')
	return b.Bytes(), true
}

// tabEscape is Dovecot's str_append_tabescaped.
func tabEscape(s string) string {
	if !strings.ContainsAny(s, "\x01\t\r\n") {
		return s
	}
	r := strings.NewReplacer("\x01", "\x011", "\t", "\x01t", "\r", "\x01r", "\n", "\x01n")
	return r.Replace(s)
}

// readAt returns the file's content, nil when it does not exist.
func readAt(dir *os.File, name string) ([]byte, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	data, err := io.ReadAll(f)
	if data == nil && err == nil {
		data = []byte{}
	}
	return data, err
}

// dotlock creates the lock file with O_EXCL, waiting for a live lock and
// breaking a stale one (see the format above).
func dotlock(dir *os.File, lock string) (*os.File, error) {
	return dotlockWith(dir, lock, subsStaleAfter, subsLockTimeout)
}

// dotlockWith is Dovecot's dotlock: lock is created with O_EXCL; one whose
// mtime is older than staleAfter is broken; waiting gives up after timeout.
func dotlockWith(dir *os.File, lock string, staleAfter, timeout time.Duration) (*os.File, error) {
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		fd, err := unix.Openat(int(dir.Fd()), lock,
			unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == nil {
			return os.NewFile(uintptr(fd), lock), nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return nil, &os.PathError{Op: "create", Path: lock, Err: err}
		}
		var st unix.Stat_t
		if unix.Fstatat(int(dir.Fd()), lock, &st, unix.AT_SYMLINK_NOFOLLOW) == nil &&
			time.Since(time.Unix(st.Mtim.Unix())) > staleAfter {
			unix.Unlinkat(int(dir.Fd()), lock, 0)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("maildir: timeout waiting for the lock %s", lock)
		}
		// Another delivery (or Dovecot) holds the lock for the few
		// milliseconds of a rewrite: poll, backing off.
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}
