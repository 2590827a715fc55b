//go:build faults

package faults

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRlimit: deliver as the pipe user under limits that make the Go
// runtime itself fail (no new thread, no memory). pipe(8) bounces every
// exit status outside sysexits' 75 (and 71), so the only right outcomes
// are a delivery (exit 0) or exit 75 (issue 17 #4: the runtime's fatal
// errors exit 2).
func TestRlimit(t *testing.T) {
	// Below ~730 MB of address space the Go runtime fails in its own
	// start-up, before any of deliver's code runs; 730-800 MB let it start
	// and make a later allocation fail, with an 8 MB message.
	runRow(t, "resource limits", "deliver under RLIMIT_NPROC 1-3 and RLIMIT_AS 730-800 MB", func(t *testing.T, r *row) {
		e := newEnv(t, nil)
		cfg := e.config("rlimit", section{"userdb": `timeout = "5s"`})
		lims := []string{"--nproc=1", "--nproc=2", "--nproc=3"}
		for mb := 730; mb <= 800; mb += 10 {
			lims = append(lims, fmt.Sprintf("--as=%d", mb<<20))
		}
		for _, lim := range lims {
			r.tries++
			cmd := exec.Command("prlimit", lim, "--", deliverBin(), "-c", cfg, "-f", "sender@example.net", "-d", "user@domain.org")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid1, Gid: uid1}}
			cmd.Stdin = strings.NewReader(testMessage(subject("rlimit", 8<<20), 8<<20))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				r.fail("%s: %v", lim, err)
				continue
			}
			switch code {
			case 0:
				r.count("exit 0", 1)
			case 75:
				r.count("exit 75", 1)
			default:
				r.count("other exit", 1)
				r.fail("%s: exit %d %q", lim, code, lastLines(out.String(), 1))
			}
		}
		var st stored
		scanNew(e.maildir("user@domain.org"), nil, &st)
		r.count("corrupt", int64(len(st.corrupt)))
		r.note("%d delivered", st.files)
		if int64(st.files) != r.get("exit 0") {
			r.fail("%d files in new/ for %d exit 0", st.files, r.get("exit 0"))
		}
		r.mustZero("other exit", "corrupt")
	})
}

// dangerousCaps are capabilities lmtpd never needs: with them a mailbox
// write as a user's fsuid still bypasses reserved blocks and quotas
// (CAP_SYS_RESOURCE), and a compromise of lmtpd is a compromise of the
// machine.
var dangerousCaps = map[uint]string{12: "CAP_NET_ADMIN", 16: "CAP_SYS_MODULE", 17: "CAP_SYS_RAWIO", 19: "CAP_SYS_PTRACE", 21: "CAP_SYS_ADMIN", 24: "CAP_SYS_RESOURCE"}

// TestCapabilities: lmtpd started as root must have dropped the
// capabilities it does not need, in every thread, also after deliveries
// (issue 15 #3).
func TestCapabilities(t *testing.T) {
	runRow(t, "privileges", "lmtpd as root: capabilities of every thread after deliveries", func(t *testing.T, r *row) {
		e := newEnv(t, nil)
		d := startLmtpd(t, e.config("caps", section{"userdb": `timeout = "5s"`}))
		if rr, err := deliverLMTP(e.sock(), []string{"user@domain.org", "user@foo.org"}, testMessage(subject("caps", 100), 100), 20*time.Second); err != nil || len(rr) != 2 {
			r.fail("delivery: %v %v", rr, err)
		}
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", d.pid))
		held := map[string]bool{}
		for _, tk := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", d.pid, tk.Name()))
			for _, l := range strings.Split(string(b), "\n") {
				for _, f := range []string{"CapPrm:", "CapEff:"} {
					if v, ok := strings.CutPrefix(l, f); ok {
						bits, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
						for bit, name := range dangerousCaps {
							if bits&(1<<bit) != 0 {
								held[name] = true
							}
						}
					}
				}
			}
		}
		r.tries = len(tasks)
		r.count("threads", int64(len(tasks)))
		r.count("dangerous capabilities held", int64(len(held)))
		if len(held) > 0 {
			var names []string
			for n := range held {
				names = append(names, n)
			}
			sort.Strings(names)
			r.fail("lmtpd holds %s", strings.Join(names, ", "))
		}
	})
}
