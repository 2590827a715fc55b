package quota

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func warnings(t *testing.T, specs ...string) []Warning {
	t.Helper()
	var ws []Warning
	for _, s := range specs {
		w, err := ParseWarning(s)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	return ws
}

func TestCrossed(t *testing.T) {
	l := Limit{Bytes: 1000, Messages: 10}
	tests := []struct {
		name          string
		ws            []string
		before, after Usage
		want          string // "resource percent", "" for none
	}{
		{"below", []string{"80%"}, Usage{100, 1}, Usage{200, 2}, ""},
		{"storage reaches exactly", []string{"80%"}, Usage{799, 1}, Usage{800, 2}, "storage 80"},
		{"already at threshold", []string{"80%"}, Usage{800, 1}, Usage{900, 2}, ""},
		{"messages cross", []string{"80%"}, Usage{10, 7}, Usage{20, 8}, "messages 80"},
		{"storage only ignores messages", []string{"storage=80%"}, Usage{10, 7}, Usage{20, 8}, ""},
		{"messages only", []string{"messages=80%"}, Usage{799, 1}, Usage{801, 2}, ""},
		{"highest of several wins", []string{"50%", "95%", "80%"}, Usage{100, 1}, Usage{960, 2}, "storage 95"},
		{"over the limit still crossing", []string{"100%"}, Usage{999, 1}, Usage{1500, 2}, "storage 100"},
		{"removal going down", []string{"80%"}, Usage{900, 9}, Usage{700, 7}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Change{Before: tc.before, After: tc.after, Known: true}.Crossed(warnings(t, tc.ws...), l)
			got := ""
			if c != nil {
				got = c.Resource + " " + strconv.FormatInt(c.Warning.Percent, 10)
			}
			if got != tc.want {
				t.Errorf("Crossed = %q, want %q", got, tc.want)
			}
		})
	}
	if c := (Change{Before: Usage{0, 0}, After: Usage{900, 1}}).Crossed(warnings(t, "80%"), l); c != nil {
		t.Errorf("an unknown change crossed %+v", c)
	}
	if c := (Change{Before: Usage{0, 0}, After: Usage{900, 1}, Known: true}).Crossed(warnings(t, "80%"), Limit{}); c != nil {
		t.Errorf("no limit, yet crossed %+v", c)
	}
	if got := percentOf(1<<62, 100); got != 1<<62 {
		t.Errorf("percentOf overflows: %d", got)
	}
}

func TestRecordChange(t *testing.T) {
	m := newTestMaildir(t)
	l := Limit{Bytes: 1000}
	m.write(fileName, "1000S\n100 1\n-10 0\n")
	root := m.open()
	c, err := Record(root, l, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := Change{Before: Usage{90, 1}, After: Usage{140, 2}, Known: true}
	if c != want {
		t.Errorf("Record = %+v, want %+v", c, want)
	}
	if got := m.maildirsize(); got != "1000S\n100 1\n-10 0\n50 1\n" {
		t.Errorf("maildirsize = %q", got)
	}
	// No maildirsize: Record recounts, and cannot tell what came before.
	os.Remove(m.path(fileName))
	if c, err := Record(root, l, 50, 1); err != nil || c.Known {
		t.Errorf("Record without maildirsize = %+v, %v; want unknown", c, err)
	}
	if c, err := Record(root, Limit{}, 50, 1); err != nil || c.Known {
		t.Errorf("Record unlimited = %+v, %v; want unknown", c, err)
	}
}

const (
	warnHelperEnv = "MAILDELIVER_QUOTA_WARN_HELPER"
	warnProcs     = 8
	warnCycles    = 60
	warnSize      = 100
)

// warnLimit makes the deliveries of all helpers end at 96% of the limit.
var warnLimit = Limit{Bytes: warnProcs * warnCycles * warnSize * 100 / 96}

// warnLoop delivers like the delivery core and prints one line per
// threshold it crossed.
func warnLoop(dir, id string) error {
	root, err := os.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	var ws []Warning
	for _, s := range []string{"50%", "80%", "95%"} {
		w, _ := ParseWarning(s)
		ws = append(ws, w)
	}
	for i := range warnCycles {
		res, _, err := Reserve(context.Background(), root, warnLimit, Grace{}, warnSize)
		if err != nil {
			return fmt.Errorf("cycle %d: Reserve: %w", i, err)
		}
		base := id + "." + strconv.Itoa(i) + ".host"
		if err := os.WriteFile(filepath.Join(dir, "tmp", base), bytes.Repeat([]byte{'x'}, warnSize), 0o600); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(dir, "tmp", base), filepath.Join(dir, "new", base+",S="+strconv.Itoa(warnSize))); err != nil {
			return err
		}
		c, err := res.Commit(warnSize, 1)
		if err != nil {
			return fmt.Errorf("cycle %d: Record: %w", i, err)
		}
		if x := c.Crossed(ws, warnLimit); x != nil {
			fmt.Printf("crossed %s\n", x.Warning)
		}
	}
	return nil
}

// TestWarnHelperProcess is the body of one process of
// TestWarningOncePerCrossing.
func TestWarnHelperProcess(t *testing.T) {
	dir := os.Getenv(warnHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestWarningOncePerCrossing")
	}
	if err := warnLoop(dir, "w"+strconv.Itoa(os.Getpid())); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// 8 processes deliver 480 messages at once, from empty to 96% of the
// limit: each of 50%, 80% and 95% is crossed by exactly one delivery.
func TestWarningOncePerCrossing(t *testing.T) {
	m := newTestMaildir(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmds := make([]*exec.Cmd, warnProcs)
	outs := make([]bytes.Buffer, warnProcs)
	errs := make([]bytes.Buffer, warnProcs)
	for i := range cmds {
		cmd := exec.Command(exe, "-test.run=^TestWarnHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), warnHelperEnv+"="+m.dir)
		cmd.Stdout, cmd.Stderr = &outs[i], &errs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	crossed := map[string]int{}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, errs[i].String())
		}
		for line := range strings.Lines(outs[i].String()) {
			if w, ok := strings.CutPrefix(strings.TrimSpace(line), "crossed "); ok {
				crossed[w]++
			}
		}
	}
	want := map[string]int{"50%": 1, "80%": 1, "95%": 1}
	if fmt.Sprint(crossed) != fmt.Sprint(want) {
		t.Errorf("crossings %v, want %v", crossed, want)
	}
	checkConsistentLimit(t, m, warnLimit, Usage{Bytes: warnProcs * warnCycles * warnSize, Messages: warnProcs * warnCycles})
}

// checkConsistentLimit: maildirsize parses and sums to want.
func checkConsistentLimit(t *testing.T, m *testMaildir, l Limit, want Usage) {
	t.Helper()
	c, err := parseFile([]byte(m.maildirsize()))
	if err != nil {
		t.Fatal(err)
	}
	if c.limit != l || c.usage != want {
		t.Errorf("maildirsize says %+v %+v, want %+v %+v", c.limit, c.usage, l, want)
	}
}

// 8 deliveries in flight at once take usage from 79.5% across 80%; each
// has appended its line before any reads back (the hook holds them
// there), so "usage after" read from the whole file would be the same
// for all of them. Exactly one crosses.
func TestWarningOverlappingDeliveries(t *testing.T) {
	const n, size = 8, 100
	m := newTestMaildir(t)
	l := Limit{Bytes: 100000}
	m.write(fileName, "100000S\n79500 795\n")
	var appended sync.WaitGroup
	appended.Add(n)
	testHookAfterAppend = func() {
		appended.Done()
		appended.Wait()
	}
	defer func() { testHookAfterAppend = nil }()
	ws := warnings(t, "80%", "95%")
	var crossed atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			root := m.open()
			res, _, err := Reserve(context.Background(), root, l, Grace{}, size)
			if err != nil {
				t.Error(err)
				appended.Done()
				return
			}
			c, err := res.Commit(size, 1)
			if err != nil {
				t.Error(err)
				return
			}
			if !c.Known {
				t.Errorf("change not known: %+v", c)
			}
			if c.Crossed(ws, l) != nil {
				crossed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := crossed.Load(); got != 1 {
		t.Errorf("%d deliveries crossed 80%%, want exactly 1", got)
	}
}
