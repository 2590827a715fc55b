package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDoubleFault is issue 17 item 6: fsync of new/ fails with EIO after
// the message was renamed there, and taking it back out fails too. The
// faults are injected into the real binary with strace(1) (-e inject=),
// faults the machine cannot cause on demand. -P limits the injection to
// system calls on new/ (strace counts calls per thread, and Go moves
// goroutines between threads, so "the second fsync" would not be stable):
// the message file's own fsync and everything in tmp/ work.
func TestDoubleFault(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatal("strace(1) is needed (scripts/install-deps.sh installs it)")
	}
	for _, tc := range []struct {
		name   string
		inject []string
		// where the undelivered file may be: in new/ only when every
		// removal failed, and then the log must name it.
		inNew, inTmp int
	}{
		// The unlink fails once: it is retried.
		{"unlink fails once", []string{"unlinkat:error=EIO:when=1"}, 0, 0},
		// Every unlink in new/ fails: the file is renamed back to tmp/
		// and removed there.
		{"unlink always fails", []string{"unlinkat:error=EIO"}, 0, 0},
		// Nothing can take it out of new/ (renameat2 "missing": the
		// message went in by link(2), and cannot be renamed back):
		// failure reported, the file named in the log.
		{"unlink and rename fail", []string{"unlinkat:error=EIO", "renameat2:error=ENOSYS"}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := sqliteEnv(t, "")
			md := filepath.Join(e.dir, "home/domain.org/mails/user/Maildir")
			checkOutcome(t, e.deliver(testMsg, "-f", "a@b", "-d", "user@domain.org"), 0, "")
			first := filepath.Base(onlyFile(t, filepath.Join(md, "new")))
			args := []string{"-f", "-qq", "-o", os.DevNull, "-P", filepath.Join(md, "new"), "-e", "inject=fsync:error=EIO"}
			for _, in := range tc.inject {
				args = append(args, "-e", "inject="+in)
			}
			args = append(args, binary, "-c", e.conf, "-f", "a@b", "-d", "user@domain.org")
			r := runDeliver(t, "strace", nil, nil, testMsg, args...)
			checkOutcome(t, r, 75, "4.3.0 ")
			news := others(t, filepath.Join(md, "new"), first)
			if len(news) != tc.inNew {
				t.Errorf("new/ holds %d undelivered files, want %d: %v", len(news), tc.inNew, news)
			}
			if tmps := others(t, filepath.Join(md, "tmp"), ""); len(tmps) != tc.inTmp {
				t.Errorf("tmp/ holds %d files, want %d: %v", len(tmps), tc.inTmp, tmps)
			}
			log, _ := os.ReadFile(e.log)
			for _, n := range news {
				if !strings.Contains(string(log), "left in new/: new/"+n) {
					t.Errorf("the log does not name the file left in new/ (%s):\n%s", n, log)
				}
			}
			// The fault is over: the retry delivers, once.
			checkOutcome(t, e.deliver(testMsg, "-f", "a@b", "-d", "user@domain.org"), 0, "")
			if got := len(others(t, filepath.Join(md, "new"), first)); got != 1+tc.inNew {
				t.Errorf("after the retry new/ holds %d more files, want %d", got, 1+tc.inNew)
			}
		})
	}
}

// others lists dir's entries but skip.
func others(t *testing.T, dir, skip string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.Name() != skip {
			names = append(names, e.Name())
		}
	}
	return names
}
