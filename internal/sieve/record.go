package sieve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Record file names in the user's home (format in the package doc).
const (
	VacationRecordFile  = ".maildeliver.sieve-vacation"
	DuplicateRecordFile = ".maildeliver.sieve-duplicate"
)

// Record is a file of keys that expire, in the user's home: the vacation
// "one reply per sender per period" memory and the duplicate extension's
// ids. Keys are stored hashed. UID/GID >= 0: new files are chowned to
// them (the user), when the process runs as root.
type Record struct {
	Path     string
	UID, GID int
	Now      func() time.Time // nil: time.Now
}

// NewRecord returns the record file name in home, owned by uid:gid.
func NewRecord(home, name string, uid, gid int) *Record {
	return &Record{Path: filepath.Join(home, name), UID: uid, GID: gid}
}

func (r *Record) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// Seen reports whether key has a live entry.
func (r *Record) Seen(key string) (bool, error) {
	entries, err := r.read()
	if err != nil {
		return false, err
	}
	exp, ok := entries[hashKey(key)]
	return ok && exp > r.now().Unix(), nil
}

// CheckAndMark reports whether key has a live entry and, if not (or if
// refresh is set), records it for period, atomically under the lock.
func (r *Record) CheckAndMark(key string, period time.Duration, refresh bool) (bool, error) {
	var seen bool
	err := r.locked(func(entries map[string]int64) bool {
		k := hashKey(key)
		now := r.now().Unix()
		exp, ok := entries[k]
		seen = ok && exp > now
		if seen && !refresh {
			return false
		}
		entries[k] = now + int64(period/time.Second)
		return true
	})
	return seen, err
}

// Mark records key for period.
func (r *Record) Mark(key string, period time.Duration) error {
	_, err := r.CheckAndMark(key, period, true)
	return err
}

// read parses the file; a missing file is empty, a bad line is skipped
// (the record is an optimisation: losing it means one reply too many).
func (r *Record) read() (map[string]int64, error) {
	b, err := os.ReadFile(r.Path)
	if os.IsNotExist(err) {
		return map[string]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		exp, key, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(exp, 10, 64)
		if !ok || err != nil || len(key) != 64 {
			continue
		}
		out[key] = n
	}
	return out, nil
}

// locked runs fn on the entries under an flock on "<file>.lock" and
// writes them back (expired ones dropped) when fn returns true.
func (r *Record) locked(fn func(map[string]int64) bool) error {
	lock, err := os.OpenFile(r.Path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	r.own(r.Path + ".lock")
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	entries, err := r.read()
	if err != nil {
		return err
	}
	if !fn(entries) {
		return nil
	}
	return r.write(entries)
}

func (r *Record) write(entries map[string]int64) error {
	var buf bytes.Buffer
	now := r.now().Unix()
	for k, exp := range entries {
		if exp > now {
			fmt.Fprintf(&buf, "%d %s\n", exp, k)
		}
	}
	tmp := r.Path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		r.own(tmp)
		err = os.Rename(tmp, r.Path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// own gives a file to the user when we run as root.
func (r *Record) own(path string) {
	if r.UID >= 0 && os.Geteuid() == 0 {
		os.Chown(path, r.UID, r.GID)
	}
}

// duplicateCheck answers the duplicate test from a Record and collects
// the ids to remember: they are written only by Plan.Commit, after the
// delivery succeeded (RFC 7352 section 3: a message that was not
// delivered must not count as seen).
type duplicateCheck struct {
	rec  *Record
	plan *Plan
}

func (d duplicateCheck) Seen(_ context.Context, id string, seconds int, last bool) (bool, error) {
	seen, err := d.rec.Seen(id)
	if err != nil {
		return false, err
	}
	if !seen || last {
		d.plan.marks = append(d.plan.marks, mark{id: id, period: time.Duration(seconds) * time.Second})
	}
	return seen, nil
}

type mark struct {
	id     string
	period time.Duration
}

// Tested reports whether the scripts ran a duplicate test: only then has
// Commit something to record.
func (p *Plan) Tested() bool { return len(p.marks) > 0 }

// Commit records the duplicate ids this plan tested, once the message was
// delivered. A nil record or no ids is a no-op.
func (p *Plan) Commit(rec *Record) error {
	if rec == nil {
		return nil
	}
	for _, m := range p.marks {
		if err := rec.Mark(m.id, m.period); err != nil {
			return err
		}
	}
	return nil
}
