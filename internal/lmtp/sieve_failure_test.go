package lmtp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/config"
	"maildeliver/internal/sievecases"
)

// Every Sieve failure case (package sievecases, README "Sieve failure
// cases") through lmtpd: the reply, what is stored, what the sink got,
// what is logged; nothing is lost.
func TestSieveFailureCases(t *testing.T) {
	const rcpt = "alice@domain.org"
	for _, c := range sievecases.Cases {
		t.Run(c.Name, func(t *testing.T) {
			sink, submission, before := c.Start(t)
			e := sieveEnv(t, func(cfg *config.Config) {
				cfg.Sieve.SubmissionHost = submission
				if before != "" {
					cfg.Sieve.Before = []string{before}
				}
			})
			e.script(rcpt, c.ScriptFor(rcpt))
			writeIncludes(t, filepath.Join(e.home(rcpt), "sieve"), e.users[rcpt].uid, c.Includes)
			r := e.transactionFrom(c.Sender(), c.Message(rcpt), rcpt)
			stored, err := sievecases.Stored(e.users[rcpt].maildir)
			if err != nil {
				t.Fatal(err)
			}
			if bad := c.Check(r[0], 0, stored, sievecases.Sent(sink), e.logs.String()); len(bad) > 0 {
				t.Errorf("%s", strings.Join(bad, "\n"))
			}
		})
	}
}

// writeIncludes writes a user's personal scripts (include :personal).
func writeIncludes(t *testing.T, dir string, uid int, scripts map[string]string) {
	t.Helper()
	if len(scripts) == 0 {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(dir, uid, uid)
	for name, text := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name+".sieve"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
