package quota

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"maildeliver/internal/maildir"
)

// These tests run Dovecot's own Maildir++ quota code (doveadm, standalone
// with a private configuration: no service, no auth socket) against
// maildirs and maildirsize files made by this package. Debian:
// apt-get install dovecot-core. CI sets MAILDELIVER_REQUIRE_DOVECOT=1 so
// that a missing doveadm fails instead of skipping.

type dovecot struct {
	t        *testing.T
	doveadm  string
	base     string
	conf     string
	maildir  *testMaildir
	uid, gid int
	locOpts  string // appended to mail_location (":INBOX=...")
}

func newDovecot(t *testing.T) *dovecot {
	t.Helper()
	doveadm, err := exec.LookPath("doveadm")
	if err != nil {
		if os.Getenv("MAILDELIVER_REQUIRE_DOVECOT") == "1" {
			t.Fatalf("doveadm not found but MAILDELIVER_REQUIRE_DOVECOT=1: install dovecot-core (%v)", err)
		}
		t.Skipf("doveadm not found, Dovecot interoperability NOT TESTED (install dovecot-core; set MAILDELIVER_REQUIRE_DOVECOT=1 to make this fatal): %v", err)
	}
	d := &dovecot{t: t, doveadm: doveadm, base: t.TempDir(), uid: os.Getuid(), gid: os.Getgid()}
	if d.uid == 0 {
		// Dovecot refuses mail access as root: run it as nobody, and
		// let nobody reach the temporary directory.
		d.uid, d.gid = 65534, 65534
		if u, err := user.Lookup("nobody"); err == nil {
			d.uid, _ = strconv.Atoi(u.Uid)
			d.gid, _ = strconv.Atoi(u.Gid)
		}
		for dir := d.base; dir != filepath.Dir(dir) && strings.HasPrefix(dir, os.TempDir()+"/"); dir = filepath.Dir(dir) {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, dir := range []string{"run", "state", "home"} {
		if err := os.Mkdir(filepath.Join(d.base, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d.conf = filepath.Join(d.base, "dovecot.conf")
	d.maildir = &testMaildir{t: t, dir: filepath.Join(d.base, "Maildir")}
	d.maildir.mkdirs("new", "cur", "tmp")
	return d
}

// configure writes the configuration with the given quota rules
// (quota_rule, quota_rule2, ...).
func (d *dovecot) configure(rules ...string) {
	d.t.Helper()
	var b strings.Builder
	for k, v := range map[string]string{
		"base_dir": "run", "state_dir": "state", "log_path": "dovecot.log", "info_log_path": "dovecot.log",
	} {
		b.WriteString(k + " = " + filepath.Join(d.base, v) + "\n")
	}
	b.WriteString("ssl = no\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n")
	b.WriteString("mail_uid = " + strconv.Itoa(d.uid) + "\nmail_gid = " + strconv.Itoa(d.gid) + "\n")
	b.WriteString("mail_location = maildir:" + d.maildir.dir + d.locOpts + "\nmail_plugins = quota\n")
	b.WriteString("plugin {\n  quota = maildir:User quota\n")
	for i, r := range rules {
		key := "quota_rule"
		if i > 0 {
			key += strconv.Itoa(i + 1)
		}
		b.WriteString("  " + key + " = " + r + "\n")
	}
	b.WriteString("}\n")
	if err := os.WriteFile(d.conf, []byte(b.String()), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

// run runs doveadm as the mailbox owner and fails on any complaint.
func (d *dovecot) run(args ...string) string {
	d.t.Helper()
	d.chown()
	cmd := exec.Command(d.doveadm, append([]string{"-c", d.conf}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "USER=quotatest", "HOME=" + filepath.Join(d.base, "home")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		d.t.Fatalf("doveadm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if log, err := os.ReadFile(filepath.Join(d.base, "dovecot.log")); err == nil && len(log) > 0 {
		d.t.Fatalf("Dovecot logged:\n%s", log)
	}
	return stdout.String()
}

// chown gives everything we wrote to the mailbox owner (when we are root).
func (d *dovecot) chown() {
	if os.Getuid() != 0 {
		return
	}
	for _, dir := range []string{d.maildir.dir, filepath.Join(d.base, "home"), filepath.Join(d.base, "inbox")} {
		err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if os.IsNotExist(err) && p == dir {
				return nil
			}
			if err != nil {
				return err
			}
			return os.Lchown(p, d.uid, d.gid)
		})
		if err != nil {
			d.t.Fatal(err)
		}
	}
}

// quotaGet returns what `doveadm quota get` reports: storage in KiB
// (Dovecot rounds up) and messages.
func (d *dovecot) quotaGet() (kib, messages int64) {
	d.t.Helper()
	out := d.run("-f", "tab", "quota", "get")
	kib, messages = -1, -1
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 {
			continue
		}
		n, err := strconv.ParseInt(f[2], 10, 64)
		switch {
		case f[1] == "STORAGE" && err == nil:
			kib = n
		case f[1] == "MESSAGE" && err == nil:
			messages = n
		}
	}
	if kib < 0 || messages < 0 {
		d.t.Fatalf("cannot read doveadm quota get output:\n%s", out)
	}
	return kib, messages
}

// agree fails unless Dovecot reports u.
func (d *dovecot) agree(what string, u Usage) {
	d.t.Helper()
	kib, n := d.quotaGet()
	if wantKiB := (u.Bytes + 1023) / 1024; kib != wantKiB || n != u.Messages {
		d.t.Fatalf("%s: Dovecot reports %d KiB, %d messages; we have %d bytes (%d KiB), %d messages",
			what, kib, n, u.Bytes, wantKiB, u.Messages)
	}
}

func (d *dovecot) inode() uint64 {
	d.t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(d.maildir.path(fileName), &st); err != nil {
		d.t.Fatal(err)
	}
	return st.Ino
}

// populate fills the maildir with messages in INBOX, folders and Trash and
// returns the size of what is in .Trash.
func (d *dovecot) populate() Usage {
	m := d.maildir
	m.msg("new/1700000001.M1P1.host,S=1500", 1500)
	m.msg("cur/1700000002.M2P1.host,S=2700:2,S", 2700)
	m.msg("cur/1700000003.M3P1.host:2,S", 333) // no ,S=: both stat it
	m.folder("Sent")
	m.msg(".Sent/cur/1700000004.M4P1.host,S=4100,W=4200:2,S", 4100)
	m.folder("Lists.Go")
	m.msg(".Lists.Go/new/1700000005.M5P1.host,S=800", 800)
	m.folder("Trash.Old") // not the Trash: counted by both
	m.msg(".Trash.Old/cur/1700000006.M6P1.host,S=600:2,S", 600)
	m.folder("Trash")
	m.msg(".Trash/cur/1700000007.M7P1.host,S=9000:2,S", 9000)
	m.msg(".Trash/cur/1700000008.M8P1.host,S=1000:2,ST", 1000)
	return Usage{Bytes: 10000, Messages: 2}
}

func TestDovecotInterop(t *testing.T) {
	d := newDovecot(t)
	d.populate()
	const rule = "*:storage=10M"
	d.configure(rule, "Trash:ignore")
	l, err := ParseRule(rule)
	if err != nil {
		t.Fatal(err)
	}
	root := d.maildir.open()

	// 1. Our file, with appended deliveries, is read by Dovecot as is.
	u, err := Recalculate(root, l)
	if err != nil {
		t.Fatal(err)
	}
	for i, size := range []int64{1234, 99} {
		res, _, err := Reserve(context.Background(), root, l, Grace{}, size)
		if err != nil {
			t.Fatal(err)
		}
		d.maildir.msg("new/170000001"+strconv.Itoa(i)+".M9P1.host,S="+strconv.FormatInt(size, 10), int(size))
		if _, err := res.Commit(size, 1); err != nil {
			t.Fatal(err)
		}
	}
	if u, err = Get(root, l); err != nil {
		t.Fatal(err)
	}
	want := Usage{Bytes: 1500 + 2700 + 333 + 4100 + 800 + 600 + 1234 + 99, Messages: 8}
	if u != want {
		t.Fatalf("Get = %+v, want %+v", u, want)
	}
	ours, ino := d.maildir.maildirsize(), d.inode()
	d.agree("our maildirsize", u)
	if d.maildir.maildirsize() != ours || d.inode() != ino {
		t.Fatalf("Dovecot rewrote our maildirsize %q as %q", ours, d.maildir.maildirsize())
	}

	// 2. Dovecot's recalculation: same definition, same numbers, and we
	// read its file without recounting.
	d.run("quota", "recalc")
	if d.inode() == ino {
		t.Fatal("doveadm quota recalc did not rewrite maildirsize")
	}
	theirs := d.maildir.maildirsize()
	c, err := parseFile([]byte(theirs))
	if err != nil {
		t.Fatalf("our parser rejects Dovecot's maildirsize %q: %v", theirs, err)
	}
	if c.limit != l || c.usage != want || c.lines != 1 {
		t.Fatalf("Dovecot wrote %q = %+v; we have limit %+v, usage %+v", theirs, c, l, want)
	}
	if theirs != string(fileContents(l, want)) {
		t.Errorf("Dovecot wrote %q, we write %q", theirs, fileContents(l, want))
	}
	if got, err := Get(root, l); err != nil || got != want || d.maildir.maildirsize() != theirs {
		t.Fatalf("Get after Dovecot's recalc = %+v, %v (file %q)", got, err, d.maildir.maildirsize())
	}
	d.agree("Dovecot's maildirsize", want)

	// 3. Dovecot's own appends (IMAP-side expunge) parse and add up.
	d.run("expunge", "mailbox", "Sent", "all")
	want.Bytes -= 4100
	want.Messages--
	after := d.maildir.maildirsize()
	if !strings.HasPrefix(after, theirs) || after == theirs {
		t.Fatalf("expected Dovecot to append to maildirsize, got %q", after)
	}
	if got, err := Get(root, l); err != nil || got != want {
		t.Fatalf("Get after Dovecot's expunge = %+v, %v; file %q", got, err, after)
	}

	// 4. Our recalculation after all that still agrees.
	if got, err := Recalculate(root, l); err != nil || got != want {
		t.Fatalf("Recalculate = %+v, %v; want %+v", got, err, want)
	}
	d.agree("our recalculation", want)
}

func TestDovecotCountsTrashUnlessIgnored(t *testing.T) {
	d := newDovecot(t)
	trash := d.populate()
	d.configure("*:storage=10M")
	l, _ := ParseRule("*:storage=10M")
	u, err := Recalculate(d.maildir.open(), l)
	if err != nil {
		t.Fatal(err)
	}
	d.run("quota", "recalc")
	c, err := parseFile([]byte(d.maildir.maildirsize()))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Usage{u.Bytes + trash.Bytes, u.Messages + trash.Messages}); c.usage != want {
		t.Fatalf("Dovecot without Trash:ignore counts %+v; want ours %+v plus Trash %+v", c.usage, u, trash)
	}
}

func TestDovecotRuleUnits(t *testing.T) {
	d := newDovecot(t)
	d.maildir.msg("cur/1700000001.M1P1.host,S=100:2,S", 100)
	for _, rule := range []string{
		"*:storage=1000", "*:storage=1G", "*:storage=500M", "*:storage=100B", "*:storage=2k",
		"*:bytes=12345", "*:bytes=1k", "*:messages=10", "*:messages=1k",
		"*:storage=1M:messages=5", "*:storage=0", "*:ignore", "*:backend=1000S,5C",
	} {
		want, err := ParseRule(rule)
		if err != nil {
			t.Fatalf("ParseRule(%q): %v", rule, err)
		}
		d.configure(rule)
		if err := os.Remove(d.maildir.path(fileName)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		d.run("quota", "recalc")
		c, err := parseFile([]byte(d.maildir.maildirsize()))
		if err != nil {
			t.Fatalf("%s: %v", rule, err)
		}
		if c.limit != want {
			t.Errorf("%s: Dovecot's limit %+v (%q), ParseRule %+v", rule, c.limit, c.limit.String(), want)
		}
		if got := strings.SplitN(d.maildir.maildirsize(), "\n", 2)[0]; got != want.String() {
			t.Errorf("%s: Dovecot writes definition %q, we write %q", rule, got, want.String())
		}
	}
}

// TestDovecotCountsMovedInbox: with INBOX= the INBOX is not the root, and
// Dovecot's recount counts it where it is, folders below the root, and not
// the root's own cur/new (no mailbox there). Ours must agree.
func TestDovecotCountsMovedInbox(t *testing.T) {
	d := newDovecot(t)
	inbox := &testMaildir{t: t, dir: filepath.Join(d.base, "inbox")}
	inbox.mkdirs("new", "cur", "tmp")
	inbox.msg("new/1700000001.M1P1.host,S=1500", 1500)
	inbox.msg("cur/1700000002.M2P1.host,S=2700:2,S", 2700)
	d.maildir.msg("new/1700000003.M3P1.host,S=5000", 5000) // the root's own: no mailbox
	d.maildir.folder("Sent")
	d.maildir.msg(".Sent/cur/1700000004.M4P1.host,S=4100:2,S", 4100)
	d.locOpts = ":INBOX=" + inbox.dir
	const rule = "*:storage=10M"
	d.configure(rule)
	l, err := ParseRule(rule)
	if err != nil {
		t.Fatal(err)
	}
	l.Inbox = inbox.dir
	want := Usage{Bytes: 1500 + 2700 + 4100, Messages: 3}
	if u, err := Recalculate(d.maildir.open(), l); err != nil || u != want {
		t.Fatalf("Recalculate = %+v, %v; want %+v", u, err, want)
	}
	d.agree("our recalculation", want)
	d.run("quota", "recalc")
	c, err := parseFile([]byte(d.maildir.maildirsize()))
	if err != nil || c.usage != want {
		t.Fatalf("Dovecot's recount: %+v, %v; want %+v", c.usage, err, want)
	}
}

// TestDovecotCountsInboxInsideFSRoot: with LAYOUT=fs and the INBOX moved
// into the root (INBOX=<root>/INBOX), the INBOX directory is also a
// directory below the root: counted once, as Dovecot does.
func TestDovecotCountsInboxInsideFSRoot(t *testing.T) {
	d := newDovecot(t)
	m := d.maildir
	m.mkdirs("INBOX/new", "INBOX/cur", "INBOX/tmp", "Sent/new", "Sent/cur", "Sent/tmp")
	m.msg("INBOX/new/1700000001.M1P1.host,S=1500", 1500)
	m.msg("Sent/cur/1700000004.M4P1.host,S=4100:2,S", 4100)
	d.locOpts = ":LAYOUT=fs:INBOX=" + m.path("INBOX")
	const rule = "*:storage=10M"
	d.configure(rule)
	l, err := ParseRule(rule)
	if err != nil {
		t.Fatal(err)
	}
	l.Layout, l.Inbox = maildir.FS, m.path("INBOX")
	want := Usage{Bytes: 1500 + 4100, Messages: 2}
	if u, err := Recalculate(m.open(), l); err != nil || u != want {
		t.Fatalf("Recalculate = %+v, %v; want %+v", u, err, want)
	}
	d.agree("our recalculation", want)
	d.run("quota", "recalc")
	if c, err := parseFile([]byte(m.maildirsize())); err != nil || c.usage != want {
		t.Fatalf("Dovecot's recount: %+v, %v; want %+v", c.usage, err, want)
	}
}
