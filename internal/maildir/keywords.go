package maildir

// IMAP keywords ($Label1, Junk, ...) in a Maildir file name, as Dovecot
// stores them (src/lib-storage/index/maildir/maildir-keywords.c; checked
// with dovecot-lda 2.3.19 + Pigeonhole storing `addflag` and read back with
// `doveadm fetch flags`):
//
//	cur/<name>,S=<size>:2,<system letters><keyword letters>
//
// keyword letter 'a'+N is the keyword on line "N <name>" of the folder's
// "dovecot-keywords" file (next to its cur new tmp; INBOX: the maildir
// root or INBOX=). A keyword not in the file takes the lowest free index;
// names match case-insensitively (dovecot-lda given "$LABEL1" uses an
// existing "$label1"); the letters are sorted. There are only 26 letters:
// with a-z taken, further keywords are not in the file name (Dovecot keeps
// them in its index only, which maildeliver does not write, so they are
// dropped here).
//
// Dovecot changes dovecot-keywords only while it holds the folder's
// dovecot-uidlist lock ("dovecot-uidlist.lock", created with O_EXCL;
// stale after 120 s), which also covers choosing the letters of the
// message it saves. We take the same lock, so that a Dovecot (an IMAP
// client adding a keyword) and concurrent deliveries never hand out one
// index twice or lose a line. The new file is written as Dovecot does
// ("dovecot-keywords.lock" with O_EXCL, fsync, rename over the file) plus
// an fsync of the directory, and always before the message that uses it
// is moved into cur/, so a letter on disk always has its line. Its mtime
// must grow on every change: Dovecot rereads the file only when its mtime
// (in seconds) changed.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// KeywordsFile is Dovecot's keyword-index file of a folder.
	KeywordsFile = "dovecot-keywords"
	// MaxKeywords is how many keywords fit in file names: letters a-z.
	MaxKeywords = 26

	uidlistLock        = "dovecot-uidlist.lock"
	uidlistStaleAfter  = 120 * time.Second // Dovecot's UIDLIST_LOCK_STALE_TIMEOUT
	uidlistLockTimeout = 122 * time.Second // and its lock timeout (stale + 2)
	firstKeywordLetter = 'a'
	maxKeywordLen      = 1000 // an IMAP client's line limit keeps real ones far shorter
)

// ValidKeyword reports whether k can be stored as a keyword: an IMAP atom
// (RFC 3501 flag-keyword: printable ASCII without space and
// `(){%*"\]`), which also keeps it one line of dovecot-keywords.
func ValidKeyword(k string) bool {
	if k == "" || len(k) > maxKeywordLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// KeywordLetters returns the info letters of keywords in f (sorted, for
// Draft.Commit's info), adding those missing to f's dovecot-keywords file
// (mode for a new file) under Dovecot's lock. dropped are the keywords
// that got no letter: invalid names (see ValidKeyword) and those past the
// 26th. It must run as the mailbox owner.
func (f *Folder) KeywordLetters(keywords []string, mode os.FileMode) (letters string, dropped []string, err error) {
	var valid []string
	for _, k := range keywords {
		if ValidKeyword(k) {
			valid = append(valid, k)
		} else {
			dropped = append(dropped, k)
		}
	}
	if len(valid) == 0 {
		return "", dropped, nil
	}
	dir := f.base
	lk, err := dotlockWith(dir, uidlistLock, uidlistStaleAfter, uidlistLockTimeout)
	if err != nil {
		return "", nil, err
	}
	defer func() {
		unix.Unlinkat(int(dir.Fd()), uidlistLock, 0)
		lk.Close()
	}()
	// Dovecot reads the lock's content as "<pid>:<host>" to tell a dead
	// holder on this host; ours is alive while the file exists.
	host, _ := os.Hostname()
	fmt.Fprintf(lk, "%d:%s", os.Getpid(), host)

	old, err := readAt(dir, KeywordsFile)
	if err != nil {
		return "", nil, err
	}
	var oldMtime time.Time
	if old != nil {
		var st unix.Stat_t
		if err := unix.Fstatat(int(dir.Fd()), KeywordsFile, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
			oldMtime = time.Unix(st.Mtim.Unix())
		}
	}
	names := parseKeywords(old)
	changed := false
	var b []byte
	for _, k := range valid {
		i := keywordIndex(names, k)
		if i < 0 {
			if i = freeKeyword(names); i < 0 {
				dropped = append(dropped, k)
				continue
			}
			names[i], changed = k, true
		}
		if !bytes.ContainsRune(b, rune(firstKeywordLetter+i)) {
			b = append(b, byte(firstKeywordLetter+i))
		}
	}
	if changed {
		if err := writeKeywords(dir, names, mode, oldMtime); err != nil {
			return "", nil, err
		}
	}
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b), dropped, nil
}

// parseKeywords reads dovecot-keywords as Dovecot does: "N name" lines,
// lines it would skip skipped.
func parseKeywords(data []byte) *[MaxKeywords]string {
	var names [MaxKeywords]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		num, name, ok := strings.Cut(sc.Text(), " ")
		if !ok || name == "" {
			continue
		}
		// atoi: digits up to the first non-digit, as Dovecot's atoi.
		end := 0
		for end < len(num) && num[end] >= '0' && num[end] <= '9' {
			end++
		}
		i, err := strconv.Atoi(num[:end])
		if err != nil || i < 0 || i >= MaxKeywords {
			continue
		}
		names[i] = name
	}
	return &names
}

func keywordIndex(names *[MaxKeywords]string, k string) int {
	for i, n := range names {
		if n != "" && strings.EqualFold(n, k) {
			return i
		}
	}
	return -1
}

func freeKeyword(names *[MaxKeywords]string) int {
	for i, n := range names {
		if n == "" {
			return i
		}
	}
	return -1
}

// writeKeywords replaces dovecot-keywords with names, durably, its mtime
// later than oldMtime (see the package comment on Dovecot's rereading).
func writeKeywords(dir *os.File, names *[MaxKeywords]string, mode os.FileMode, oldMtime time.Time) error {
	var content bytes.Buffer
	for i, n := range names {
		if n != "" {
			fmt.Fprintf(&content, "%d %s\n", i, n)
		}
	}
	tmp := KeywordsFile + ".lock"
	// A left-over from a crash: we hold the uidlist lock, so it is no
	// one's (Dovecot unlinks it the same way before writing).
	unix.Unlinkat(int(dir.Fd()), tmp, 0)
	fd, err := unix.Openat(int(dir.Fd()), tmp,
		unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode.Perm()))
	if err != nil {
		return &os.PathError{Op: "create", Path: tmp, Err: err}
	}
	file := os.NewFile(uintptr(fd), tmp)
	err = writeSynced(file, content.Bytes(), oldMtime)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(int(dir.Fd()), tmp, int(dir.Fd()), KeywordsFile)
	}
	if err != nil {
		unix.Unlinkat(int(dir.Fd()), tmp, 0)
		return fmt.Errorf("maildir: writing %s: %w", KeywordsFile, err)
	}
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("maildir: fsync after writing %s: %w", KeywordsFile, err)
	}
	return nil
}

func writeSynced(file *os.File, content []byte, oldMtime time.Time) error {
	if _, err := file.Write(content); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(file.Fd()), &st); err != nil {
		return err
	}
	if !oldMtime.IsZero() && st.Mtim.Sec <= oldMtime.Unix() {
		mt := oldMtime.Add(time.Second)
		ts := []unix.Timespec{unix.NsecToTimespec(time.Now().UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
		if err := unix.UtimesNanoAt(int(file.Fd()), "", ts, unix.AT_EMPTY_PATH); err != nil {
			return err
		}
	}
	return file.Sync()
}
