package quota

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"maildeliver/internal/maildir"
)

// buildMaildir makes a maildir with messages in INBOX and folders, and
// things that must not be counted. It returns what must be counted.
func buildMaildir(t *testing.T) (*testMaildir, Usage) {
	m := newTestMaildir(t)
	m.msg("new/1.host,S=1500", 1500)
	m.msg("new/2.host,S=700", 10) // the name's size wins
	m.msg("cur/3.host:2,S", 333)  // no ,S=: lstat
	m.msg("cur/4.host,S=12,W=20:2,S", 12)
	m.msg("cur/.hidden", 5) // Dovecot counts it
	m.folder("Sent")
	m.msg(".Sent/cur/5.host,S=300:2,S", 300)
	m.folder("Sub.Folder")
	m.msg(".Sub.Folder/new/6.host,S=40", 40)
	m.folder("Trash.Sub") // only .Trash itself is excluded
	m.msg(".Trash.Sub/cur/7.host,S=60:2,S", 60)
	m.msg(".Sent/tmp/8.host,S=9999", 9999) // tmp/ is not counted

	// Not counted:
	m.folder("Trash")
	m.msg(".Trash/cur/t1.host,S=5000:2,S", 5000)
	other := newTestMaildir(t)
	other.msg("cur/o1.host,S=7000:2,S", 7000)
	m.symlink(other.dir, ".Linked") // symlinked folder
	m.mkdirs(".Half/cur")
	m.symlink(other.path("new"), ".Half/new") // symlinked new/
	m.write(".NotAFolder", "x")               // a file
	m.mkdirs("..Dots/cur")                    // not a Maildir++ name
	m.msg("..Dots/cur/d.host,S=80", 80)
	m.write("dovecot-uidlist", "3 V1 N1\n") // root files
	m.mkdirs("Plain/cur")                   // no leading dot
	m.msg("Plain/cur/p.host,S=90", 90)

	m.symlink("/etc/passwd", "cur/9.host:2,S") // counted with its lstat size
	target := len("/etc/passwd")
	return m, Usage{Bytes: 1500 + 700 + 333 + 12 + 5 + 300 + 40 + 60 + int64(target), Messages: 9}
}

func TestRecalculate(t *testing.T) {
	m, want := buildMaildir(t)
	root := m.open()
	l := Limit{Bytes: 1000000}
	got, err := Recalculate(root, l)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Recalculate = %+v, want %+v", got, want)
	}
	if data, want := m.maildirsize(), fileContents(l, want); data != string(want) {
		t.Fatalf("maildirsize = %q, want %q", data, want)
	}
	m.tmpEmpty()
	if got, err := Get(root, l); err != nil || got != want {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, want)
	}
}

func TestRecalculateWithoutTmp(t *testing.T) {
	m := newTestMaildir(t)
	m.msg("new/1.host,S=10", 10)
	if err := os.Remove(m.path("tmp")); err != nil {
		t.Fatal(err)
	}
	if _, err := Recalculate(m.open(), Limit{Messages: 5}); err != nil {
		t.Fatal(err)
	}
	if got := m.maildirsize(); got != "5C\n10 1\n" {
		t.Fatalf("maildirsize = %q", got)
	}
	ents, _ := os.ReadDir(m.dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".maildirsize") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
}

func TestRecalculateUnlimited(t *testing.T) {
	m := newTestMaildir(t)
	m.msg("cur/1.host,S=10:2,", 10)
	if _, err := Recalculate(m.open(), Limit{}); err != nil {
		t.Fatal(err)
	}
	if got := m.maildirsize(); got != "0S\n10 1\n" {
		t.Fatalf("maildirsize = %q, want Dovecot's 0S header", got)
	}
}

// fileOf builds a maildirsize of exactly size bytes whose lines sum to u.
func fileOf(l Limit, u Usage, lines, size int) string {
	var b strings.Builder
	b.WriteString(l.String() + "\n")
	first := string(usageLine(u.Bytes, u.Messages))
	rest := strings.Repeat("0 0\n", lines-1)
	pad := size - b.Len() - len(first) - len(rest)
	if pad < 0 {
		panic("file too small")
	}
	b.WriteString(strings.Repeat(" ", pad) + first + rest)
	return b.String()
}

func TestRecalculationTriggers(t *testing.T) {
	l := Limit{Bytes: 10000}
	real := Usage{Bytes: 300, Messages: 2}
	fake := Usage{Bytes: 100, Messages: 1}
	over := Usage{Bytes: 20000, Messages: 5}
	tests := []struct {
		name    string
		file    string // "" = no maildirsize
		age     time.Duration
		recount bool
	}{
		{name: "missing", file: "", recount: true},
		{name: "trusted", file: fileOf(l, fake, 3, 100)},
		{name: "5119 bytes is trusted", file: fileOf(l, fake, 2, maxFileSize-1)},
		{name: "5120 bytes is too big", file: fileOf(l, fake, 2, maxFileSize), recount: true},
		{name: "much too big", file: fileOf(l, fake, 1500, 8000), recount: true},
		{name: "other byte limit", file: fileOf(Limit{Bytes: 9999}, fake, 1, 30), recount: true},
		{name: "other message limit", file: fileOf(Limit{Bytes: 10000, Messages: 5}, fake, 1, 30), recount: true},
		{name: "same limit written differently", file: "10000S,0C\n100 1\n"},
		{name: "malformed", file: "10000S\n100 x\n", recount: true},
		{name: "header only", file: "10000S\n", recount: true},
		{name: "negative", file: "10000S\n100 1\n-200 -1\n", recount: true},
		{name: "over, one line, fresh: trusted", file: fileOf(l, over, 1, 30)},
		{name: "over, one line, 14 minutes", file: fileOf(l, over, 1, 30), age: 14 * time.Minute},
		{name: "over, one line, 16 minutes", file: fileOf(l, over, 1, 30), age: 16 * time.Minute, recount: true},
		{name: "over, two lines", file: fileOf(l, over, 2, 30), recount: true},
		{name: "under, many lines, old: trusted", file: fileOf(l, fake, 20, 200), age: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMaildir(t)
			m.msg("new/1.host,S=100", 100)
			m.msg("cur/2.host,S=200:2,S", 200)
			if tt.file != "" {
				m.write(fileName, tt.file)
				if tt.age > 0 {
					m.age(tt.age)
				}
			}
			root := m.open()
			got, err := Get(root, l)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.recount:
				if got != real {
					t.Fatalf("Get = %+v, want recount %+v", got, real)
				}
				if data := m.maildirsize(); data != string(fileContents(l, real)) {
					t.Fatalf("maildirsize not rewritten: %q", data)
				}
				m.tmpEmpty()
			case got == real:
				t.Fatalf("Get recounted (%+v); the file should have been trusted", got)
			case m.maildirsize() != tt.file:
				t.Fatalf("maildirsize changed without a recount: %q", m.maildirsize())
			}
		})
	}
}

func TestSymlinkedMaildirsizeIsReplaced(t *testing.T) {
	m := newTestMaildir(t)
	m.msg("new/1.host,S=100", 100)
	victim := m.path("victim")
	m.write("victim", "1000S\n5 1\n")
	m.symlink(victim, fileName)
	root := m.open()
	res, _, err := Reserve(context.Background(), root, Limit{Bytes: 1000}, Grace{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Commit(10, 1); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "1000S\n5 1\n" {
		t.Fatalf("symlink target written: %q", b)
	}
	if fi, err := os.Lstat(m.path(fileName)); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("maildirsize is not a regular file: %v, %v", fi, err)
	}
}

func TestCheckBoundary(t *testing.T) {
	tenPct := Grace{Percent: 10}
	tests := []struct {
		name  string
		limit Limit
		grace Grace
		used  Usage // messages written so that this is the recount
		size  int64
		over  bool
	}{
		{name: "fits exactly", limit: Limit{Bytes: 1000}, used: Usage{900, 3}, size: 100},
		{name: "one byte over", limit: Limit{Bytes: 1000}, used: Usage{900, 3}, size: 101, over: true},
		{name: "grace percent", limit: Limit{Bytes: 1000}, grace: tenPct, used: Usage{900, 3}, size: 200},
		{name: "grace percent, one over", limit: Limit{Bytes: 1000}, grace: tenPct, used: Usage{900, 3}, size: 201, over: true},
		{name: "grace bytes", limit: Limit{Bytes: 1000}, grace: Grace{Bytes: 50}, used: Usage{900, 3}, size: 150},
		{name: "grace bytes, one over", limit: Limit{Bytes: 1000}, grace: Grace{Bytes: 50}, used: Usage{900, 3}, size: 151, over: true},
		{name: "at the limit: no grace", limit: Limit{Bytes: 1000}, grace: tenPct, used: Usage{1000, 3}, size: 1, over: true},
		{name: "one under the limit: grace", limit: Limit{Bytes: 1000}, grace: tenPct, used: Usage{999, 3}, size: 101},
		{name: "over the limit", limit: Limit{Bytes: 1000}, used: Usage{1200, 3}, size: 1, over: true},
		{name: "messages: room for one", limit: Limit{Messages: 4}, used: Usage{900, 3}, size: 1 << 30},
		{name: "messages: full", limit: Limit{Messages: 3}, used: Usage{900, 3}, size: 1, over: true},
		{name: "messages: grace does not apply", limit: Limit{Messages: 3}, grace: tenPct, used: Usage{900, 3}, size: 1, over: true},
		{name: "both: bytes full", limit: Limit{Bytes: 1000, Messages: 10}, used: Usage{900, 3}, size: 101, over: true},
		{name: "both: fits", limit: Limit{Bytes: 1000, Messages: 4}, used: Usage{900, 3}, size: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMaildir(t)
			for i := range tt.used.Messages {
				size := tt.used.Bytes / tt.used.Messages
				if i == 0 {
					size += tt.used.Bytes % tt.used.Messages
				}
				m.msg("cur/"+string(rune('a'+i))+".host,S="+itoa(size)+":2,S", 0)
			}
			root := m.open()
			res, got, err := Reserve(context.Background(), root, tt.limit, tt.grace, tt.size)
			if got != tt.used {
				t.Errorf("usage = %+v, want %+v", got, tt.used)
			}
			if tt.over != errors.Is(err, ErrOverQuota) {
				t.Fatalf("Reserve(size %d) = %v, over quota %v", tt.size, err, tt.over)
			}
			if !tt.over && err != nil {
				t.Fatal(err)
			}
			if busy(t, root) == tt.over {
				t.Errorf("reservation held = %v, want %v", !tt.over, !tt.over)
			}
			if (res == nil) != tt.over {
				t.Errorf("reservation %v, over quota %v", res, tt.over)
			}
			res.Release()
			if busy(t, root) {
				t.Error("reservation still held after Release")
			}
		})
	}
}

func itoa(n int64) string { return strings.TrimSuffix(string(usageLine(n, 0)), " 0\n") }

func TestCheckRecountsStaleOverQuota(t *testing.T) {
	// An IMAP client deleted messages without updating maildirsize: the
	// file says over quota; with more than one line it is not trusted.
	m := newTestMaildir(t)
	m.msg("cur/1.host,S=100:2,S", 100)
	m.write(fileName, "1000S\n900 9\n100 1\n")
	root := m.open()
	res, u, err := Reserve(context.Background(), root, Limit{Bytes: 1000}, Grace{}, 50)
	if err != nil {
		t.Fatalf("Check = %v, want a recount to let the message in", err)
	}
	if u != (Usage{100, 1}) {
		t.Fatalf("usage = %+v", u)
	}
	if _, err := res.Commit(50, 1); err != nil {
		t.Fatal(err)
	}
	if got := m.maildirsize(); got != "1000S\n100 1\n50 1\n" {
		t.Fatalf("maildirsize = %q", got)
	}
}

func TestAdd(t *testing.T) {
	l := Limit{Bytes: 1 << 20}
	m := newTestMaildir(t)
	m.msg("new/1.host,S=100", 100)
	root := m.open()
	// No maildirsize yet: Check creates it.
	res, u, err := Reserve(context.Background(), root, l, Grace{}, 20)
	if err != nil || u != (Usage{100, 1}) {
		t.Fatalf("Reserve = %+v, %v", u, err)
	}
	m.msg("new/2.host,S=20", 20)
	if _, err := res.Commit(20, 1); err != nil {
		t.Fatal(err)
	}
	if err := Add(root, l, -100, -1); err != nil { // an IMAP expunge
		t.Fatal(err)
	}
	if got, want := m.maildirsize(), "1048576S\n100 1\n20 1\n-100 -1\n"; got != want {
		t.Fatalf("maildirsize = %q, want %q", got, want)
	}
	if u, err := Get(root, l); err != nil || u != (Usage{20, 1}) {
		t.Fatalf("Get = %+v, %v", u, err)
	}
}

func TestAddWithoutMaildirsize(t *testing.T) {
	// Delivered, but maildirsize vanished in between: the recount that
	// creates it counts the new message, and nothing is appended.
	m := newTestMaildir(t)
	m.msg("new/1.host,S=100", 100)
	root := m.open()
	if err := Add(root, Limit{Messages: 10}, 100, 1); err != nil {
		t.Fatal(err)
	}
	if got := m.maildirsize(); got != "10C\n100 1\n" {
		t.Fatalf("maildirsize = %q", got)
	}
}

func TestUnlimitedDoesNoIO(t *testing.T) {
	// A nil root would fail any I/O.
	if res, u, err := Reserve(context.Background(), nil, Limit{}, Grace{Percent: 10}, 1<<40); err != nil || u != (Usage{}) || res == nil {
		t.Fatalf("Check = %+v, %v", u, err)
	}
	if err := Add(nil, Limit{}, 100, 1); err != nil {
		t.Fatal(err)
	}
	m := newTestMaildir(t)
	m.msg("new/1.host,S=100", 100)
	if u, err := Get(m.open(), Limit{}); err != nil || u != (Usage{100, 1}) {
		t.Fatalf("Get = %+v, %v", u, err)
	}
	if m.hasMaildirsize() {
		t.Fatal("Get without a limit created maildirsize")
	}
	m.write(fileName, "5000S\n42 2\n")
	if u, err := Get(m.open(), Limit{}); err != nil || u != (Usage{42, 2}) {
		t.Fatalf("Get = %+v, %v; want the file's numbers", u, err)
	}
}

func TestErrors(t *testing.T) {
	l := Limit{Bytes: 1000}
	if _, _, err := Reserve(context.Background(), nil, l, Grace{}, 1); err == nil {
		t.Error("Reserve(nil root) succeeded")
	}
	m := newTestMaildir(t)
	root := m.open()
	if _, _, err := Reserve(context.Background(), root, l, Grace{}, -1); err == nil {
		t.Error("Reserve(negative size) succeeded")
	}
	closed := m.open()
	closed.Close()
	if _, err := Get(closed, l); err == nil {
		t.Error("Get(closed root) succeeded")
	}
	if err := Add(closed, l, 1, 1); err == nil {
		t.Error("Add(closed root) succeeded")
	}
	if err := os.Mkdir(m.path(fileName), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Add(root, l, 1, 1); err == nil {
		t.Error("Add to a directory named maildirsize succeeded")
	}
	if _, err := Recalculate(root, l); err == nil {
		t.Error("Recalculate over a directory named maildirsize succeeded")
	}
}

func TestReservationBlocksRecalculation(t *testing.T) {
	l := Limit{Bytes: 1 << 20}
	m := newTestMaildir(t)
	m.msg("new/1.host,S=100", 100)
	root := m.open()
	res, _, err := Reserve(context.Background(), root, l, Grace{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Another delivery finds a stale file while ours is in flight: it
	// counts, but leaves the file alone.
	stale := fileOf(l, Usage{1, 1}, 2, maxFileSize)
	m.write(fileName, stale)
	other := m.open()
	if u, err := Get(other, l); err != nil || u != (Usage{100, 1}) {
		t.Fatalf("Get = %+v, %v", u, err)
	}
	if m.maildirsize() != stale {
		t.Fatal("maildirsize rewritten while a delivery was in flight")
	}
	m.msg("new/2.host,S=10", 10)
	if _, err := res.Commit(10, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := res.Commit(10, 1); err == nil {
		t.Error("a second Commit succeeded")
	}
	if u, err := Get(other, l); err != nil || u != (Usage{110, 2}) {
		t.Fatalf("Get = %+v, %v", u, err)
	}
	if got := m.maildirsize(); got != "1048576S\n110 2\n" {
		t.Fatalf("maildirsize = %q", got)
	}
}

func TestLeakedReservationIsReleasedByGC(t *testing.T) {
	m := newTestMaildir(t)
	func() {
		root, err := os.OpenFile(m.dir, os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := Reserve(context.Background(), root, Limit{Bytes: 100}, Grace{}, 1); err != nil {
			t.Fatal(err)
		}
		// The delivery fails and nobody calls Release; the reservation
		// and root are dropped unclosed.
	}()
	probe := m.open()
	for i := 0; busy(t, probe); i++ {
		if i == 1000 {
			t.Fatal("reservation still held after garbage collection")
		}
		runtime.GC()
		runtime.Gosched()
	}
}

func TestMaildirChangingWhileCounting(t *testing.T) {
	l := Limit{Bytes: 1 << 20}
	setup := func(t *testing.T) (*testMaildir, *os.File, func(n int) func()) {
		m := newTestMaildir(t)
		m.msg("new/1.host,S=100", 100)
		t.Cleanup(func() { testHookAfterCount, testHookAfterWrite = nil, nil })
		// deliverer returns a hook that delivers a message on each of
		// its first n calls, as another writer would.
		deliverer := func(n int) func() {
			calls := 0
			return func() {
				if calls++; calls <= n {
					m.msg("new/x"+itoa(int64(calls))+".host,S=10", 10)
					// Make the change visible whatever the file
					// system's timestamp granularity.
					stamp := time.Now().Add(time.Duration(calls) * time.Hour)
					if err := os.Chtimes(m.path("new"), stamp, stamp); err != nil {
						t.Error(err)
					}
				}
			}
		}
		return m, m.open(), deliverer
	}

	t.Run("settles", func(t *testing.T) {
		m, root, deliverer := setup(t)
		testHookAfterCount = deliverer(2)
		u, err := Recalculate(root, l)
		if err != nil || u != (Usage{120, 3}) {
			t.Fatalf("Recalculate = %+v, %v", u, err)
		}
		if got := m.maildirsize(); got != "1048576S\n120 3\n" {
			t.Fatalf("maildirsize = %q", got)
		}
	})
	t.Run("never settles", func(t *testing.T) {
		m, root, deliverer := setup(t)
		testHookAfterCount = deliverer(1000)
		if _, err := Recalculate(root, l); err == nil {
			t.Fatal("Recalculate succeeded on a maildir that never stopped changing")
		}
		if _, err := Get(root, l); err != nil {
			t.Fatalf("Get: %v", err)
		}
		if m.hasMaildirsize() {
			t.Fatalf("maildirsize written from an unstable count: %q", m.maildirsize())
		}
	})
	t.Run("changed after rename", func(t *testing.T) {
		m, root, deliverer := setup(t)
		testHookAfterWrite = deliverer(1)
		if u, err := Recalculate(root, l); err != nil || u != (Usage{110, 2}) {
			t.Fatalf("Recalculate = %+v, %v", u, err)
		}
		if got := m.maildirsize(); got != "1048576S\n110 2\n" {
			t.Fatalf("maildirsize = %q", got)
		}
	})
	t.Run("keeps changing after rename", func(t *testing.T) {
		m, root, deliverer := setup(t)
		testHookAfterWrite = deliverer(1000)
		if _, err := Recalculate(root, l); err != nil {
			t.Fatal(err)
		}
		if m.hasMaildirsize() {
			t.Fatalf("maildirsize kept although the maildir changed after each rename: %q", m.maildirsize())
		}
		m.tmpEmpty()
	})
}

// With LAYOUT=fs every directory below the root is a folder ("a", "a/b"),
// Trash at the top is not counted, symlinks are not followed, and a
// Maildir++ recount of the same tree would miss them.
func TestRecalculateFS(t *testing.T) {
	m := newTestMaildir(t)
	m.msg("new/1.host,S=100", 100)
	m.mkdirs("Sent/cur", "Sent/new", "Sent/tmp")
	m.msg("Sent/cur/2.host,S=20:2,S", 20)
	m.mkdirs("a/b/cur", "a/b/new")
	m.msg("a/b/new/3.host,S=3", 3)
	m.mkdirs("x.y/cur")
	m.msg("x.y/cur/4.host,S=4:2,S", 4)
	m.msg("Sent/tmp/5.host,S=9999", 9999) // tmp/ is not counted
	m.mkdirs("Trash/cur")
	m.msg("Trash/cur/t.host,S=5000:2,S", 5000)
	m.mkdirs("a/Trash/cur") // only the top-level Trash is excluded
	m.msg("a/Trash/cur/6.host,S=6:2,S", 6)
	other := newTestMaildir(t)
	other.msg("cur/o1.host,S=7000:2,S", 7000)
	m.symlink(other.dir, "Linked")
	m.mkdirs(".hidden/cur")
	m.msg(".hidden/cur/h.host,S=80", 80)
	root := m.open()
	l := Limit{Bytes: 1 << 20, Layout: maildir.FS}
	want := Usage{Bytes: 100 + 20 + 3 + 4 + 6, Messages: 5}
	if got, err := Recalculate(root, l); err != nil || got != want {
		t.Fatalf("Recalculate = %+v, %v; want %+v", got, err, want)
	}
	if got, err := Recalculate(root, Limit{Bytes: 1 << 20}); err != nil || got != (Usage{Bytes: 100 + 80, Messages: 2}) { // INBOX and .hidden
		t.Fatalf("Maildir++ recount of an fs tree = %+v, %v", got, err)
	}
}
