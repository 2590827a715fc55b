//go:build faults

package faults

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary one of the suite's helpers instead of
// the suite: the mailbox owner's attacks run as that uid in a process of
// their own.
const helperEnv = "FAULTS_HELPER"

// helperBin is a copy of the test binary that every uid may run.
var helperBin string

// copyHelper copies the running test binary into dir (mode 0755).
func copyHelper(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	helperBin = filepath.Join(dir, "faults-helper")
	out, err := os.OpenFile(helperBin, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func helperMain(name string, args []string) int {
	switch name {
	case "swap": // swap PATH TARGET: PATH becomes a symlink to TARGET and back, forever
		return swapLoop(args[0], args[1])
	case "flock": // flock PATH: hold an exclusive flock on PATH until stdin closes
		return holdFlock(args[0])
	case "swapsock": // swapsock PATH TARGET: once PATH is a socket, replace it by a symlink
		return swapSocket(args[0], args[1])
	case "ask": // ask SOCKET LINE: one userdb socket request
		return askSocket(args[0], args[1])
	default:
		fmt.Fprintln(os.Stderr, "faults: unknown helper", name)
		return 2
	}
}

// swapLoop renames path away, puts a symlink to target in its place, and
// puts it back, until killed. Errors are ignored: lmtpd may recreate path
// in between, and the loop goes on.
func swapLoop(path, target string) int {
	real := path + ".real"
	fmt.Println("swapping")
	os.Stdout.Sync()
	for {
		if os.Rename(path, real) == nil {
			os.Symlink(target, path)
			os.Remove(path)
			os.Rename(real, path)
		}
	}
}

func holdFlock(path string) int {
	fd, err := syscall.Open(path, syscall.O_RDONLY, 0)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// helper is a running helper process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startHelper runs a helper as uid/gid and waits for its first line.
func startHelper(t *testing.T, uid int, name string, args ...string) *helper {
	t.Helper()
	cmd := exec.Command(helperBin, args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin}
	t.Cleanup(h.stop)
	l, _ := bufio.NewReader(stdout).ReadString('\n')
	if l != "swapping\n" && l != "locked\n" {
		t.Fatalf("helper %s: %q", name, l)
	}
	return h
}

// stop kills the helper (the swap loop never ends by itself) and reaps it.
func (h *helper) stop() {
	if h.cmd.ProcessState != nil {
		return
	}
	h.stdin.Close()
	h.cmd.Process.Kill()
	h.cmd.Wait()
}

// askSocket connects to a userdb socket, sends line (plus "\n" unless
// raw) and prints the first answer line or "error: ...".
func askSocket(path, line string) int {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		fmt.Println("error:", err)
		return 0
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		fmt.Println("error:", err)
		return 0
	}
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Println("error:", err)
		return 0
	}
	fmt.Print(l)
	return 0
}

// runAs runs a helper to its end as uid and returns its output.
func runAs(uid int, name string, args ...string) string {
	cmd := exec.Command(helperBin, args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("error: %v %s", err, out)
	}
	return string(out)
}

// swapSocket waits (bounded) for path to be a socket, then atomically
// replaces it by a symlink to target, as whoever owns the socket's
// directory can.
func swapSocket(path, target string) int {
	fmt.Println("swapping")
	os.Stdout.Sync()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&os.ModeSocket == 0 {
			continue
		}
		os.Remove(path + ".tmp")
		if err := os.Symlink(target, path+".tmp"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	return 1
}
