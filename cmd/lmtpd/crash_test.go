package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCrashKeepsAcknowledged kills lmtpd with SIGKILL in the middle of
// concurrent deliveries (group-committed new/ fsyncs in full use) and then
// checks that every message it answered 250 for is in new/, complete, once,
// and that new/ holds nothing incomplete. (A kill is the crash a test can
// cause for real; that the 250 also waits for the fsync of new/ is
// TestGroupSyncCovers' proof in package maildir.)
func TestCrashKeepsAcknowledged(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "lmtp.sock")
	cfg, maildir := setup(t, fmt.Sprintf("%q", "unix:"+sock), "")
	d := startDaemon(t, exec.Command(os.Args[0], "-c", cfg))
	d.waitState("READY=1")

	const workers = 8
	body := func(w, i int) string {
		return strings.Repeat(fmt.Sprintf("worker %d message %d\n", w, i), 40)
	}
	var acked sync.Map // subject -> true
	var nacked atomic.Int64
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			r := bufio.NewReader(c)
			readReply := func() (string, error) {
				for {
					l, err := r.ReadString('\n')
					if err != nil || len(l) < 4 || l[3] == ' ' {
						return l, err
					}
				}
			}
			if _, err := fmt.Fprint(c, "LHLO crash\r\n"); err != nil {
				return
			}
			if _, err := readReply(); err != nil { // greeting
				return
			}
			if _, err := readReply(); err != nil { // LHLO
				return
			}
			for i := 0; ; i++ {
				subj := fmt.Sprintf("%d-%d", w, i)
				msg := "Subject: " + subj + "\r\n\r\n" + strings.ReplaceAll(body(w, i), "\n", "\r\n") + ".\r\n"
				if _, err := fmt.Fprintf(c, "MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n%s", msg); err != nil {
					return
				}
				for k := 0; k < 3; k++ { // MAIL, RCPT, DATA 354
					if _, err := readReply(); err != nil {
						return
					}
				}
				l, err := readReply()
				if err != nil {
					return
				}
				if strings.HasPrefix(l, "250 ") {
					acked.Store(subj, true)
					if nacked.Add(1) >= 400 {
						once.Do(func() { close(enough) })
					}
				}
			}
		}(w)
	}
	select {
	case <-enough:
	case <-time.After(ioTimeout):
		t.Fatal("too few deliveries before the deadline")
	}
	d.cmd.Process.Kill() // no chance to clean up anything
	wg.Wait()

	ents, err := os.ReadDir(filepath.Join(maildir, "new"))
	if err != nil {
		t.Fatal(err)
	}
	inNew := map[string]bool{}
	for _, en := range ents {
		data, err := os.ReadFile(filepath.Join(maildir, "new", en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		i := strings.Index(s, "\nSubject: ")
		if !strings.HasPrefix(s, "Return-Path: <s@example.net>\nDelivered-To: alice@domain.org\n") || i < 0 {
			t.Fatalf("%s: incomplete headers", en.Name())
		}
		var w, n int
		subj := strings.SplitN(s[i+len("\nSubject: "):], "\n", 2)[0]
		if _, err := fmt.Sscanf(subj, "%d-%d", &w, &n); err != nil {
			t.Fatalf("%s: subject %q", en.Name(), subj)
		}
		if !strings.HasSuffix(s, "\nSubject: "+subj+"\n\n"+body(w, n)) {
			t.Fatalf("%s: incomplete message in new/", en.Name())
		}
		if inNew[subj] {
			t.Fatalf("message %s twice in new/", subj)
		}
		inNew[subj] = true
	}
	lost := 0
	acked.Range(func(k, _ any) bool {
		if !inNew[k.(string)] {
			lost++
		}
		return true
	})
	t.Logf("%d acknowledged, %d files in new/ after SIGKILL", nacked.Load(), len(ents))
	if lost > 0 {
		t.Fatalf("%d acknowledged messages missing from new/", lost)
	}
}
