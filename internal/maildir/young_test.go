package maildir

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func setYoungWindow(t *testing.T, w time.Duration) {
	t.Helper()
	old := youngWindow
	youngWindow = w
	t.Cleanup(func() { youngWindow = old })
}

// putRecorded delivers content into the INBOX of the mailbox at root
// (home the user's directory) and returns the syncs it made.
func putRecorded(t *testing.T, root, home, content string) *syncRecorder {
	t.Helper()
	f := openInbox(t, root, home)
	rec := &syncRecorder{newDir: filepath.Join(root, "new")}
	if _, err := put(f, NewNamer("mx"), "", time.Time{}, rec, content); err != nil {
		t.Fatal(err)
	}
	return rec
}

// openInbox opens (creating) the mailbox at root and its INBOX, closed
// at the test's end.
func openInbox(t *testing.T, root, home string) *Folder {
	t.Helper()
	d, err := OpenOwn(root, home, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	f, err := d.Folder("", true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestHeldCreator is not a test: TestYoungMailboxOtherProcess runs the
// test binary with it as another process that creates a mailbox, writes
// and fsyncs its message, says "held" and waits for its stdin to close
// before it would commit: a creator between its mkdirs and the commit
// that syncs their parents.
func TestHeldCreator(t *testing.T) {
	root, home := os.Getenv("MAILDIR_HELD_ROOT"), os.Getenv("MAILDIR_HELD_HOME")
	if root == "" {
		t.Skip("run by TestYoungMailboxOtherProcess")
	}
	dr, err := openInbox(t, root, home).Create(NewNamer("creator"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(dr, "Subject: first\n\nbody\n")
	if _, err := dr.Finish(time.Time{}); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("held\n")
	io.Copy(io.Discard, os.Stdin)
	// never commits: as if killed, or still receiving its message
	os.Exit(0)
}

// TestYoungMailboxOtherProcess: another process has created a mailbox
// and not yet synced its directories (it holds them for its own
// message's commit). A delivery here into that mailbox must not be
// acknowledged before the parents of those directories are fsynced:
// this process's registry does not know them, the young-mailbox rule
// (young.go) does.
func TestYoungMailboxOtherProcess(t *testing.T) {
	mails, home, root := newMailboxPaths(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHeldCreator$")
	cmd.Env = append(os.Environ(), "MAILDIR_HELD_ROOT="+root, "MAILDIR_HELD_HOME="+home)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "held\n" {
		t.Fatalf("creator: %q, %v", line, err)
	}

	rec := putRecorded(t, root, home, "Subject: second\n\nbody\n")
	// the creator made u1 in mails, Maildir in u1, cur new tmp in Maildir
	for _, w := range []string{mails, home, root} {
		i := slices.Index(rec.synced, w)
		if i < 0 {
			t.Errorf("acknowledged without an fsync of %s, whose new entry another process has not synced (synced %q)", w, rec.synced)
		} else if rec.visible[i] {
			t.Errorf("%s synced after the message was in new/", w)
		}
	}
	if last := rec.synced[len(rec.synced)-1]; last != rec.newDir {
		t.Errorf("last sync %s, want new/", last)
	}
}

// TestOldMailboxNoExtraSync: a mailbox older than the window costs
// nothing more than new/'s fsync.
func TestOldMailboxNoExtraSync(t *testing.T) {
	_, home, root := newMailboxPaths(t)
	if _, err := deliver(t, root, "", "Subject: x\n\nb\n"); err != nil {
		t.Fatal(err)
	}
	setYoungWindow(t, 0) // everything is old now
	rec := putRecorded(t, root, home, "Subject: y\n\nb\n")
	if !slices.Equal(rec.synced, []string{rec.newDir}) {
		t.Errorf("synced %q, want only new/", rec.synced)
	}
}

// TestCreatorSyncBound: a creator whose commit does not come syncs what
// it created within creatorSyncBound anyway, the bound the young rule's
// window relies on.
func TestCreatorSyncBound(t *testing.T) {
	old := creatorSyncBound
	creatorSyncBound = time.Millisecond
	defer func() { creatorSyncBound = old }()
	_, home, root := newMailboxPaths(t)
	openInbox(t, root, home)
	// not a timing assertion: wait (up to a generous deadline) for the
	// timer's syncs, which no commit and no Close have triggered
	for deadline := time.Now().Add(20 * time.Second); countUnsynced() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d created directories still unsynced with no commit", countUnsynced())
		}
	}
}

// BenchmarkDeliverYoung is one delivery as a deliver process makes it
// (OpenOwn, Folder, one 4 KB message, Close) into a mailbox that exists:
// "young" just created (the young rule fsyncs the directories above new/
// as long as they are young: Maildir/, u1/, mails/), "old" with the window
// at zero, as every mailbox older than 10 minutes. Here every directory
// up to / is young (or has no birth time), so the young chain is longer
// than a site's, where it stops below the domain's directory: compare
// per directory fsync (dirfsyncs/op). The process's record
// of its own directory fsyncs is cleared each time: separate deliver
// processes have none. IT MEASURES THE DISK.
func BenchmarkDeliverYoung(b *testing.B) {
	for _, tc := range []struct {
		name   string
		window time.Duration
	}{{"young", youngWindow}, {"old", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			old := youngWindow
			youngWindow = tc.window
			defer func() { youngWindow = old }()
			mails := filepath.Join(b.TempDir(), "d.example", "mails")
			home := filepath.Join(mails, "u1")
			root := filepath.Join(home, "Maildir")
			if err := os.MkdirAll(mails, 0o700); err != nil {
				b.Fatal(err)
			}
			body := "Subject: b\n\n" + strings.Repeat("x", 4096) + "\n"
			namer := NewNamer("mx.example.org")
			syncs, took := 0, time.Duration(0)
			count := syncFunc(func(d *os.File) error {
				start := time.Now()
				err := d.Sync()
				syncs, took = syncs+1, took+time.Since(start)
				return err
			})
			for b.Loop() {
				dirSyncedAt.Clear()
				d, err := OpenOwn(root, home, os.Geteuid())
				if err != nil {
					b.Fatal(err)
				}
				f, err := d.Folder("", true)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := put(f, namer, "", time.Time{}, count, body); err != nil {
					b.Fatal(err)
				}
				f.Close()
				d.Close()
			}
			b.ReportMetric(float64(syncs)/float64(b.N), "dirfsyncs/op")
			b.ReportMetric(float64(took.Microseconds())/float64(syncs), "µs/dirfsync")
		})
	}
}
