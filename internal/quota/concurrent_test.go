package quota

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"maildeliver/internal/maildir"
)

const (
	helperEnv      = "MAILDELIVER_QUOTA_HELPER_MAILDIR"
	helperProcs    = 8
	helperCycles   = 300
	concurrentRule = "*:storage=1G"
)

// deliverLoop does cycles deliveries the way the delivery core does: Check,
// write the message to tmp/, rename it into new/ with its size in the name,
// Add. Every few deliveries it also asks for the usage, which recalculates
// a stale maildirsize.
func deliverLoop(dir string, id string, cycles int) error {
	path := func(rel string) string { return filepath.Join(dir, rel) }
	root, err := os.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	l, err := ParseRule(concurrentRule)
	if err != nil {
		return err
	}
	for i := range cycles {
		size := int64(1 + (i*37)%900)
		res, _, err := Reserve(context.Background(), root, l, Grace{}, size)
		if err != nil {
			return fmt.Errorf("cycle %d: Reserve: %w", i, err)
		}
		base := id + "." + strconv.Itoa(i) + ".host"
		if err := os.WriteFile(path("tmp/"+base), bytes.Repeat([]byte{'x'}, int(size)), 0o600); err != nil {
			return err
		}
		if err := os.Rename(path("tmp/"+base), path("new/"+base+",S="+strconv.FormatInt(size, 10))); err != nil {
			return err
		}
		if _, err := res.Commit(size, 1); err != nil {
			return fmt.Errorf("cycle %d: Commit: %w", i, err)
		}
		if i%50 == 49 {
			if _, err := Get(root, l); err != nil {
				return fmt.Errorf("cycle %d: Get: %w", i, err)
			}
		}
	}
	return nil
}

// TestHelperProcess is not a test: it is the body of one delivering
// process started by TestConcurrentProcesses.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process for TestConcurrentProcesses")
	}
	if err := deliverLoop(dir, "p"+strconv.Itoa(os.Getpid()), helperCycles); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// checkConsistent reads maildirsize as a reader would and compares it with
// a recount: every line must parse (no torn or interleaved appends) and the
// lines must add up to exactly what is in the maildir.
func checkConsistent(t *testing.T, m *testMaildir, want Usage) {
	t.Helper()
	data := []byte(m.maildirsize())
	if len(data) == 0 || data[len(data)-1] != '\n' {
		t.Fatalf("maildirsize does not end with a newline: %q", data)
	}
	c, err := parseFile(data)
	if err != nil {
		t.Fatalf("maildirsize does not parse: %v\n%s", err, data)
	}
	l, _ := ParseRule(concurrentRule)
	if c.limit != l {
		t.Fatalf("maildirsize definition %+v, want %+v", c.limit, l)
	}
	root := m.open()
	s, stable, err := recount(int(root.Fd()), shape{layout: maildir.MaildirPlusPlus})
	if err != nil || !stable {
		t.Fatalf("recount: %v (stable %v)", err, stable)
	}
	if s.usage != want {
		t.Fatalf("recount = %+v, want %+v", s.usage, want)
	}
	if c.usage != s.usage {
		t.Fatalf("maildirsize sums to %+v over %d lines, recount %+v", c.usage, c.lines, s.usage)
	}
	t.Logf("maildirsize: %d bytes, %d usage lines", len(data), c.lines)
}

// expected is what deliverLoop delivers in n processes.
func expected(procs, cycles int) Usage {
	var u Usage
	for i := range cycles {
		u.Bytes += int64(1 + (i*37)%900)
	}
	return Usage{Bytes: u.Bytes * int64(procs), Messages: int64(procs * cycles)}
}

func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 8 processes")
	}
	m := newTestMaildir(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmds := make([]*exec.Cmd, helperProcs)
	outs := make([]bytes.Buffer, helperProcs)
	for i := range cmds {
		cmd := exec.Command(exe, "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+m.dir)
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper %d: %v\n%s", i, err, outs[i].String())
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	checkConsistent(t, m, expected(helperProcs, helperCycles))
}

func TestConcurrentGoroutines(t *testing.T) {
	// The same in one process: each goroutine has its own root handle, as
	// concurrent LMTP deliveries have.
	m := newTestMaildir(t)
	const procs, cycles = 4, 300
	var wg sync.WaitGroup
	errs := make(chan error, procs)
	for i := range procs {
		wg.Go(func() {
			if err := deliverLoop(m.dir, "g"+strconv.Itoa(i), cycles); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	checkConsistent(t, m, expected(procs, cycles))
}
