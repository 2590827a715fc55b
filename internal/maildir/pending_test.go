package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// syncRecorder is a Syncer that records the directories it fsyncs and
// whether the message was already in new/ at that moment.
type syncRecorder struct {
	mu      sync.Mutex
	newDir  string
	synced  []string
	visible []bool // a file in newDir when the sync ran
}

func (r *syncRecorder) Sync(d *os.File) error {
	ents, _ := os.ReadDir(r.newDir)
	r.mu.Lock()
	r.synced = append(r.synced, d.Name())
	r.visible = append(r.visible, len(ents) > 0)
	r.mu.Unlock()
	return d.Sync()
}

// TestNewMailboxSyncedBeforeVisible: the first delivery into a mailbox
// that does not exist fsyncs the parent of every directory it created,
// and does so before the message appears in new/; new/ itself last.
func TestNewMailboxSyncedBeforeVisible(t *testing.T) {
	setYoungWindow(t, 0) // the syncs of this process only: see young_test.go
	mails, home, root := newMailboxPaths(t)
	rec := putRecorded(t, root, home, "Subject: x\n\nbody\n")
	// mails (u1 made in it), u1 (Maildir), Maildir (cur new tmp), then new/
	want := []string{mails, home, root, rec.newDir}
	if len(rec.synced) != len(want) {
		t.Fatalf("synced %q, want %q", rec.synced, want)
	}
	for _, w := range want[:3] {
		i := slices.Index(rec.synced, w)
		if i < 0 || i == len(rec.synced)-1 {
			t.Errorf("%s not synced before new/: %q", w, rec.synced)
		} else if rec.visible[i] {
			t.Errorf("%s synced after the message was in new/", w)
		}
	}
	if last := rec.synced[len(rec.synced)-1]; last != rec.newDir {
		t.Errorf("last sync %s, want new/", last)
	}
	if n := countUnsynced(); n != 0 {
		t.Errorf("%d directories left registered after the commit", n)
	}
}

// TestSecondDeliveryTakesCreatorsSyncs: a second Dir that finds the new
// mailbox made by another (not yet committed) Dir of this process must
// not be acknowledged before the creator's directories are durable: its
// commit syncs them.
func TestSecondDeliveryTakesCreatorsSyncs(t *testing.T) {
	setYoungWindow(t, 0) // the syncs of this process only: see young_test.go
	mails, home, root := newMailboxPaths(t)
	creator, err := OpenOwn(root, home, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	cf, err := creator.Folder("", true) // makes cur new tmp
	if err != nil {
		t.Fatal(err)
	}
	second, err := OpenOwn(root, home, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	sf, err := second.Folder("", true)
	if err != nil {
		t.Fatal(err)
	}
	rec := &syncRecorder{newDir: filepath.Join(root, "new")}
	if _, err := put(sf, NewNamer("mx"), "", time.Time{}, rec, "Subject: y\n\nbody\n"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{mails, home, root} {
		if !slices.Contains(rec.synced, w) {
			t.Errorf("second delivery acknowledged without syncing %s (synced %q)", w, rec.synced)
		}
	}
	sf.Close()
	second.Close()
	// the creator's own commit finds them done: only its new/
	rec2 := &syncRecorder{newDir: filepath.Join(root, "new")}
	if _, err := put(cf, NewNamer("mx"), "", time.Time{}, rec2, "Subject: z\n\nbody\n"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec2.synced, []string{rec2.newDir}) {
		t.Errorf("creator synced %q after the second delivery did, want only new/", rec2.synced)
	}
	cf.Close()
	creator.Close()
	if n := countUnsynced(); n != 0 {
		t.Errorf("%d directories left registered", n)
	}
}

// TestCreatedDirSyncFailure: a failing fsync of a created directory fails
// the delivery with nothing in new/ (Postfix retries), and the retry's
// commit syncs the directory again.
func TestCreatedDirSyncFailure(t *testing.T) {
	home := filepath.Join(t.TempDir(), "u3")
	root := filepath.Join(home, "Maildir")
	d, err := OpenOwn(root, home, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.Folder("", true)
	if err != nil {
		t.Fatal(err)
	}
	eio := errors.New("injected EIO")
	fail := syncFunc(func(dir *os.File) error {
		if dir.Name() == home {
			return eio
		}
		return dir.Sync()
	})
	if _, err := put(f, NewNamer("mx"), "", time.Time{}, fail, "Subject: a\n\nb\n"); !errors.Is(err, eio) {
		t.Fatalf("err = %v, want the injected one", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "new")); len(ents) != 0 {
		t.Fatalf("%d files in new/ after a failed directory sync", len(ents))
	}
	rec := &syncRecorder{newDir: filepath.Join(root, "new")}
	if _, err := put(f, NewNamer("mx"), "", time.Time{}, rec, "Subject: a\n\nb\n"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rec.synced, home) {
		t.Errorf("the retry did not sync %s: %q", home, rec.synced)
	}
	f.Close()
	d.Close()
	if n := countUnsynced(); n != 0 {
		t.Errorf("%d directories left registered", n)
	}
}

// newMailboxPaths makes a domain's mails/ and returns it with the home and
// maildir of a user below it that do not exist yet.
func newMailboxPaths(t *testing.T) (mails, home, root string) {
	t.Helper()
	mails = filepath.Join(t.TempDir(), "d.example", "mails")
	if err := os.MkdirAll(mails, 0o700); err != nil {
		t.Fatal(err)
	}
	home = filepath.Join(mails, "u1")
	return mails, home, filepath.Join(home, "Maildir")
}

func countUnsynced() int {
	n := 0
	unsyncedDirs.Range(func(any, any) bool { n++; return true })
	return n
}
