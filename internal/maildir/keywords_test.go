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

func openFolder(t *testing.T, root, folder string) *Folder {
	t.Helper()
	d, err := Open(root, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	f, err := d.Folder(folder, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// The file and letters are what dovecot-lda 2.3.19 + Pigeonhole wrote for
// the same keywords (see keywords.go): new ones appended in order, an
// existing one matched case-insensitively, letters sorted; the lowest free
// index is reused; past 26 and invalid names are dropped; no lock left.
func TestKeywordLetters(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	f := openFolder(t, root, "")
	file := filepath.Join(root, KeywordsFile)
	for _, tc := range []struct {
		keywords []string
		letters  string
		dropped  []string
		content  string
	}{
		{[]string{"$Label2", "Junk", "$label1"}, "abc", nil, "0 $Label2\n1 Junk\n2 $label1\n"},
		{[]string{"$LABEL1", "K3", "$label2"}, "acd", nil, "0 $Label2\n1 Junk\n2 $label1\n3 K3\n"},
		{[]string{"bad word", "new\nline", `\Seen`, "Junk"}, "b", []string{"bad word", "new\nline", `\Seen`}, "0 $Label2\n1 Junk\n2 $label1\n3 K3\n"},
	} {
		letters, dropped, err := f.KeywordLetters(tc.keywords, 0o600)
		if err != nil || letters != tc.letters || fmt.Sprint(dropped) != fmt.Sprint(tc.dropped) {
			t.Errorf("%q: letters %q dropped %q err %v; want %q %q", tc.keywords, letters, dropped, err, tc.letters, tc.dropped)
		}
		if got, _ := os.ReadFile(file); string(got) != tc.content {
			t.Errorf("%q: %s = %q, want %q", tc.keywords, KeywordsFile, got, tc.content)
		}
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode: %v %v", st, err)
	}
	for _, lock := range []string{uidlistLock, KeywordsFile + ".lock"} {
		if _, err := os.Stat(filepath.Join(root, lock)); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", lock, err)
		}
	}

	// A hole (Dovecot skips lines it cannot read) is filled first; the
	// 26 letters then run out.
	os.WriteFile(file, []byte("0 A\nbroken\n2 C\n99 Z\n"), 0o600)
	var many []string
	for i := 0; i < 30; i++ {
		many = append(many, fmt.Sprintf("kw%02d", i))
	}
	letters, dropped, err := f.KeywordLetters(append([]string{"B"}, many...), 0o600)
	if err != nil || letters != "bdefghijklmnopqrstuvwxyz" || len(dropped) != 7 || dropped[0] != "kw23" {
		t.Errorf("full: letters %q dropped %q err %v", letters, dropped, err)
	}
	got, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(got), "0 A\n1 B\n2 C\n3 kw00\n") || !strings.HasSuffix(string(got), "25 kw22\n") {
		t.Errorf("full: %q", got)
	}
}

// Dovecot rereads dovecot-keywords only when its mtime (seconds) changed:
// a change within the same second must still move it forward.
func TestKeywordsMtimeGrows(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	f := openFolder(t, root, ".Work")
	file := filepath.Join(root, ".Work", KeywordsFile)
	if _, _, err := f.KeywordLetters([]string{"one"}, 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour).Truncate(time.Second)
	os.Chtimes(file, future, future)
	if _, _, err := f.KeywordLetters([]string{"two"}, 0o600); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(file)
	if !st.ModTime().After(future) {
		t.Errorf("mtime %v not after the previous %v", st.ModTime(), future)
	}
}

// Concurrent deliveries adding keywords (each its own, and all one shared)
// lose none and never give two keywords one letter: they serialise on
// Dovecot's dovecot-uidlist.lock. A live lock is waited for; a stale one
// (older than Dovecot's 120 s) is broken.
func TestKeywordsConcurrent(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	openFolder(t, root, "")
	const n = 20
	letters := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := addKeywords(root, fmt.Sprintf("own%d", i), "Shared") // each delivery opens its own
			if err != nil {
				t.Error(err)
			}
			letters[i] = l
		}()
	}
	wg.Wait()
	names := parseKeywords(mustRead(t, filepath.Join(root, KeywordsFile)))
	count := 0
	for _, n := range names {
		if n != "" {
			count++
		}
	}
	if count != n+1 {
		t.Fatalf("%d keywords in the file, want %d: %q", count, n+1, names)
	}
	shared := keywordIndex(names, "Shared")
	for i, l := range letters {
		own := keywordIndex(names, fmt.Sprintf("own%d", i))
		want := []byte{byte('a' + min(own, shared)), byte('a' + max(own, shared))}
		if own < 0 || l != string(want) {
			t.Errorf("delivery %d: letters %q, file %q", i, l, names)
		}
	}

	// A live lock held by someone else: we wait for it.
	lock := filepath.Join(root, uidlistLock)
	os.WriteFile(lock, []byte("1:otherhost"), 0o600)
	done := make(chan error, 1)
	go func() {
		_, err := addKeywords(root, "late")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("did not wait for the lock: %v", err)
	case <-time.After(200 * time.Millisecond): // not a timing assertion: it must still wait after any delay
	}
	os.Remove(lock)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A stale one is broken.
	os.WriteFile(lock, nil, 0o600)
	old := time.Now().Add(-3 * time.Minute)
	os.Chtimes(lock, old, old)
	if _, _, err := openFolder(t, root, "").KeywordLetters([]string{"later"}, 0o600); err != nil {
		t.Fatal(err)
	}
	if keywordIndex(parseKeywords(mustRead(t, filepath.Join(root, KeywordsFile))), "later") < 0 {
		t.Fatal("keyword after a stale lock missing")
	}
}

// addKeywords is one delivery's KeywordLetters on root's INBOX.
func addKeywords(root string, keywords ...string) (string, error) {
	d, err := Open(root, os.Geteuid())
	if err != nil {
		return "", err
	}
	defer d.Close()
	f, err := d.Folder("", false)
	if err != nil {
		return "", err
	}
	defer f.Close()
	l, _, err := f.KeywordLetters(keywords, 0o600)
	return l, err
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
