package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestYoungMailboxTwoDelivers: two deliver processes for the same new
// user, as Postfix's pipe(8) runs them in parallel. The first creates the
// mailbox and then waits for the rest of its message on stdin: it owes
// the fsyncs of the directories it created until its commit. The second
// finds the mailbox there and must fsync those directories' parents
// itself before its message reaches new/ (and so before its exit 0): else
// a power cut could take the mailbox, with an acknowledged message in it.
// Watched through strace (fsync and the rename, with the descriptors'
// paths); deliver's young-mailbox rule is internal/maildir/young.go.
func TestYoungMailboxTwoDelivers(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatal("strace is needed (scripts/install-deps.sh installs it)")
	}
	e, vmail := parentsEnv(t, 0o2770)
	const rcpt = "u0@new.example"
	root := filepath.Join(vmail, "new.example", "u0", "Maildir")

	creator := exec.Command(binary, "-c", e.conf, "-f", "s@example.net", "-d", rcpt)
	in, err := creator.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var cout bytes.Buffer
	creator.Stdout, creator.Stderr = &cout, &cout
	if err := creator.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		in.Close()
		creator.Wait()
	}()
	head, rest, _ := strings.Cut(testMsg, "Body line 1")
	io.WriteString(in, head+"Body line 1")
	// the creator has read the header and made the mailbox; not a timing
	// assertion, a wait (with a generous deadline) for that state
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first deliver made no tmp/ file in 30 s: %s\nlog:\n%s", cout.String(), readLog(e))
		}
	}

	trace := filepath.Join(t.TempDir(), "strace")
	r := runDeliver(t, "strace", nil, nil, testMsg, "-f", "-qq", "-y", "-o", trace,
		"-e", "trace=fsync,rename,renameat,renameat2,link,linkat", binary, "-c", e.conf, "-f", "s@example.net", "-d", rcpt)
	if r.code != 0 {
		t.Fatalf("second deliver: exit %d: %s\nlog:\n%s", r.code, r.out, readLog(e))
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	// fsync(5</path>) = 0; renameat2(7</path/tmp>, "...", 8</path/new>, ...)
	fsyncRE := regexp.MustCompile(`fsync\(\d+<([^>]*)>\) += 0`)
	var synced []string
	delivered := false
	for _, line := range strings.Split(string(b), "\n") {
		if m := fsyncRE.FindStringSubmatch(line); m != nil {
			synced = append(synced, m[1])
		}
		if strings.Contains(line, "<"+filepath.Join(root, "new")+">") && strings.Contains(line, "rename") {
			delivered = true
			break
		}
	}
	if !delivered {
		t.Fatalf("no rename into new/ in the second deliver's trace:\n%s", b)
	}
	// the first deliver made new.example in vmail, u0 in it, Maildir in
	// u0, cur new tmp in Maildir
	for _, d := range []string{vmail, filepath.Join(vmail, "new.example"), filepath.Dir(root), root} {
		if !slices.Contains(synced, d) {
			t.Errorf("second deliver moved its message into new/ without an fsync of %s, which the first has not synced (fsyncs before the rename: %q)", d, synced)
		}
	}

	io.WriteString(in, rest)
	in.Close()
	if err := creator.Wait(); err != nil {
		t.Fatalf("first deliver: %v: %s\nlog:\n%s", err, cout.String(), readLog(e))
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "new")); len(ents) != 2 {
		t.Errorf("%d messages in new/, want 2", len(ents))
	}
}
