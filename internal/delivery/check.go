package delivery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"maildeliver/internal/privilege"
	"maildeliver/internal/trace"
)

// CheckMailbox is the last part of deliver -check -d ADDRESS and the
// "ownership" steps of -explain: whether this process, as it would deliver
// for t (root switching to the mailbox owner, or the owner itself), can
// create or write t's maildir root, INBOX= and subscriptions directory. It
// touches nothing. Each problem is one line; what it found for each
// directory is reported to ctx's trace observer.
func (a *Agent) CheckMailbox(ctx context.Context, t *Target) []string {
	dirs := []string{t.Maildir}
	if t.Mailbox.Inbox != "" {
		dirs = append(dirs, t.Mailbox.Inbox)
	}
	if t.Mailbox.Subscriptions.Dir != "" {
		dirs = append(dirs, t.Mailbox.Subscriptions.Dir)
	}
	var problems []string
	err := privilege.Run(t.UID, t.GID, func() error {
		for _, d := range dirs {
			found, p := writable(d, t.UID)
			if p != "" {
				problems = append(problems, p)
				trace.Step(ctx, "ownership", "%s", p)
			} else {
				trace.Step(ctx, "ownership", "%s %s", d, found)
			}
		}
		return nil
	})
	if errors.Is(err, privilege.ErrUIDMismatch) {
		trace.Step(ctx, "ownership", "this process (uid %d) cannot act as uid %d", os.Geteuid(), t.UID)
		return []string{fmt.Sprintf("this process runs as uid %d and cannot write uid %d's mailbox %s: run deliver as root or as uid %d",
			os.Geteuid(), t.UID, t.Maildir, t.UID)}
	}
	if err != nil {
		return []string{fmt.Sprintf("cannot switch to uid %d gid %d: %v", t.UID, t.GID, err)}
	}
	return problems
}

// writable checks, as the current (file-system) identity, that dir exists
// as a directory owned by uid that can be written, or can be created: its
// nearest existing ancestor can be written and searched. It returns what
// it found, or the problem.
func writable(dir string, uid int) (found, problem string) {
	var st unix.Stat_t
	err := unix.Lstat(dir, &st)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return "", fmt.Sprintf("maildir %s is a symbolic link: refused", dir)
	case err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return "", fmt.Sprintf("maildir %s is not a directory", dir)
	case err == nil && int(st.Uid) != uid:
		return "", fmt.Sprintf("maildir %s is owned by uid %d, not the mailbox's uid %d", dir, st.Uid, uid)
	case err == nil:
		if e := unix.Faccessat(unix.AT_FDCWD, dir, unix.W_OK|unix.X_OK, unix.AT_EACCESS); e != nil {
			return "", fmt.Sprintf("maildir %s is not writable by uid %d: %v", dir, uid, e)
		}
		return fmt.Sprintf("exists, owned by uid %d, writable", uid), ""
	case !errors.Is(err, unix.ENOENT):
		return "", fmt.Sprintf("maildir %s: %v", dir, err)
	}
	parent := filepath.Dir(dir)
	for parent != "/" {
		if e := unix.Lstat(parent, &st); e == nil || !errors.Is(e, unix.ENOENT) {
			break
		}
		parent = filepath.Dir(parent)
	}
	if e := unix.Faccessat(unix.AT_FDCWD, parent, unix.W_OK|unix.X_OK, unix.AT_EACCESS); e != nil {
		return "", fmt.Sprintf("maildir %s does not exist and uid %d cannot create it in %s: %v", dir, uid, parent, e)
	}
	return fmt.Sprintf("does not exist; uid %d can create it in %s", uid, parent), ""
}
