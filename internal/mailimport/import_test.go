package mailimport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/lookup"
	"maildeliver/internal/status"
)

// countingDB is a one-user userdb that counts lookups: the lookup itself
// is tested against real databases in package lookup and through the
// binary (cmd/deliver's import test); here what is counted is that an
// import asks once.
type countingDB struct {
	user    lookup.User
	lookups atomic.Int32
}

func (c *countingDB) Lookup(_ context.Context, a string) (*lookup.User, error) {
	c.lookups.Add(1)
	if a != c.user.Address {
		return nil, lookup.ErrNotFound
	}
	u := c.user
	return &u, nil
}

func (*countingDB) Close() error { return nil }

type fixture struct {
	t       *testing.T
	db      *countingDB
	agent   *delivery.Agent
	maildir string
	src     string // a directory for sources
}

// newFixture makes a mailbox for u@x: as root, owned by uid 1001 below a
// traversable temporary directory; otherwise the test's own uid.
func newFixture(t *testing.T, quotaBytes int64) *fixture {
	base := t.TempDir()
	uid := os.Getuid()
	home := filepath.Join(base, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if uid == 0 {
		uid = 1001
		for d := base; d != "/" && d != os.TempDir(); d = filepath.Dir(d) { // never /tmp itself
			os.Chmod(d, 0o755)
		}
		if err := os.Chown(home, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Defaults()
	cfg.Hostname = "mx.test"
	cfg.Mail.Location = "maildir:~/Maildir"
	cfg.Mail.MinUID = 0
	db := &countingDB{user: lookup.User{Address: "u@x", Home: home, UID: int64(uid), GID: int64(uid),
		QuotaBytes: quotaBytes, QuotaMessages: -1}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	src := filepath.Join(base, "src")
	os.Mkdir(src, 0o700)
	return &fixture{t: t, db: db, agent: delivery.NewAgent(cfg, db, log), maildir: filepath.Join(home, "Maildir"), src: src}
}

func (f *fixture) write(name, content string) string {
	p := filepath.Join(f.src, name)
	os.MkdirAll(filepath.Dir(p), 0o700)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) run(opt Options) (Summary, string) {
	f.t.Helper()
	var failures bytes.Buffer
	opt.Recipient, opt.Failures = "u@x", &failures
	before := f.db.lookups.Load()
	sum, err := Run(context.Background(), f.agent, opt)
	if err != nil {
		f.t.Fatalf("Run: %v", err)
	}
	if n := f.db.lookups.Load() - before; n != 1 {
		f.t.Fatalf("%d lookups, want 1", n)
	}
	return sum, failures.String()
}

// files lists the messages stored in dir (a maildir folder's new/ and cur/).
func files(t *testing.T, dir string) []string {
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	return out
}

const mboxHead = "From a@b Tue Dec  1 15:23:54 2026\n"

// Identical copies in one source are all imported; a re-run imports none;
// a source overlapping the first imports only what is new.
func TestRecordSkips(t *testing.T) {
	f := newFixture(t, -1)
	one := mboxHead + "Subject: same\n\nx\n\n" + mboxHead + "Subject: same\n\nx\n\n" + mboxHead + "Subject: other\n\ny\n"
	p := f.write("a.mbox", one)
	sum, fails := f.run(Options{Paths: []string{p}})
	if sum.String() != "imported=3 skipped=0 failed=0" || fails != "" || sum.ExitCode() != 0 {
		t.Fatalf("first: %s %q", sum, fails)
	}
	if sum, _ = f.run(Options{Paths: []string{p}}); sum.String() != "imported=0 skipped=3 failed=0" {
		t.Fatalf("re-run: %s", sum)
	}
	q := f.write("b.mbox", mboxHead+"Subject: other\n\ny\n\n"+mboxHead+"Subject: new\n\nz\n")
	if sum, _ = f.run(Options{Paths: []string{q}}); sum.String() != "imported=1 skipped=1 failed=0" {
		t.Fatalf("overlap: %s", sum)
	}
	if n := len(files(t, f.maildir)); n != 4 {
		t.Fatalf("%d messages stored, want 4", n)
	}
	// The same message into another folder is another import.
	if sum, _ = f.run(Options{Paths: []string{q}, Folder: "Other"}); sum.String() != "imported=2 skipped=0 failed=0" {
		t.Fatalf("other folder: %s", sum)
	}
	rec, err := os.ReadFile(filepath.Join(f.maildir, RecordName))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(rec), "\n"), "\n")
	if len(lines) != 7 || lines[0] != strings.TrimSuffix(recordHeader, "\n") ||
		!strings.HasSuffix(lines[6], " .Other") || !strings.HasSuffix(lines[1], " .") {
		t.Fatalf("record:\n%s", rec)
	}
	st, _ := os.Stat(filepath.Join(f.maildir, RecordName))
	if st.Mode().Perm() != 0o600 || int(st.Sys().(*syscall.Stat_t).Uid) != int(f.db.user.UID) {
		t.Fatalf("record mode %v uid %d", st.Mode(), st.Sys().(*syscall.Stat_t).Uid)
	}
}

// A torn last line (a crash in its write) is not counted: its message is
// imported again (a duplicate, never a loss), and the next line starts on
// a line of its own.
func TestRecordTornLine(t *testing.T) {
	f := newFixture(t, -1)
	p := f.write("a.mbox", mboxHead+"Subject: 1\n\n1\n\n"+mboxHead+"Subject: 2\n\n2\n")
	f.run(Options{Paths: []string{p}})
	rp := filepath.Join(f.maildir, RecordName)
	rec, _ := os.ReadFile(rp)
	torn := rec[:len(rec)-5]
	if err := os.WriteFile(rp, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	if sum, _ := f.run(Options{Paths: []string{p}}); sum.String() != "imported=1 skipped=1 failed=0" {
		t.Fatalf("after a torn line: %s", sum)
	}
	if sum, _ := f.run(Options{Paths: []string{p}}); sum.String() != "imported=0 skipped=2 failed=0" {
		t.Fatalf("then: %s", sum)
	}
}

// A second import of the same mailbox while one runs fails temporarily.
func TestRecordBusy(t *testing.T) {
	f := newFixture(t, -1)
	p := f.write("a.mbox", mboxHead+"Subject: 1\n\n1\n")
	f.run(Options{Paths: []string{p}})
	fd, err := os.Open(filepath.Join(f.maildir, RecordName))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	if err := unix.Flock(int(fd.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), f.agent, Options{Recipient: "u@x", Paths: []string{p}})
	var se *status.Error
	if !errors.As(err, &se) || !se.Temporary() || !errors.Is(err, ErrBusy) {
		t.Fatalf("err %v", err)
	}
}

// Over quota stops the import with the quota's code; what was imported
// stays recorded, and a re-run with room resumes.
func TestOverQuotaStops(t *testing.T) {
	f := newFixture(t, 100)
	body := strings.Repeat("z", 30)
	p := f.write("a.mbox", mboxHead+"Subject: 1\n\n"+body+"\n\n"+mboxHead+"Subject: 2\n\n"+body+"\n\n"+mboxHead+"Subject: 3\n\n"+body+"\n")
	sum, fails := f.run(Options{Paths: []string{p}})
	if sum.String() != "imported=1 skipped=0 failed=1 stopped=yes" || sum.ExitCode() != status.ExitCantCreat ||
		!strings.HasPrefix(fails, "5.2.2 ") || !strings.HasSuffix(fails, "a.mbox line 6\n") {
		t.Fatalf("%s exit %d %q", sum, sum.ExitCode(), fails)
	}
	f.db.user.QuotaBytes = -1
	if sum, _ = f.run(Options{Paths: []string{p}}); sum.String() != "imported=2 skipped=1 failed=0" {
		t.Fatalf("re-run: %s", sum)
	}
}

// A maildir: flags kept in cur/, new/ stays new/, folders follow, a
// folder that cannot be ours fails alone; the worst code is the exit.
func TestMaildirSource(t *testing.T) {
	f := newFixture(t, -1)
	f.write("md/cur/1.a:2,SRa", "Subject: seen\r\n\r\nx\r\n")
	f.write("md/cur/2.a", "Subject: old\n\nx\n")
	f.write("md/new/3.a", "Subject: new\n\nx\n")
	f.write("md/.Sent/cur/4.a:2,S", "Subject: sent\n\nx\n")
	f.write("md/.bad..name/cur/5.a:2,S", "Subject: bad\n\nx\n")
	f.write("md/.notafolder/x", "")
	var progress bytes.Buffer
	sum, fails := f.run(Options{Paths: []string{filepath.Join(f.src, "md")}, Folder: "Old", Progress: &progress})
	if sum.String() != "imported=4 skipped=0 failed=1" || sum.ExitCode() != status.ExitTempFail ||
		!strings.HasPrefix(fails, "4.3.0 folder name not usable") {
		t.Fatalf("%s %q", sum, fails)
	}
	names := func(dir string) []string {
		ents, _ := os.ReadDir(filepath.Join(f.maildir, dir))
		var n []string
		for _, e := range ents {
			n = append(n, e.Name()[strings.Index(e.Name(), ",S="):])
		}
		return n
	}
	if got := names(".Old/cur"); len(got) != 2 || got[0] != ",S=17:2,RS" && got[1] != ",S=17:2,RS" {
		t.Fatalf(".Old/cur: %q", got)
	}
	if got := names(".Old/new"); len(got) != 1 {
		t.Fatalf(".Old/new: %q", got)
	}
	if got := names(".Old.Sent/cur"); len(got) != 1 || got[0] != ",S=17:2,S" {
		t.Fatalf(".Old.Sent/cur: %q", got)
	}
	if !strings.Contains(progress.String(), "\r\x1b[Kimporting md: ") || !strings.HasSuffix(progress.String(), "\r\x1b[K") {
		t.Fatalf("progress %q", progress.String())
	}
}

// A file that is not an mbox is one message, stored as it is.
func TestSingleFile(t *testing.T) {
	f := newFixture(t, -1)
	msg := "Return-Path: <x@y>\nDelivered-To: u@x\nSubject: s\n\nFrom me\n>From you\n"
	p := f.write("m.eml", msg)
	if sum, _ := f.run(Options{Paths: []string{p}}); sum.String() != "imported=1 skipped=0 failed=0" {
		t.Fatalf("%s", sum)
	}
	if got := files(t, f.maildir); len(got) != 1 || got[0] != msg {
		t.Fatalf("stored %q", got)
	}
}

func TestBadSources(t *testing.T) {
	f := newFixture(t, -1)
	os.Mkdir(filepath.Join(f.src, "empty"), 0o700)
	for _, paths := range [][]string{nil, {filepath.Join(f.src, "missing")}, {filepath.Join(f.src, "empty")}} {
		_, err := Run(context.Background(), f.agent, Options{Recipient: "u@x", Paths: paths})
		var se *status.Error
		if !errors.As(err, &se) || se.Enhanced != "4.3.5" {
			t.Errorf("%q: %v", paths, err)
		}
	}
	os.MkdirAll(filepath.Join(f.maildir, "cur"), 0o700)
	_, err := Run(context.Background(), f.agent, Options{Recipient: "u@x", Paths: []string{f.maildir}})
	if err == nil || !strings.Contains(err.Error(), "own maildir") {
		t.Errorf("own maildir: %v", err)
	}
	_, err = Run(context.Background(), f.agent, Options{Recipient: "nobody@x", Paths: []string{f.write("m", "x")}})
	if e := status.From(err); e == nil || e.ExitCode() != status.ExitNoUser {
		t.Errorf("unknown user: %v", err)
	}
}

func TestFlagsFromMbox(t *testing.T) {
	for _, tc := range []struct{ status, xstatus, info string }{
		{"", "", ""}, {"RO", "", "2,S"}, {"O", "", "2,"}, {"R", "AFTD", "2,DFRST"}, {"", "F", "2,F"},
	} {
		m := meta{status: tc.status, xstatus: tc.xstatus, hasStatus: tc.status != "" || tc.xstatus != ""}
		if got := m.info(); got != tc.info {
			t.Errorf("%q %q: %q, want %q", tc.status, tc.xstatus, got, tc.info)
		}
	}
	for name, want := range map[string]string{
		"1.a:2,SRa": "2,RS", "1.a": "2,", "1.a,S=3:2,": "2,", "1.a:2,TSDFPR": "2,DFPRST", "1.a:2,xyz": "2,",
	} {
		if got := infoOf(name, "cur"); got != want {
			t.Errorf("%q: %q, want %q", name, got, want)
		}
	}
	if got := infoOf("1.a", "new"); got != "" {
		t.Errorf("new/: %q", got)
	}
}

func TestWorst(t *testing.T) {
	im := &importer{}
	tmp, perm := status.Temp("a"), status.OverQuota("u@x", status.QuotaBounce)
	im.worse(tmp)
	im.worse(perm)
	im.worse(status.Temp("b"))
	if im.sum.Worst != perm {
		t.Fatalf("worst %v", im.sum.Worst)
	}
}
