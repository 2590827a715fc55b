package privilege

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RunCommand as root: the child is uid/gid with gid its only group, also
// when started inside Run (whose thread has the capabilities the switch
// needs cleared); uid 0 is refused.
func TestRunCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	id := func() (string, error) {
		cmd := exec.Command("/bin/sh", "-c", "id -u; id -g; id -G")
		var out strings.Builder
		cmd.Stdout = &out
		err := RunCommand(cmd, 1001, 1002)
		return out.String(), err
	}
	if got, err := id(); err != nil || got != "1001\n1002\n1002\n" {
		t.Fatalf("outside Run: %q, %v", got, err)
	}
	var got string
	err := Run(1003, 1003, func() (err error) {
		got, err = id()
		return err
	})
	if err != nil || got != "1001\n1002\n1002\n" {
		t.Fatalf("inside Run: %q, %v", got, err)
	}
	if err := RunCommand(exec.Command("/bin/true"), 0, 0); !errors.Is(err, ErrSwitch) {
		t.Fatalf("uid 0: %v", err)
	}
}
