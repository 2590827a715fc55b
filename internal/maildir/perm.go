package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Permission bits as in a mode's rwx triple.
const (
	permRead   = 4
	permWrite  = 2
	permSearch = 1
)

// accessError is the error of op on path failing with err. For EACCES and
// EPERM it says, from the mode bits, which directory lacks which
// permission for the current file-system identity (dir needs need; its
// parents need search permission), and what to change: the administrator
// reads it in the deferral's log line, and Postfix retries meanwhile.
func accessError(op, path, dir string, need uint32, err error) error {
	perr := &os.PathError{Op: op, Path: path, Err: err}
	if !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
		return perr
	}
	if hint := explainAccess(dir, need); hint != "" {
		return fmt.Errorf("%w (%s)", perr, hint)
	}
	return perr
}

// identity is the current file-system identity: fsuid, fsgid and groups
// (lmtpd switches them per thread, deliver for the process).
type identity struct {
	uid, gid int
	groups   []int
}

func currentIdentity() identity {
	uid, _ := unix.SetfsuidRetUid(-1) // -1 changes nothing, returns the current
	gid, _ := unix.SetfsgidRetGid(-1)
	groups, _ := unix.Getgroups()
	return identity{uid: uid, gid: gid, groups: groups}
}

// allows reports whether st's mode bits grant need to id.
func (id identity) allows(st *unix.Stat_t, need uint32) bool {
	bits := st.Mode & 0o7
	switch {
	case int(st.Uid) == id.uid:
		bits = st.Mode >> 6 & 0o7
	case id.inGroup(int(st.Gid)):
		bits = st.Mode >> 3 & 0o7
	}
	return bits&need == need
}

func (id identity) inGroup(g int) bool {
	if g == id.gid {
		return true
	}
	for _, x := range id.groups {
		if x == g {
			return true
		}
	}
	return false
}

// explainAccess walks from / to dir and names the first directory whose
// mode bits deny the current identity search permission (or need, for dir
// itself); "" when the bits allow everything (an ACL, a read-only mount,
// a security module decided).
func explainAccess(dir string, need uint32) string {
	id := currentIdentity()
	if id.uid == 0 {
		return ""
	}
	dir = filepath.Clean(dir)
	cur := "/"
	rest := strings.Split(strings.TrimPrefix(dir, "/"), "/")
	for {
		var st unix.Stat_t
		if err := unix.Stat(cur, &st); err != nil {
			return ""
		}
		want := uint32(permSearch)
		if cur == dir {
			want = need
		}
		if !id.allows(&st, want) {
			return describeDenial(id, cur, &st, want)
		}
		if cur == dir || len(rest) == 0 || rest[0] == "" {
			return ""
		}
		cur = filepath.Join(cur, rest[0])
		rest = rest[1:]
	}
}

// describeDenial words what id lacks on dir and how an administrator
// fixes it.
func describeDenial(id identity, dir string, st *unix.Stat_t, want uint32) string {
	var perm []string
	for _, p := range []struct {
		bit  uint32
		name string
	}{{permRead, "read"}, {permWrite, "write"}, {permSearch, "search"}} {
		if want&p.bit != 0 {
			perm = append(perm, p.name)
		}
	}
	msg := fmt.Sprintf("uid %d gid %d needs %s permission on %s, owned by %d:%d mode %04o",
		id.uid, id.gid, strings.Join(perm, "+"), dir, st.Uid, st.Gid, st.Mode&0o7777)
	if int(st.Uid) != id.uid {
		msg += "; a directory that several mailbox uids share needs their common gid as its group" +
			" and mode 2770 (setgid), see README \"Directories and permissions\""
	}
	return msg
}
