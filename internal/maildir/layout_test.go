package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFolderPath(t *testing.T) {
	pp, fs := Naming{}, Naming{Layout: FS}
	fsDot, ppSlash := Naming{Layout: FS, Sep: '.'}, Naming{Sep: '/'}
	inboxDot := Naming{Prefix: "INBOX."}
	for _, tc := range []struct {
		n      Naming
		name   string
		dir    string
		levels []string
		ok     bool
	}{
		{pp, "a/b", "", nil, false},
		{pp, "x.y", ".x.y", []string{"x", "y"}, true},
		{pp, "Straße", ".Stra&AN8-e", []string{"Stra&AN8-e"}, true},
		{Naming{UTF8: true}, "Straße", ".Straße", []string{"Straße"}, true},
		{pp, "R&D", ".R&-D", []string{"R&-D"}, true},
		{fs, "a/b", "a/b", []string{"a", "b"}, true},
		{fs, "x.y", "x.y", []string{"x.y"}, true},
		{fs, "Straße/Über", "Stra&AN8-e/&ANw-ber", []string{"Stra&AN8-e", "&ANw-ber"}, true},
		{Naming{Layout: FS, UTF8: true}, "Straße/Über", "Straße/Über", []string{"Straße", "Über"}, true},
		{fs, "INBOX", "", nil, true},
		{fs, "", "", nil, true},
		{fs, "a//b", "", nil, false},
		{fs, "/a", "", nil, false},
		{fs, "a/", "", nil, false},
		{fs, "../x", "", nil, false},
		{fs, "a/..", "", nil, false},
		{fs, ".hidden", "", nil, false},
		{fs, "cur", "", nil, false},
		{fs, "a/new", "", nil, false},
		{fs, "tmp/x", "", nil, false},
		{fs, "maildirsize", "", nil, false},
		{fs, "subscriptions", "", nil, false},
		{fs, "dovecot.index", "", nil, false},
		{fs, "a/maildirsize", "a/maildirsize", []string{"a", "maildirsize"}, true},
		{fs, "tab\tx", "", nil, false},
		{fs, strings.Repeat("a", 256), "", nil, false},
		{pp, "cur", ".cur", []string{"cur"}, true},
		// Dovecot's namespace separator (dovecot-lda -m on Dovecot 2.3.19):
		// it splits the name; on disk the layout's separator joins levels.
		{fsDot, "a.b", "a/b", []string{"a", "b"}, true},
		{fsDot, "Straße.Über", "Stra&AN8-e/&ANw-ber", []string{"Stra&AN8-e", "&ANw-ber"}, true},
		{fsDot, "a/b", "", nil, false}, // "Character not allowed in mailbox name: '/'"
		{fsDot, "a..b", "", nil, false},
		{fsDot, "cur.x", "", nil, false},
		{ppSlash, "a/b", ".a.b", []string{"a", "b"}, true},
		{ppSlash, "a.b", "", nil, false}, // "Character not allowed in mailbox name: '.'"
		{Naming{Layout: FS, Sep: '/'}, "a.b", "a.b", []string{"a.b"}, true},
		{Naming{Sep: '.'}, "a.b", ".a.b", []string{"a", "b"}, true},
		// "inbox." is upper-cased, prefix or not (dovecot-lda 2.3.19).
		{pp, "inbox.Junk", ".INBOX.Junk", []string{"INBOX", "Junk"}, true},
		{fs, "Inbox/x", "INBOX/x", []string{"INBOX", "x"}, true},
		{pp, "inboxes.x", ".inboxes.x", []string{"inboxes", "x"}, true},
		// The inbox namespace prefix (dovecot-lda 2.3.19 -m with
		// prefix = INBOX., separator = .; see TestPrefixDifferential).
		{inboxDot, "INBOX.Junk", ".Junk", []string{"Junk"}, true},
		{inboxDot, "inbox.Junk", ".Junk", []string{"Junk"}, true},
		{inboxDot, "INBOX.a.b", ".a.b", []string{"a", "b"}, true},
		{inboxDot, "INBOX.INBOX", "", nil, true},
		{inboxDot, "INBOX.Inbox", ".Inbox", []string{"Inbox"}, true},
		{inboxDot, "INBOX.INBOX.x", ".INBOX.x", []string{"INBOX", "x"}, true},
		{inboxDot, "INBOX.", "", nil, true},
		{inboxDot, "inbox.", "", nil, false},
		{inboxDot, "inbox", "", nil, true},
		{inboxDot, "Junk", "", nil, false},
		{inboxDot, "INBOXJunk", "", nil, false},
		{inboxDot, "INBOX..x", "", nil, false},
		{inboxDot, "INBOX.x/y", "", nil, false},
		{Naming{Layout: FS, Sep: '.', Prefix: "INBOX."}, "INBOX.a.b", "a/b", []string{"a", "b"}, true},
		{Naming{Sep: '/', Prefix: "INBOX/"}, "INBOX/a/b", ".a.b", []string{"a", "b"}, true},
		{Naming{Sep: '/', Prefix: "INBOX/"}, "INBOX.a", "", nil, false},
		{Naming{Prefix: "Mail."}, "Mail", "", nil, true},
		{Naming{Prefix: "Mail."}, "mail.Junk", "", nil, false},
		{Naming{Prefix: "Mail."}, "INBOX.Junk", "", nil, false},
	} {
		p, ok := tc.n.FolderPath(tc.name)
		if ok != tc.ok || p.Dir != tc.dir || strings.Join(p.Levels, "|") != strings.Join(tc.levels, "|") {
			t.Errorf("%+v.FolderPath(%q) = %+v, %v; want %q %q, %v", tc.n, tc.name, p, ok, tc.dir, tc.levels, tc.ok)
		}
	}
}

func TestParseLayout(t *testing.T) {
	for in, want := range map[string]Layout{"": MaildirPlusPlus, "maildir++": MaildirPlusPlus, "Maildir++": MaildirPlusPlus, "fs": FS} {
		if l, err := ParseLayout(in); err != nil || l != want {
			t.Errorf("ParseLayout(%q) = %v, %v", in, l, err)
		}
	}
	for _, in := range []string{"index", "FS", "imapdir"} {
		if _, err := ParseLayout(in); err == nil {
			t.Errorf("ParseLayout(%q) accepted", in)
		}
	}
}

// An fs-layout folder a/b is <root>/a/b with its own cur new tmp, the
// parent a plain directory, and no maildirfolder file (Dovecot 2.3 creates
// it so).
func TestFolderFS(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	p, _ := Naming{Layout: FS}.FolderPath("a/b")
	w, err := deliver(t, root, p.Dir, "x\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "a/b/new", w.Name)); err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"a/b/maildirfolder", "a/cur", "a/new", "a/tmp", ".a.b"} {
		if _, err := os.Lstat(filepath.Join(root, absent)); !os.IsNotExist(err) {
			t.Errorf("%s exists: %v", absent, err)
		}
	}
	for _, present := range []string{"a/b/cur", "a/b/tmp"} {
		if st, err := os.Stat(filepath.Join(root, present)); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v", present, st, err)
		}
	}
	// Delivering again does not report a creation.
	d, _ := Open(root, os.Geteuid())
	defer d.Close()
	f, err := d.Folder(p.Dir, true)
	if err != nil || f.Created() {
		t.Fatalf("second open: created %v, %v", f != nil && f.Created(), err)
	}
	f.Close()
	// A symlink at an intermediate level is refused.
	os.Symlink("/tmp", filepath.Join(root, "evil"))
	if _, err := d.Folder("evil/x", true); err == nil {
		t.Error("folder below a symlink opened")
	}
}

func TestFolderCreated(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	d, err := Open(root, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i, want := range []bool{true, false} {
		f, err := d.Folder(".Lists", true)
		if err != nil {
			t.Fatal(err)
		}
		if f.Created() != want {
			t.Errorf("open %d: Created = %v", i, f.Created())
		}
		f.Close()
	}
	if f, _ := d.Folder("", true); f.Created() {
		t.Error("INBOX reported as created")
	}
}

// INBOX= puts the INBOX elsewhere; folders stay under the root.
func TestUseInbox(t *testing.T) {
	base := t.TempDir()
	root, inbox := filepath.Join(base, "Maildir"), filepath.Join(base, "spool", "bob")
	d, err := Open(root, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.UseInbox(inbox, ""); err != nil {
		t.Fatal(err)
	}
	f, err := d.Folder("", true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.base.Name() != inbox {
		t.Errorf("INBOX at %s, want %s", f.base.Name(), inbox)
	}
	if _, err := os.Stat(filepath.Join(inbox, "new")); err != nil {
		t.Error(err)
	}
	g, err := d.Folder(".Sent", true)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if _, err := os.Stat(filepath.Join(root, ".Sent", "new")); err != nil {
		t.Error(err)
	}
	if err := d.UseInbox("relative/x", ""); err == nil {
		t.Error("relative INBOX= accepted")
	}
}

// The bytes are those Dovecot 2.3.19 writes for the same folders
// (doveadm mailbox create -s, recorded in the package doc's example).
func TestSubscribeFormat(t *testing.T) {
	for _, tc := range []struct {
		n     Naming
		names []string
		want  string
	}{
		{Naming{}, []string{"Straße", "x.y", "R&D"}, "V\t2\n\nStra&AN8-e\nx\ty\nR&-D\n"},
		{Naming{Layout: FS}, []string{"a/b", "Straße", "x.y", "R&D"}, "V\t2\n\na\tb\nStra&AN8-e\nx.y\nR&-D\n"},
		{Naming{UTF8: true}, []string{"Straße", "x.y"}, "V\t2\n\nStraße\nx\ty\n"},
		{Naming{}, []string{"Spam", "Spam", "INBOX"}, "V\t2\n\nSpam\n"},
		// Names relative to the namespace, as doveadm/dovecot-lda write
		// them with prefix "INBOX.": .inbox is subscribed as "INBOX".
		{Naming{Prefix: "INBOX."}, []string{"INBOX.Junk", "INBOX.a.b", "INBOX.inbox", "INBOX.INBOX.x"}, "V\t2\n\nJunk\na\tb\nINBOX\nINBOX\tx\n"},
	} {
		root := filepath.Join(t.TempDir(), "Maildir")
		d, err := Open(root, os.Geteuid())
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range tc.names {
			p, ok := tc.n.FolderPath(name)
			if !ok {
				t.Fatalf("FolderPath(%q) refused", name)
			}
			if err := d.Subscribe(Subscriptions{}, tc.n, p); err != nil {
				t.Fatal(err)
			}
		}
		d.Close()
		got, err := os.ReadFile(filepath.Join(root, "subscriptions"))
		if err != nil || string(got) != tc.want {
			t.Errorf("%+v %q: subscriptions %q, %v; want %q", tc.n, tc.names, got, err, tc.want)
		}
		st, _ := os.Stat(filepath.Join(root, "subscriptions"))
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", st.Mode())
		}
		if _, err := os.Stat(filepath.Join(root, "subscriptions.lock")); !os.IsNotExist(err) {
			t.Errorf("lock left behind: %v", err)
		}
	}
}

// A version 1 file (no header: an old Dovecot, Courier) keeps its format;
// CONTROL= and SUBSCRIPTIONS= move the file.
func TestSubscribeV1AndControl(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	d, err := Open(root, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	os.WriteFile(filepath.Join(root, "subscriptions"), []byte("Trash\nLists.go"), 0o600)
	p, _ := Naming{}.FolderPath("a.b")
	if err := d.Subscribe(Subscriptions{}, Naming{}, p); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "subscriptions")); string(got) != "Trash\nLists.go\na.b\n" {
		t.Errorf("v1: %q", got)
	}
	ctl := filepath.Join(filepath.Dir(root), "control")
	if err := d.Subscribe(Subscriptions{Dir: ctl, File: "subs"}, Naming{}, p); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(ctl, "subs")); string(got) != "V\t2\n\na\tb\n" {
		t.Errorf("control: %q", got)
	}
	if err := d.Subscribe(Subscriptions{File: "../x"}, Naming{}, p); err == nil {
		t.Error("subscriptions file name with / accepted")
	}
}

// Concurrent deliveries creating folders lose no entry; a stale lock (a
// crashed writer) is broken.
func TestSubscribeConcurrent(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	d, err := Open(root, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stale := filepath.Join(root, "subscriptions.lock")
	os.WriteFile(stale, []byte("half"), 0o600)
	old := timeAgo(2 * subsStaleAfter)
	os.Chtimes(stale, old, old)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, _ := Naming{}.FolderPath(fmt.Sprintf("f%02d", i))
			errs <- d.Subscribe(Subscriptions{}, Naming{}, p)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(filepath.Join(root, "subscriptions"))
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(string(got), "V\t2\n\n"), "\n"), "\n")
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	for i := range n {
		if !seen[fmt.Sprintf("f%02d", i)] {
			t.Errorf("f%02d lost; file:\n%s", i, got)
		}
	}
	if len(lines) != n {
		t.Errorf("%d lines, want %d", len(lines), n)
	}
}

func timeAgo(d time.Duration) time.Time { return time.Now().Add(-d) }
