package privilege

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("MAILDELIVER_ALLOW_NONROOT") == "1" {
			t.Skip("needs root")
		}
		t.Fatal("needs root (set MAILDELIVER_ALLOW_NONROOT=1 to skip)")
	}
}

// statusCaps reads the Cap* lines of a /proc status file.
func statusCaps(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.HasPrefix(k, "Cap") {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			m[k] = n
		}
	}
	return m
}

// While Run's fn writes as the mailbox owner, the thread has no effective
// capability at all (issue 15 item 3, issue 17: CAP_SYS_RESOURCE,
// CAP_SYS_ADMIN, CAP_SYS_RAWIO stayed), and afterwards the thread is as
// before.
func TestRunClearsEffectiveCapabilities(t *testing.T) {
	requireRoot(t)
	before := statusCaps(t, "/proc/thread-self/status")
	if before["CapEff"] == 0 {
		t.Fatal("root without effective capabilities: cannot test")
	}
	var during map[string]uint64
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777)
	err := Run(1001, 1001, func() error {
		during = statusCaps(t, "/proc/thread-self/status")
		return os.WriteFile(filepath.Join(dir, "f"), nil, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	if during["CapEff"] != 0 {
		t.Errorf("effective capabilities while writing as 1001: %#x, want none", during["CapEff"])
	}
	if during["CapPrm"] != before["CapPrm"] {
		t.Errorf("permitted while writing %#x, want %#x (kept to switch back)", during["CapPrm"], before["CapPrm"])
	}
	// Every thread Run returned to the pool is whole again: a new Run
	// works and this thread writes as root.
	if err := Run(1002, 1002, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestDropCapabilitiesHelper is the child of TestDropCapabilities.
func TestDropCapabilitiesHelper(t *testing.T) {
	if os.Getenv("PRIVILEGE_DROP_HELPER") != "1" {
		t.Skip("helper process only")
	}
	if err := DropCapabilities(); err != nil {
		fmt.Println("ERROR", err)
		return
	}
	dir := os.Getenv("PRIVILEGE_DROP_DIR")
	err := Run(1001, 1001, func() error { return os.WriteFile(filepath.Join(dir, "f"), nil, 0o600) })
	fmt.Println("RUN", err)
	tasks, _ := filepath.Glob("/proc/self/task/*/status")
	for _, p := range tasks {
		c := statusCaps(t, p)
		fmt.Printf("TASK %x %x %x\n", c["CapEff"], c["CapPrm"], c["CapBnd"])
	}
}

// DropCapabilities leaves every thread of the process CAP_SETUID and
// CAP_SETGID only, in all three sets, and Run still works. The process is
// a child (test binary built without cgo, as lmtpd ships), as the drop
// cannot be undone.
func TestDropCapabilities(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777)
	bin := filepath.Join(t.TempDir(), "privilege.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test binary without cgo: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-test.run=^TestDropCapabilitiesHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "PRIVILEGE_DROP_HELPER=1", "PRIVILEGE_DROP_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "RUN <nil>") {
		t.Fatalf("after the drop:\n%s", out)
	}
	want := fmt.Sprintf("%x %x %x", keepCaps, keepCaps, keepCaps)
	n := 0
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, "TASK "); ok {
			n++
			if strings.TrimSpace(rest) != want {
				t.Errorf("thread caps (eff prm bnd) %s, want %s", strings.TrimSpace(rest), want)
			}
		}
	}
	if n < 2 {
		t.Errorf("%d threads checked:\n%s", n, out)
	}
}
