package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"maildeliver/internal/testdb"
)

// One uid per user, one gid for all (numeric ids no passwd entry names:
// neither the kernel nor deliver needs one).
const (
	parentsGID = 61100
	parentsUID = 61101 // + i for user i
)

// parentsEnv: users u0..u3@new.example with uids parentsUID+i, location
// maildir:<dir>/vmail/%d/%n/Maildir, <dir>/vmail owned by root:parentsGID
// with vmailMode, <dir>/vmail/new.example not there yet.
func parentsEnv(t *testing.T, vmailMode uint32) (*env, string) {
	t.Helper()
	dbDir := t.TempDir()
	os.Chmod(dbDir, 0o755) // the users' deliver reads it
	db := testdb.SQLite(t, dbDir)
	stmts := "CREATE TABLE users (userid VARCHAR(128) PRIMARY KEY, uid INTEGER NOT NULL, gid INTEGER NOT NULL);\n"
	for i := range 4 {
		stmts += fmt.Sprintf("INSERT INTO users VALUES ('u%d@new.example', %d, %d);\n", i, parentsUID+i, parentsGID)
	}
	db.Exec(t, stmts)
	os.Chmod(db.Connect, 0o644)
	e := newEnv(t, db, "SELECT uid, gid FROM users WHERE userid = '%u'", "", "")
	vmail := filepath.Join(e.dir, "vmail")
	e.mkdirOwned("vmail", 0, parentsGID)
	if err := syscall.Chmod(vmail, vmailMode); err != nil { // os.Chmod drops 02000
		t.Fatal(err)
	}
	b, _ := os.ReadFile(e.conf)
	conf := strings.Replace(string(b), "[mail]\n", fmt.Sprintf("[mail]\nlocation = %q\nmin_uid = 1000\n",
		"maildir:"+vmail+"/%d/%n/Maildir"), 1)
	if err := os.WriteFile(e.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return e, vmail
}

// TestSharedDomainDirUIDPerUser is issue 15 item 2 end to end: the first
// user of a new domain creates <vmail>/new.example; every other user of the
// domain, each with its own uid, must get mail too, whether deliver starts
// as root (and drops to the user) or runs as the user itself (Postfix's
// pipe user=). The domain directory is created as dovecot-lda 2.3 creates
// it below a setgid parent: the parent's mode and group.
func TestSharedDomainDirUIDPerUser(t *testing.T) {
	requireRoot(t)
	e, vmail := parentsEnv(t, 0o2770)
	for i := range 4 {
		rcpt := fmt.Sprintf("u%d@new.example", i)
		var cred *syscall.Credential
		if i == 3 { // deliver as the mailbox user
			cred = &syscall.Credential{Uid: uint32(parentsUID + i), Gid: parentsGID, Groups: []uint32{}}
		}
		r := runDeliver(t, binary, cred, nil, testMsg, "-c", e.conf, "-f", "s@example.net", "-d", rcpt)
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s\nlog:\n%s", rcpt, r.code, r.out, readLog(e))
		}
		checkDelivered(t, filepath.Join(vmail, "new.example", fmt.Sprintf("u%d", i), "Maildir", "new"),
			"s@example.net", rcpt, parentsUID+i, parentsGID, wantStored)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(vmail, "new.example"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != parentsUID || st.Gid != parentsGID || st.Mode&0o7777 != 0o2770 {
		t.Errorf("domain directory %d:%d mode %04o, want %d:%d 2770", st.Uid, st.Gid, st.Mode&0o7777, parentsUID, parentsGID)
	}
}

// TestSharedDomainDirNotSetgid: without the setgid parent nothing is
// shared (as with Dovecot): the second uid is deferred, and the log line
// names the directory, what it lacks and the fix.
func TestSharedDomainDirNotSetgid(t *testing.T) {
	requireRoot(t)
	e, vmail := parentsEnv(t, 0o770)
	if r := e.deliver(testMsg, "-f", "s@example.net", "-d", "u0@new.example"); r.code != 0 {
		t.Fatalf("first user: exit %d: %s", r.code, r.out)
	}
	r := e.deliver(testMsg, "-f", "s@example.net", "-d", "u1@new.example")
	if r.code != 75 || !strings.HasPrefix(r.out, "4.3.0 ") {
		t.Fatalf("second user: exit %d %q, want 75 4.3.0", r.code, r.out)
	}
	dom := filepath.Join(vmail, "new.example")
	want := fmt.Sprintf("uid %d gid %d needs search permission on %s, owned by %d:%d mode 0700", parentsUID+1, parentsGID, dom, parentsUID, parentsGID)
	if log := readLog(e); !strings.Contains(log, want) || !strings.Contains(log, "mode 2770 (setgid)") {
		t.Errorf("log lacks %q and the fix:\n%s", want, log)
	}
}

func readLog(e *env) string {
	b, _ := os.ReadFile(e.log)
	return string(b)
}
