package main

import (
	"bufio"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The capability test (issue 15 item 3, issue 17's capability note):
// lmtpd as root must write mail with nothing but the mailbox owner's
// file-system identity. With root's CAP_SYS_RESOURCE still effective, a
// user's delivery eats the blocks ext4 reserves for root and ignores the
// user's quota hard limit. It runs the real lmtpd (built without cgo, as
// shipped) on a small ext4 image on a loop device.

const (
	capImageSize = 64 << 20
	resUID       = 1003 // mailbox owner of the reserved-blocks case
	quotaUID     = 1001 // mailbox owner with a quota
	fillUID      = 1004 // fills the file system up to root's reserve
	ext4Magic    = 0xEF53
)

// mustTool fails the test when a program it needs is missing.
func mustTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Fatalf("%s is needed (scripts/install-deps.sh installs it): %v", n, err)
		}
	}
}

func runCmd(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// mountImage makes and loop-mounts a 64 MiB ext4 image with 5% reserved
// blocks and user quota, or without quota when this kernel cannot mount
// ext4 with quota (no CONFIG_QFMT_V2): then noQuota says why. It checks
// that what is mounted is that image before anything is written there.
func mountImage(t *testing.T, dir string) (mnt, noQuota string) {
	t.Helper()
	mnt, err := tryMount(t, dir, true)
	if err != nil {
		noQuota = err.Error()
		if mnt, err = tryMount(t, dir, false); err != nil {
			t.Fatalf("cannot mount the ext4 image on a loop device: %v", err)
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != ext4Magic || st.Blocks*uint64(st.Bsize) > capImageSize {
		t.Fatalf("%s is not the 64 MiB ext4 image (type %#x, %d blocks): not writing there", mnt, st.Type, st.Blocks)
	}
	return mnt, noQuota
}

func tryMount(t *testing.T, dir string, quota bool) (string, error) {
	t.Helper()
	img, mnt := filepath.Join(dir, "ext4.img"), filepath.Join(dir, "mnt")
	f, err := os.Create(img)
	if err == nil {
		err = f.Truncate(capImageSize)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	mkfs := []string{"-q", "-F", "-m", "5"}
	opts := "loop"
	if quota {
		mkfs = append(mkfs, "-O", "quota", "-E", "quotatype=usrquota")
		opts += ",usrquota"
	}
	runCmd(t, "mkfs.ext4", append(mkfs, img)...)
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", opts, img, mnt).CombinedOutput(); err != nil {
		return "", fmt.Errorf("mount -o %s: %v: %s", opts, err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	return mnt, nil
}

// fillToReserve allocates, as an ordinary user, every block but root's
// reserve, and returns the free (= reserved) block count.
func fillToReserve(t *testing.T, mnt string) uint64 {
	t.Helper()
	fill := filepath.Join(mnt, "fill")
	if err := os.Mkdir(fill, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(fill, fillUID, fillUID)
	for i := 0; i < 8; i++ {
		var st unix.Statfs_t
		if err := unix.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		if st.Bavail == 0 {
			if st.Bfree == 0 {
				t.Fatal("no reserved blocks left")
			}
			return st.Bfree
		}
		// setpriv: a process of fillUID with no capability at all.
		cmd := exec.Command("setpriv", "--reuid="+strconv.Itoa(fillUID), "--regid="+strconv.Itoa(fillUID),
			"--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
			"fallocate", "-l", strconv.FormatUint(st.Bavail*uint64(st.Bsize), 10), filepath.Join(fill, strconv.Itoa(i)))
		if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "No space left") {
			t.Fatalf("filling: %v %s", err, out)
		}
	}
	t.Fatal("cannot fill the file system to its reserve")
	return 0
}

// lmtpSend delivers msg to rcpt over LMTP and returns the reply to DATA.
func lmtpSend(t *testing.T, sock, rcpt, msg string) string {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "LHLO t\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<%s>\r\nDATA\r\n%s.\r\nQUIT\r\n", rcpt, msg)
	seen354 := false
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("no reply to DATA for %s: %v", rcpt, err)
		}
		if seen354 {
			return strings.TrimSpace(l)
		}
		seen354 = strings.HasPrefix(l, "354")
	}
}

// capLines returns "CapEff CapPrm CapBnd" of every thread of pid.
func capLines(t *testing.T, pid int) []string {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	var out []string
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for l := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(l, ":"); ok {
				m[k] = strings.TrimSpace(v)
			}
		}
		out = append(out, m["CapEff"]+" "+m["CapPrm"]+" "+m["CapBnd"])
	}
	return out
}

func TestCapabilitiesOnExt4(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (loop device, mount, lmtpd as root)")
	}
	mustTool(t, "losetup", "mkfs.ext4", "mount", "umount", "setpriv", "fallocate")
	if out, err := exec.Command("losetup", "-f").CombinedOutput(); err != nil {
		t.Fatalf("no free loop device (losetup -f): %v %s", err, out)
	}
	mustTool(t, "setquota")
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755) // mailbox owners must reach their homes
	}
	mnt, noQuota := mountImage(t, dir)
	for _, u := range []struct {
		name string
		uid  int
	}{{"res", resUID}, {"quo", quotaUID}} {
		p := filepath.Join(mnt, u.name)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, u.uid, u.uid)
	}
	bin := filepath.Join(dir, "lmtpd")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as shipped: DropCapabilities needs it
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building lmtpd: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "lmtp.sock")
	cfg := capConfig(t, dir, mnt, sock)
	d := startDaemon(t, exec.Command(bin, "-c", cfg))
	d.waitState("READY=1")

	// lmtpd keeps CAP_SETUID and CAP_SETGID (0xc0) only, on every thread.
	for _, l := range capLines(t, d.cmd.Process.Pid) {
		if l != "00000000000000c0 00000000000000c0 00000000000000c0" {
			t.Errorf("lmtpd thread caps (eff prm bnd) %s, want c0 c0 c0", l)
		}
	}
	small := "Subject: small\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 256)
	for _, rcpt := range []string{"res@domain.org", "quo@domain.org"} {
		if r := lmtpSend(t, sock, rcpt, small); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("%s with room: %s", rcpt, r)
		}
	}

	t.Run("reserved blocks", func(t *testing.T) {
		reserve := fillToReserve(t, mnt)
		r := lmtpSend(t, sock, "res@domain.org", small)
		if !strings.HasPrefix(r, "452 4.3.1") {
			t.Errorf("delivery into root's reserve: %s, want 452 4.3.1", r)
		}
		var st unix.Statfs_t
		unix.Statfs(mnt, &st)
		if st.Bfree != reserve {
			t.Errorf("root's reserve went from %d to %d blocks", reserve, st.Bfree)
		}
		os.RemoveAll(filepath.Join(mnt, "fill"))
	})
	t.Run("quota", func(t *testing.T) {
		if noQuota != "" {
			// Not a missing package: the kernel itself (CONFIG_QFMT_V2).
			t.Skip("SKIPPED: this kernel cannot mount ext4 with user quota: " + noQuota)
		}
		// 64 KiB hard limit over what quo's mailbox uses now.
		runCmd(t, "setquota", "-u", strconv.Itoa(quotaUID), "0", strconv.Itoa(usedKiB(t, filepath.Join(mnt, "quo"))+64), "0", "0", mnt)
		big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 16<<10)
		if r := lmtpSend(t, sock, "quo@domain.org", big); !strings.HasPrefix(r, "452 4.2.2") {
			t.Errorf("delivery over the user's quota: %s, want 452 4.2.2 (EDQUOT)", r)
		}
	})
}

// usedKiB is the disk usage of the tree at p in KiB (du -sk).
func usedKiB(t *testing.T, p string) int {
	t.Helper()
	out, err := exec.Command("du", "-sk", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.Fields(string(out))[0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// capConfig writes lmtpd's configuration and a SQLite userdb for the two
// mailbox owners.
func capConfig(t *testing.T, dir, mnt, sock string) string {
	t.Helper()
	dbPath := filepath.Join(dir, "users.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE users (userid TEXT PRIMARY KEY, uid INTEGER, gid INTEGER, home TEXT)`,
		fmt.Sprintf(`INSERT INTO users VALUES ('res@domain.org', %d, %d, '%s/res')`, resUID, resUID, mnt),
		fmt.Sprintf(`INSERT INTO users VALUES ('quo@domain.org', %d, %d, '%s/quo')`, quotaUID, quotaUID, mnt),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "maildeliver.toml")
	err = os.WriteFile(cfg, []byte(fmt.Sprintf(`hostname = "mx.test"
[log]
target = "file:%s/lmtpd.log"
[userdb]
driver = "sqlite"
connect = %q
user_query = "SELECT home, uid, gid FROM users WHERE userid = '%%u'"
[mail]
min_uid = 1000
[lmtp]
listen = [%q]
socket_group = ""
`, dir, dbPath, "unix:"+sock)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
