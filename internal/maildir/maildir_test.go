package maildir

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var nameRE = regexp.MustCompile(`^(\d+)\.M(\d+)P(\d+)Q(\d+)R([0-9a-f]{8})\.([^/:]+),S=(\d+)$`)

func deliver(t *testing.T, root, folder, content string) (Written, error) {
	t.Helper()
	d, err := Open(root, os.Geteuid())
	if err != nil {
		return Written{}, err
	}
	defer d.Close()
	f, err := d.Folder(folder, true)
	if err != nil {
		return Written{}, err
	}
	defer f.Close()
	return put(f, NewNamer("host/with:odd"), "", time.Time{}, FsyncDir, content)
}

// put writes content into f in the two phases a delivery uses.
func put(f *Folder, n *Namer, info string, mtime time.Time, sync Syncer, content string) (Written, error) {
	d, err := f.Create(n, 0o600)
	if err != nil {
		return Written{}, err
	}
	defer d.Abort()
	if _, err := io.WriteString(d, content); err != nil {
		return Written{}, err
	}
	if _, err := d.Finish(mtime); err != nil {
		return Written{}, err
	}
	return d.Commit(info, sync)
}

type syncFunc func(*os.File) error

func (s syncFunc) Sync(d *os.File) error { return s(d) }

func TestDeliverInbox(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b", "Maildir")
	w, err := deliver(t, root, "", "Subject: x\n\nhello\n")
	if err != nil {
		t.Fatal(err)
	}
	m := nameRE.FindStringSubmatch(w.Name)
	if m == nil {
		t.Fatalf("name %q does not match the Dovecot scheme", w.Name)
	}
	if m[6] != `host\057with\072odd` {
		t.Errorf("host part %q not escaped", m[6])
	}
	if m[7] != "18" || w.Size != 18 {
		t.Errorf("size %s / %d, want 18", m[7], w.Size)
	}
	st, err := os.Lstat(filepath.Join(root, "new", w.Name))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != 18 {
		t.Errorf("mode %v size %d", st.Mode(), st.Size())
	}
	for _, d := range []string{"", "cur", "new", "tmp", ".."} {
		st, err := os.Stat(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v, want 0700", d, st.Mode().Perm())
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Errorf("tmp not empty: %v", ents)
	}
}

func TestDeliverFolderCreated(t *testing.T) {
	root := t.TempDir()
	dir, ok := FolderDir("Lists.go")
	if !ok || dir != ".Lists.go" {
		t.Fatalf("FolderDir = %q, %v", dir, ok)
	}
	w, err := deliver(t, root, dir, "x\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, dir, "new", w.Name)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, dir, "maildirfolder")); err != nil {
		t.Error("maildirfolder missing:", err)
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if _, err := os.Stat(filepath.Join(root, dir, sub)); err != nil {
			t.Error(err)
		}
	}
}

func TestFolderMissingNoCreate(t *testing.T) {
	d, err := Open(t.TempDir(), os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Folder(".Nope", false); !errors.Is(err, ErrNoFolder) {
		t.Fatalf("err = %v, want ErrNoFolder", err)
	}
}

func TestSymlinksRefused(t *testing.T) {
	outside := t.TempDir()
	for _, tc := range []struct {
		name  string
		setup func(root string)
	}{
		{"new is a symlink", func(root string) {
			os.MkdirAll(filepath.Join(root, "tmp"), 0o700)
			os.MkdirAll(filepath.Join(root, "cur"), 0o700)
			os.Symlink(outside, filepath.Join(root, "new"))
		}},
		{"tmp is a symlink", func(root string) {
			os.MkdirAll(filepath.Join(root, "new"), 0o700)
			os.Symlink(outside, filepath.Join(root, "tmp"))
		}},
		{"cur is a symlink", func(root string) { // stat'ed only, opened for flags
			os.MkdirAll(filepath.Join(root, "tmp"), 0o700)
			os.MkdirAll(filepath.Join(root, "new"), 0o700)
			os.Symlink(outside, filepath.Join(root, "cur"))
		}},
		{"root is a symlink", func(root string) {
			os.Remove(root)
			os.Symlink(outside, root)
		}},
		{"folder is a symlink", func(root string) {
			os.Symlink(outside, filepath.Join(root, ".F"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "Maildir")
			os.Mkdir(root, 0o700)
			tc.setup(root)
			folder := ""
			if strings.Contains(tc.name, "folder") {
				folder = ".F"
			}
			_, err := deliver(t, root, folder, "x\n")
			if !errors.Is(err, ErrSymlink) {
				t.Fatalf("err = %v, want ErrSymlink", err)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Fatalf("wrote outside the mailbox: %v", ents)
			}
		})
	}
}

func TestOwnerMismatch(t *testing.T) {
	root := t.TempDir()
	if _, err := Open(root, os.Geteuid()+1); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("err = %v, want ErrNotOwner", err)
	}
}

func TestCheckAbortsAndCleansUp(t *testing.T) {
	root := t.TempDir()
	d, _ := Open(root, os.Geteuid())
	defer d.Close()
	f, err := d.Folder("", false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Refused between Finish and Commit (the quota): Abort.
	d1, err := f.Create(NewNamer("h"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(d1, "data")
	if size, err := d1.Finish(time.Time{}); err != nil || size != 4 {
		t.Fatalf("Finish = %d, %v", size, err)
	}
	d1.Abort()
	if _, err := d1.Commit("", FsyncDir); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	// Abandoned while writing (a read error): Abort.
	d2, err := f.Create(NewNamer("h"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Commit("", FsyncDir); err == nil {
		t.Fatal("Commit before Finish succeeded")
	}
	d2.Abort()
	_, err = put(f, NewNamer("h"), "", time.Time{}, syncFunc(func(*os.File) error { return syscall.EIO }), "")
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("err = %v", err)
	}
	for _, sub := range []string{"tmp", "new"} {
		if ents, _ := os.ReadDir(filepath.Join(root, sub)); len(ents) != 0 {
			t.Errorf("%s not empty after failures: %v", sub, ents)
		}
	}
}

func TestNoOverwrite(t *testing.T) {
	root := t.TempDir()
	d, _ := Open(root, os.Geteuid())
	defer d.Close()
	f, err := d.Folder("", false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := NewNamer("h")
	base := "fixed"
	// A file already holds the name the rename would use.
	victim := filepath.Join(root, "new", WithSize(base, 3))
	os.WriteFile(victim, []byte("old"), 0o600)
	os.WriteFile(filepath.Join(root, "tmp", base), []byte("new"), 0o600)
	final, err := f.moveTo(f.new, n, base, 3, "")
	if err != nil {
		t.Fatal(err)
	}
	if final == WithSize(base, 3) {
		t.Fatal("reused the taken name")
	}
	if b, _ := os.ReadFile(victim); string(b) != "old" {
		t.Fatalf("existing file overwritten: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "new", final)); string(b) != "new" {
		t.Fatalf("moved file content %q", b)
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"relative/Maildir", "/home/../etc", "/home/x/..", ""} {
		if err := CheckPath(p); !errors.Is(err, ErrBadPath) {
			t.Errorf("CheckPath(%q) = %v, want ErrBadPath", p, err)
		}
	}
	if err := CheckPath("/home/x..y/Maildir"); err != nil {
		t.Errorf("x..y is a fine component: %v", err)
	}
}

func TestFolderDir(t *testing.T) {
	long := strings.Repeat("a", 255)
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"INBOX", "", true},
		{"inbox", "", true},
		{"Spam", ".Spam", true},
		{"Lists.go", ".Lists.go", true},
		{"a&b", ".a&-b", true},
		{"Entwürfe", ".Entw&APw-rfe", true},
		{"日本語", ".&ZeVnLIqe-", true},
		{"../../x", "", false},
		{"a/b", "", false},
		{"a//b", "", false},
		{"a/", "", false},
		{".hidden", "", false},
		{"a..b", "", false},
		{"trail.", "", false},
		{"nul\x00x", "", false},
		{"tab\tx", "", false},
		{"\xff\xfe", "", false},
		{long, "", false},
		{long[:254], "." + long[:254], true},
	} {
		got, ok := FolderDir(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("FolderDir(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNamesUnique(t *testing.T) {
	n := NewNamer("h")
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		s := n.Next()
		if seen[s] {
			t.Fatalf("duplicate name %s", s)
		}
		seen[s] = true
	}
}

func FuzzFolderDir(f *testing.F) {
	for _, s := range []string{"Spam", "a/b", "..", "Entwürfe", "a&b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		dir, ok := FolderDir(name)
		if !ok || dir == "" {
			return
		}
		if strings.ContainsAny(dir, "/\x00") || dir == "." || dir == ".." || strings.Contains(dir, "..") ||
			len(dir) > 255 || !strings.HasPrefix(dir, ".") {
			t.Fatalf("FolderDir(%q) = %q is not one safe component", name, dir)
		}
	})
}

// A message with an info goes to cur/ with ":2,FLAGS" after its size, and
// keeps the given mtime (Dovecot's received date for maildir).
func TestDeliverInfoAndMTime(t *testing.T) {
	root := t.TempDir()
	d, err := Open(root, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := d.Folder("", false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	w, err := put(f, NewNamer("h"), "2,FS", mtime, FsyncDir, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(w.Name, ",S=3:2,FS") {
		t.Fatalf("name %q", w.Name)
	}
	st, err := os.Stat(filepath.Join(root, "cur", w.Name))
	if err != nil {
		t.Fatal(err)
	}
	if !st.ModTime().Equal(mtime) {
		t.Fatalf("mtime %v, want %v", st.ModTime(), mtime)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "new")); len(ents) != 0 {
		t.Fatalf("new/ holds %d files", len(ents))
	}
}

func TestCheckInfo(t *testing.T) {
	for info, ok := range map[string]bool{
		"2,": true, "2,S": true, "2,DFRST": true, "2,Sa": true,
		"1,S": false, "2,SF": false, "2,SS": false, "2,S/": false, "2,S:": false, "S": false, "": false,
	} {
		if err := CheckInfo(info); (err == nil) != ok {
			t.Errorf("CheckInfo(%q) = %v", info, err)
		}
	}
	_, err := deliverInfo(t, "2,/x")
	if err == nil {
		t.Fatal("bad info accepted")
	}
}

func deliverInfo(t *testing.T, info string) (Written, error) {
	root := t.TempDir()
	d, err := Open(root, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := d.Folder("", false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return put(f, NewNamer("h"), info, time.Time{}, FsyncDir, "")
}
