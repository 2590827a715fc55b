package maildir_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"maildeliver/internal/maildir"
	"maildeliver/internal/privilege"
)

// Two mailbox uids sharing one gid, as with one uid per user: numeric ids
// the system does not name (the kernel needs no passwd entry, nor does
// Dovecot).
const (
	sharedGID        = 61000
	uidA, uidB, uidC = 61001, 61002, 61003
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("MAILDELIVER_ALLOW_NONROOT") == "1" {
		t.Skip("SKIPPED (MAILDELIVER_ALLOW_NONROOT=1): needs root to write as several uids")
	}
	t.Fatal("this test needs root to write as several uids (set MAILDELIVER_ALLOW_NONROOT=1 to skip)")
}

// vmailBase returns <tmp>/vmail with the given owner and mode, its
// parents traversable by everyone.
func vmailBase(t *testing.T, mode uint32, gid int) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	v := filepath.Join(dir, "vmail")
	if err := os.Mkdir(v, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(v, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Chmod(v, mode); err != nil { // os.Chmod would drop 02000
		t.Fatal(err)
	}
	return v
}

// deliverAs delivers one message to vmail/<dom>/<user>/Maildir as uid
// (lmtpd's way: file-system identity of one thread, no capabilities).
func deliverAs(vmail, dom, user string, uid int) error {
	own := filepath.Join(vmail, dom, user)
	return privilege.Run(uid, sharedGID, func() error {
		d, err := maildir.OpenOwn(filepath.Join(own, "Maildir"), own, uid)
		if err != nil {
			return err
		}
		defer d.Close()
		f, err := d.Folder("", false)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = put(f, maildir.NewNamer("mx.test"), maildir.FsyncDir, []byte("Subject: x\n\nbody\n"))
		return err
	})
}

type dirInfo struct {
	uid, gid int
	mode     uint32 // st_mode & 07777
}

func statDir(t *testing.T, p string) dirInfo {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return dirInfo{int(st.Uid), int(st.Gid), st.Mode & 0o7777}
}

// withUmask runs the test under a umask that would strip the group bits
// of a shared directory if they were left to mkdir's mode.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// TestSharedParentUIDPerUser is issue 15 item 2: with one uid per user
// under a domain directory that does not exist yet, the first user's
// delivery creates /var/vmail/<domain>; every other user of the domain
// must be able to create their own directory in it. With the parent
// setgid and group-writable for the users' shared gid (Dovecot's documented
// setup), the domain directory gets the parent's mode and group (as
// dovecot-lda 2.3 creates it: drwxrws--- <first uid>:<gid>) and each
// user's own directories stay private (drwx--S---).
func TestSharedParentUIDPerUser(t *testing.T) {
	requireRoot(t)
	withUmask(t, 0o022)
	vmail := vmailBase(t, 0o2770, sharedGID)
	for _, u := range []struct {
		name string
		uid  int
	}{{"a", uidA}, {"b", uidB}, {"c", uidC}} {
		if err := deliverAs(vmail, "new.example", u.name, u.uid); err != nil {
			t.Fatalf("delivery for uid %d: %v", u.uid, err)
		}
	}
	if ents, _ := os.ReadDir(vmail); len(ents) != 1 {
		t.Errorf("%s holds %v, want new.example only (no temporary directory left)", vmail, ents)
	}
	dom := filepath.Join(vmail, "new.example")
	if got, want := statDir(t, dom), (dirInfo{uidA, sharedGID, 0o2770}); got != want {
		t.Errorf("%s: %+v, want %+v (the setgid parent's mode and group)", dom, got, want)
	}
	for _, u := range []struct {
		name string
		uid  int
	}{{"a", uidA}, {"b", uidB}, {"c", uidC}} {
		for _, p := range []string{u.name, u.name + "/Maildir", u.name + "/Maildir/new"} {
			if got, want := statDir(t, filepath.Join(dom, p)), (dirInfo{u.uid, sharedGID, 0o2700}); got != want {
				t.Errorf("%s: %+v, want %+v (the user's own, private)", p, got, want)
			}
		}
	}
}

// TestSharedParentNotSetgid: a parent without the setgid bit gives no
// permissions away (Dovecot creates 0700 then too), so the second uid is
// locked out of the first one's domain directory: a temporary failure
// whose message names the directory, what it lacks and the fix.
func TestSharedParentNotSetgid(t *testing.T) {
	requireRoot(t)
	vmail := vmailBase(t, 0o770, sharedGID)
	if err := deliverAs(vmail, "d.example", "a", uidA); err != nil {
		t.Fatal(err)
	}
	dom := filepath.Join(vmail, "d.example")
	if got, want := statDir(t, dom), (dirInfo{uidA, sharedGID, 0o700}); got != want {
		t.Errorf("%s: %+v, want %+v", dom, got, want)
	}
	err := deliverAs(vmail, "d.example", "b", uidB)
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("second uid: %v, want EACCES", err)
	}
	for _, want := range []string{
		fmt.Sprintf("uid %d gid %d needs search permission on %s, owned by %d:%d mode 0700", uidB, sharedGID, dom, uidA, sharedGID),
		"mode 2770 (setgid)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestParentNotWritable: a base the mailbox uid cannot write names the
// base and the permission needed.
func TestParentNotWritable(t *testing.T) {
	requireRoot(t)
	vmail := vmailBase(t, 0o755, 0)
	err := deliverAs(vmail, "d.example", "a", uidA)
	want := fmt.Sprintf("mkdir %s/d.example: permission denied (uid %d gid %d needs write+search permission on %s, owned by 0:0 mode 0755",
		vmail, uidA, sharedGID, vmail)
	if !errors.Is(err, syscall.EACCES) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want EACCES with %q", err, want)
	}
}
