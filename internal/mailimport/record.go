package mailimport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"maildeliver/internal/maildir"
	"maildeliver/internal/privilege"
)

// RecordName is the import record's file name in the maildir root.
const RecordName = "maildeliver-import"

const recordHeader = "# maildeliver import record v1: sha256 file folder\n"

// ErrBusy: another import holds the record's lock.
var ErrBusy = errors.New("mailimport: another import into this mailbox is running")

// record is the open import record of one maildir: what earlier runs
// imported, counted per key (digest and destination folder), and the file
// this run appends to. See the package doc for the format.
type record struct {
	mu   sync.Mutex
	f    *os.File
	done map[string]int
}

// openRecord opens (creating it, mode 0600) the record in the maildir at
// path, as the mailbox owner, takes its lock and reads it.
func openRecord(path string, uid, gid int) (*record, error) {
	r := &record{done: map[string]int{}}
	err := privilege.Run(uid, gid, func() error {
		d, err := maildir.Open(path, uid)
		if err != nil {
			return err
		}
		defer d.Close()
		root := int(d.Root().Fd())
		fd, err := unix.Openat(root, RecordName, unix.O_RDWR|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		created := false
		if errors.Is(err, unix.ENOENT) {
			fd, err = unix.Openat(root, RecordName, unix.O_RDWR|unix.O_APPEND|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
			created = true
		}
		if err != nil {
			return &os.PathError{Op: "open", Path: RecordName, Err: err}
		}
		r.f = os.NewFile(uintptr(fd), RecordName)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != uid {
			return fmt.Errorf("%s: not a regular file of uid %d", RecordName, uid)
		}
		if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
			if errors.Is(err, unix.EWOULDBLOCK) {
				return ErrBusy
			}
			return err
		}
		if created {
			if _, err := r.f.WriteString(recordHeader); err != nil {
				return err
			}
			if err := r.f.Sync(); err != nil {
				return err
			}
			return d.Root().Sync()
		}
		return r.read()
	})
	if err != nil {
		if r.f != nil {
			r.f.Close()
		}
		return nil, err
	}
	return r, nil
}

// read counts the complete lines of the record. A line that does not
// parse (a comment, a line from a later version) is passed over, and so is
// a last line without its LF, the torn end of a crashed write: the next
// line is then started on a line of its own.
func (r *record) read() error {
	br := bufio.NewReader(r.f)
	for {
		line, err := br.ReadString('\n')
		if errors.Is(err, io.EOF) {
			if line != "" {
				_, err = r.f.WriteString("\n")
				return err
			}
			return nil
		}
		if err != nil {
			return err
		}
		sum, rest, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		_, dir, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 || len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" || dir == "" {
			continue
		}
		r.done[sum+" "+dir]++
	}
}

// count returns how many messages of key earlier runs imported.
func (r *record) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done[key]
}

// add appends one line for a message now durable in the maildir, with one
// write(2) on the O_APPEND descriptor, and fsyncs it.
func (r *record) add(sum, dir, file string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.f.WriteString(sum + " " + file + " " + dir + "\n"); err != nil {
		return err
	}
	return r.f.Sync()
}

func (r *record) close() error { return r.f.Close() }
