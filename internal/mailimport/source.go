package mailimport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"

	"strings"

	"maildeliver/internal/message"
	"maildeliver/internal/status"
)

type kind int

const (
	kindFile    kind = iota // an mbox or one message
	kindMaildir             // a directory with cur/ or new/
)

type source struct {
	path string
	kind kind
}

// classifySources checks every path before anything is imported: a typo
// in the last one should not leave a half-done import.
func classifySources(paths []string) ([]source, error) {
	if len(paths) == 0 {
		return nil, status.Usage("usage: -import needs at least one path")
	}
	var out []source
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, status.Usage("cannot import " + p + ": " + errText(err))
		}
		switch {
		case st.Mode().IsRegular():
			out = append(out, source{path: p, kind: kindFile})
		case st.IsDir() && (isDir(filepath.Join(p, "cur")) || isDir(filepath.Join(p, "new"))):
			out = append(out, source{path: p, kind: kindMaildir})
		default:
			return nil, status.Usage("cannot import " + p + ": neither a file nor a maildir (a directory with cur/ or new/)")
		}
	}
	return out, nil
}

func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// file imports an mbox, or the file as one message when it does not start
// with a From_ line. It is read twice, in step (a digest, then the store),
// through two readers of the size it had when opened.
func (im *importer) file(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	digest := NewMboxReader(io.NewSectionReader(f, 0, size), im.opt.Format)
	store := NewMboxReader(io.NewSectionReader(f, 0, size), im.opt.Format)
	for im.sum.Stopped == nil {
		dm, err := digest.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, ErrNotMbox) {
			return im.single(ctx, path, io.NewSectionReader(f, 0, size))
		}
		if err != nil {
			return err
		}
		where := fmt.Sprintf("%s line %d", path, dm.Line)
		md, err := scan(dm.Body)
		if err != nil {
			return err
		}
		sm, err := store.Next()
		if err != nil {
			return fmt.Errorf("second read: %w", err)
		}
		from := dm.From
		im.one(ctx, msg{where: where, dir: im.target.FolderDir, meta: md, from: &from,
			mtime: from.Date, info: md.info()}, sm.Body)
	}
	return nil
}

// single imports a file that is one message, stored in new/.
func (im *importer) single(ctx context.Context, path string, r *io.SectionReader) error {
	md, err := scan(message.NewLFReader(r))
	if err != nil {
		return err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return err
	}
	im.one(ctx, msg{where: path, dir: im.target.FolderDir, meta: md}, message.NewLFReader(r))
	return nil
}

// meta is what the digest read learns about a message.
type meta struct {
	sum        string // hex SHA-256 of the message
	messageID  string
	returnPath bool   // the header has a Return-Path field
	status     string // Status field value, "" if none
	xstatus    string // X-Status field value
	hasStatus  bool   // either field is present
}

// info is the Maildir info of an mbox message: flags from Status and
// X-Status when it has either field (cur/), else "" (new/).
func (m meta) info() string {
	if !m.hasStatus {
		return ""
	}
	set := map[byte]bool{}
	if strings.ContainsRune(m.status, 'R') {
		set['S'] = true
	}
	for from, to := range map[rune]byte{'A': 'R', 'F': 'F', 'T': 'D', 'D': 'T'} {
		if strings.ContainsRune(m.xstatus, from) {
			set[to] = true
		}
	}
	return "2," + sortedFlags(set)
}

func sortedFlags(set map[byte]bool) string {
	b := make([]byte, 0, len(set))
	for c := range set {
		b = append(b, c)
	}
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b)
}

// scan reads a whole message: its digest and the header fields the
// import uses. Header lines are looked at one by one (a folded value is
// not needed for any of them).
func scan(r io.Reader) (meta, error) {
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(r, h), 64<<10)
	var m meta
	inHeader, lineStart := true, true
	for {
		l, err := br.ReadSlice('\n')
		if len(l) > 0 && inHeader && lineStart {
			if len(l) == 1 {
				inHeader = false
			} else {
				m.field(l)
			}
		}
		lineStart = len(l) > 0 && l[len(l)-1] == '\n'
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return meta{}, &sourceError{err}
		}
	}
	m.sum = hex.EncodeToString(h.Sum(nil))
	return m, nil
}

// field notes one header line.
func (m *meta) field(l []byte) {
	name, value, ok := bytes.Cut(l, []byte(":"))
	if !ok {
		return
	}
	v := strings.TrimSpace(string(value))
	switch strings.ToLower(string(name)) {
	case "message-id":
		if m.messageID == "" {
			m.messageID = v
		}
	case "return-path":
		m.returnPath = true
	case "status":
		m.status, m.hasStatus = v, true
	case "x-status":
		m.xstatus, m.hasStatus = v, true
	}
}

// sourceError is a failure to read the source, as opposed to the mailbox.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "source: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// verifyReader passes the second read of a message through and, at its
// end, fails unless it hashes to the digest of the first: a source that
// changed in between never stores a message the record would then
// misname. Every error it returns is a *sourceError.
type verifyReader struct {
	r    io.Reader
	h    hash.Hash
	want string
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.h == nil {
		v.h = sha256.New()
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, &sourceError{errors.New("the message changed while it was imported")}
		}
		return n, io.EOF
	}
	if err != nil {
		return n, &sourceError{err}
	}
	return n, nil
}

// maildirFlags are the standard flags of the Maildir info kept by an
// import (Dovecot's \Draft \Flagged $Forwarded \Answered \Seen \Deleted).
const maildirFlags = "DFPRST"

// infoOf returns the Maildir info to store a source file under: its
// standard flags, "2," for a file of cur/ without any, "" for new/.
func infoOf(name, sub string) string {
	i := strings.LastIndex(name, ":2,")
	if i < 0 {
		if sub == "new" {
			return ""
		}
		return "2,"
	}
	set := map[byte]bool{}
	for _, c := range []byte(name[i+3:]) {
		if strings.IndexByte(maildirFlags, c) >= 0 {
			set[c] = true
		}
	}
	return "2," + sortedFlags(set)
}
