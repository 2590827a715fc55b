package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"maildeliver/internal/testdb"
)

// supervisedEnv is a seed 000 SQLite userdb with one user whose uid runs
// no other process on this machine: RLIMIT_NPROC counts every process
// and thread of the real uid.
func supervisedEnv(t *testing.T) (*env, int) {
	t.Helper()
	requireRoot(t)
	uid := 43000 + os.Getpid()%1000
	db := testdb.SQLite(t, t.TempDir())
	db.Exec(t, testdb.Seed000+fmt.Sprintf(
		`insert into users (userid, uid, gid, home) values ('lim@domain.org', %d, %d, 'lim');`, uid, uid))
	e := newEnv(t, db, "", "", "")
	rewriteQuery(t, e, testdb.Seed000Query(filepath.Join(e.dir, "home")))
	e.mkdirOwned("home/lim", uid, uid)
	return e, uid
}

// runLimited runs bin as uid under prlimit(1) with the given limit.
func runLimited(t *testing.T, bin string, uid int, limit string, e *env, stdin string) result {
	t.Helper()
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Fatal("prlimit (util-linux) is needed")
	}
	return runDeliver(t, "prlimit", &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}, nil, stdin,
		limit, bin, "-c", e.conf, "-f", "a@b", "-d", "lim@domain.org")
}

// Every way deliver can die must end as exit 75 with one DSN line, never
// Go's exit 2, which pipe(8) bounces (issue 17 item 4): no thread for the
// runtime (RLIMIT_NPROC 1..3 fails before main runs), no address space
// (RLIMIT_AS fails while the runtime reserves its heap).
func TestRuntimeDeathIsTemporary(t *testing.T) {
	e, uid := supervisedEnv(t)
	check := func(t *testing.T, bin, limit string) {
		r := runLimited(t, bin, uid, limit, e, testMsg)
		if r.code == 0 {
			return // the limit left room enough (higher NPROC values)
		}
		checkOutcome(t, r, 75, "4.3.0 ")
	}
	for n := 1; n <= 6; n++ {
		t.Run("nproc="+strconv.Itoa(n), func(t *testing.T) { check(t, binary, "--nproc="+strconv.Itoa(n)) })
	}
	// (Below ~50M the kernel cannot even load the 20 MB static binary and
	// kills the exec with SIGSEGV: nothing of deliver runs, and pipe(8)
	// defers a command killed by a signal.)
	for _, mb := range []int{100, 300} {
		t.Run("as="+strconv.Itoa(mb)+"M", func(t *testing.T) { check(t, binary, "--as="+strconv.Itoa(mb<<20)) })
	}
	// The lowest limits really kill the runtime: the supervisor is what
	// turned them into 75.
	r := runLimited(t, binary, uid, "--nproc=2", e, testMsg)
	checkOutcome(t, r, 75, "4.3.0 deliver died abnormally")
	r = runLimited(t, binary, uid, "--nproc=1", e, testMsg)
	checkOutcome(t, r, 75, "4.3.0 deliver cannot start a process")
	// Without limits the same binary delivers, and its own DSN lines and
	// exit codes pass through unchanged.
	checkOutcome(t, runDeliver(t, binary, &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}, nil, testMsg,
		"-c", e.conf, "-f", "a@b", "-d", "lim@domain.org"), 0, "")
	checkOutcome(t, runDeliver(t, binary, nil, nil, testMsg, "-c", e.conf, "-d", "nobody@domain.org"), 67, "5.1.1 ")
	if n := len(readDir(t, filepath.Join(e.dir, "home/lim/Maildir/new"))); n < 1 {
		t.Errorf("%d files in new/", n)
	}
	if out, _ := exec.Command(binary, "-c", e.conf, "-check").Output(); !strings.Contains(string(out), "# crash supervision: on") {
		t.Errorf("-check does not report supervision on:\n%s", out)
	}
}

func readDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return ents
}
