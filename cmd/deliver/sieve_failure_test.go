package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/sievecases"
)

// Every Sieve failure case (package sievecases, README "Sieve failure
// cases") through the deliver binary: the exit code, what is stored, what
// the sink got, what is logged; nothing is lost.
func TestDeliverSieveFailureCases(t *testing.T) {
	const rcpt = "bob@example.org"
	for _, c := range sievecases.Cases {
		t.Run(c.Name, func(t *testing.T) {
			sink, submission, before := c.Start(t)
			conf := ""
			if submission != "" {
				conf += fmt.Sprintf("submission_host = %q\n", submission)
			}
			if before != "" {
				conf += fmt.Sprintf("before = [%q]\n", before)
			}
			e, home := sieveEnv(t, conf)
			writeScript(t, home, c.ScriptFor(rcpt))
			if len(c.Includes) > 0 {
				dir := e.mkdirOwned("home/bob/sieve", 1001, 1001)
				for name, text := range c.Includes {
					if err := os.WriteFile(filepath.Join(dir, name+".sieve"), []byte(text), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			r := e.deliver(c.Message(rcpt), "-f", c.Sender(), "-d", rcpt)
			stored, err := sievecases.Stored(filepath.Join(home, "Maildir"))
			if err != nil {
				t.Fatal(err)
			}
			log, _ := os.ReadFile(e.log)
			bad := c.Check("", r.code, stored, sievecases.Sent(sink), string(log))
			if want := c.Reply[4:] + " "; c.Exit != 0 && !strings.HasPrefix(r.out, want) {
				bad = append(bad, fmt.Sprintf("output %q, want %q", r.out, want))
			}
			if len(bad) > 0 {
				t.Errorf("%s\nlog:\n%s", strings.Join(bad, "\n"), log)
			}
		})
	}
}
