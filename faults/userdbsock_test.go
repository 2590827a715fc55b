//go:build faults

package faults

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"maildeliver/internal/testdb"
)

// TestUserdbSocket: what a local user who is not in the socket's group can
// learn or break through lmtpd's userdb socket ([userdb] socket).
func TestUserdbSocket(t *testing.T) {
	runRow(t, "userdb socket", "defaults (0660, lmtpd's group): a local user is refused", func(t *testing.T, r *row) {
		e, sock, _ := sockEnv(r, "")
		fi, err := os.Lstat(sock)
		if err != nil {
			r.fail("%v", err)
			return
		}
		st := fi.Sys().(*syscall.Stat_t)
		r.note("mode %04o, owner %d:%d", fi.Mode().Perm(), st.Uid, st.Gid)
		if fi.Mode().Perm() != 0o660 || st.Gid != 0 {
			r.fail("socket mode %04o group %d, want 0660 and lmtpd's group 0", fi.Mode().Perm(), st.Gid)
		}
		r.tries = 2
		out := runAs(uid1, "ask", sock, `{"address":"user@foo.org"}`)
		if !strings.Contains(out, "permission denied") {
			r.fail("uid %d asked the socket: %q (want permission denied)", uid1, out)
		} else {
			r.count("refused", 1)
		}
		// the pipe user then falls back to SQL and delivers
		code, o := runDeliverAs(e, uid1, subject("fallback", 100))
		if code != 0 {
			r.fail("deliver as uid %d: exit %d %q", uid1, code, o)
		} else {
			r.count("deliver falls back to SQL", 1)
		}
	})
	runRow(t, "userdb socket", "socket_mode 0666: any local user learns homes and uids, never a password", func(t *testing.T, r *row) {
		_, sock, _ := sockEnv(r, `socket_mode = "0666"`)
		r.tries = 3
		for _, q := range []string{`{"address":"user@foo.org"}`, `{"address":"nobody@foo.org"}`, `{"address":"' OR '1'='1"}`} {
			out := runAs(uid1, "ask", sock, q)
			switch {
			case strings.Contains(out, "hunter2"):
				r.count("password leaked", 1)
				r.fail("%s: %q", q, out)
			case strings.Contains(out, `"home"`):
				r.count("user data", 1)
			case strings.Contains(out, `"notfound"`):
				r.count("notfound", 1)
			default:
				r.count("other", 1)
				r.fail("%s: %q", q, out)
			}
		}
		if r.get("user data") != 1 {
			r.fail("want exactly one answer with user data (user@foo.org)")
		}
		r.mustZero("password leaked")
	})
	runRow(t, "userdb socket", "oversized and malformed requests", func(t *testing.T, r *row) {
		_, sock, d := sockEnv(r, "")
		idle := d.status("VmRSS")
		r.tries = 4
		for _, q := range []struct{ line, want string }{
			{strings.Repeat("x", 4<<20), `"error"`}, // over MaxLine: error, then closed
			{"not json", `"error"`},
			{`{"address":""}`, `"error"`},
			{`{"address":"a\u0000b@foo.org"}`, `"notfound"`}, // no such user (or an error)
		} {
			c, err := net.Dial("unix", sock)
			if err != nil {
				r.fail("%v", err)
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			go c.Write([]byte(q.line + "\n"))
			buf := make([]byte, 512)
			n, err := c.Read(buf)
			c.Close()
			got := string(buf[:n])
			switch {
			case strings.Contains(got, q.want) || strings.Contains(got, `"error"`):
				r.count("refused", 1)
			case n == 0 && err != nil && !os.IsTimeout(err):
				r.count("closed", 1)
			default:
				r.count("wrong", 1)
				r.fail("%q: %q %v", trunc(q.line, 20), got, err)
			}
		}
		peak := d.status("VmHWM")
		r.note("peak RSS %d MB", peak>>10)
		if peak-idle > rssBudget || !d.alive() {
			r.fail("lmtpd: alive %v, peak RSS %d kB over idle", d.alive(), peak-idle)
		}
		r.mustZero("wrong")
	})
	runRow(t, "userdb socket", "300 clients hold every slot: deliver still delivers", slotStarvation)
	for _, which := range []string{"LMTP", "userdb"} {
		runRow(t, "socket directory owner", which+" socket swapped for a symlink before its chmod", func(t *testing.T, r *row) {
			socketSwap(r, which)
		})
	}
}

// socketSwap: the owner of the sockets' directory (Postfix's private/ is
// the postfix user's) replaces lmtpd's fresh socket by a symlink to a
// root file while lmtpd sets the socket's group and mode (strace delays
// those calls by 300 ms, so the swap always lands first). The root file's
// mode and owner must not change (issue 17 #3).
func socketSwap(r *row, which string) {
	e := newEnv(r.t, nil)
	spool := e.mkdirOwned("spool", uid1, uid1)
	secret := filepath.Join(e.dir, "secret")
	os.WriteFile(secret, []byte("root's file\n"), 0o600)
	lmtpSock, udbSock := filepath.Join(spool, "lmtp"), filepath.Join(spool, "userdb")
	e2 := *e
	cfg := e2.config("swap", section{"userdb": fmt.Sprintf("socket = %q\nsocket_mode = \"0666\"", udbSock), "lmtp": ""})
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "unix:"+e.sock(), "unix:"+lmtpSock, 1)), 0o644)
	target := lmtpSock
	if which == "userdb" {
		target = udbSock
	}
	r.tries = 1
	h := startHelper(r.t, uid1, "swapsock", target, secret)
	d, err := tryStartUnder([]string{"strace", "-f", "-qq", "-o", "/dev/null", "-e", "signal=none",
		"-e", "trace=chmod,fchmodat,fchownat,lchown,chown", "-e", "inject=chmod,fchmodat,fchownat,lchown,chown:delay_enter=300000"}, cfg, 30*time.Second)
	if err == nil {
		d.kill()
	}
	h.cmd.Wait()
	swapped := h.cmd.ProcessState != nil && h.cmd.ProcessState.ExitCode() == 0
	r.count("swapped", map[bool]int64{true: 1}[swapped])
	fi, err := os.Stat(secret)
	if err != nil {
		r.fail("%v", err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	r.note("root file mode %04o, owner %d:%d", fi.Mode().Perm(), st.Uid, st.Gid)
	if fi.Mode().Perm() != 0o600 || st.Uid != 0 || st.Gid != 0 {
		r.count("root file changed", 1)
		r.fail("lmtpd changed a root file through the symlink: mode %04o, owner %d:%d", fi.Mode().Perm(), st.Uid, st.Gid)
	}
	if !swapped {
		r.fail("the swap did not happen; the row proves nothing")
	}
	r.mustZero("root file changed")
}

// sockEnv starts lmtpd as root with [userdb] socket on a PostgreSQL userdb
// that also holds a password (hunter2) its query selects.
func sockEnv(r *row, extra string) (*env, string, *daemon) {
	e := newEnv(r.t, testdb.Postgres(r.t))
	e.db.Exec(r.t, "update users set password = 'hunter2'")
	sock := filepath.Join(e.dir, "userdb.sock")
	e.query = "SELECT '" + e.home + "/'||home AS home, uid, gid, password FROM users WHERE userid = '%u'"
	cfg := e.config("sock", section{"userdb": fmt.Sprintf("timeout = \"5s\"\nsocket = %q\n%s", sock, extra)})
	d := startLmtpd(r.t, cfg)
	return e, sock, d
}

// runDeliverAs runs deliver as the pipe user uid with the env's config.
func runDeliverAs(e *env, uid int, subj string) (int, string) {
	cmd := exec.Command(deliverBin(), "-c", filepath.Join(e.dir, "sock.toml"), "-f", "sender@example.net", "-d", "user@domain.org")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	cmd.Stdin = strings.NewReader(testMessage(subj, sizeOf(subj)))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		return -1, err.Error()
	}
	return 0, out.String()
}

// slotStarvation: 300 clients keep asking, holding every connection slot
// (issue 17 #8). deliver (as root, which may connect) must still deliver
// within [userdb] timeout, by the socket or by SQL.
func slotStarvation(t *testing.T, r *row) {
	e, sock, _ := sockEnv(r, "")
	var stop atomic.Bool
	var wg sync.WaitGroup
	var held atomic.Int64
	slotsTaken := make(chan struct{})
	var once sync.Once
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("unix", sock)
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 4096)
			for first := true; !stop.Load(); first = false {
				c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Write([]byte(`{"address":"user@foo.org"}` + "\n")); err != nil {
					return
				}
				if _, err := c.Read(buf); err != nil && !os.IsTimeout(err) {
					return
				}
				if first && held.Add(1) == 256 {
					once.Do(func() { close(slotsTaken) })
				}
				time.Sleep(500 * time.Millisecond) // the attacker's pace, not a synchronisation
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()
	// the server's 256 slots are taken once 256 attackers had an answer
	select {
	case <-slotsTaken:
	case <-time.After(20 * time.Second):
	}
	r.note("%d attackers answered", held.Load())
	r.tries = 3
	for i := 0; i < r.tries; i++ {
		start := time.Now()
		code, out := runDeliverKill(filepath.Join(e.dir, "sock.toml"), testMessage(subject(fmt.Sprintf("starve%d", i), 100), 100), 30*time.Second)
		took := time.Since(start)
		if code == 0 && took <= 5*time.Second+slack {
			r.count("delivered in time", 1)
		} else {
			r.count("deferred or late", 1)
			r.fail("deliver: exit %d %q after %s (want 0 within the 5s timeout)", code, strings.TrimSpace(out), took.Round(time.Millisecond))
		}
	}
	r.mustZero("deferred or late")
}
