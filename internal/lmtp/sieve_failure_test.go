package lmtp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/config"
	"maildeliver/internal/sievecases"
	"maildeliver/internal/smtpsink"
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

// Sieve's metrics on /metrics: the actions of each recipient's plan, the
// user script that failed, the redirect that could not be sent.
func TestSieveMetrics(t *testing.T) {
	e := sieveEnv(t, func(c *config.Config) {
		withMetrics(c)
		c.Sieve.SubmissionHost = smtpsink.DeadAddr(t)
	})
	e.script("alice@domain.org", "require [\"fileinto\", \"mailbox\", \"copy\"];\nfileinto :create \"F\";\nredirect :copy \"carol@example.net\";\n")
	e.script("bob@foo.org", "this is not sieve;\n")
	e.script("carol@domain.org", "discard;\n")
	e.script("josé@domain.org", "require \"vacation\";\nvacation \"Away.\";\n") // not in To: suppressed
	r := e.transaction(msg("metrics", "x"), "alice@domain.org", "bob@foo.org", "carol@domain.org", "josé@domain.org")
	for _, reply := range r {
		if !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("replies %q", r)
		}
	}
	fams := e.scrape()
	for _, c := range []struct {
		name  string
		label string
		want  float64
	}{
		{"maildeliver_sieve_actions_total", "action=keep", 2}, // bob's implicit keep, josé's
		{"maildeliver_sieve_actions_total", "action=fileinto", 1},
		{"maildeliver_sieve_actions_total", "action=redirect", 1},
		{"maildeliver_sieve_actions_total", "action=discard", 1},
		{"maildeliver_sieve_actions_total", "action=reject", 0},
		{"maildeliver_sieve_actions_total", "action=vacation_sent", 0},
		{"maildeliver_sieve_actions_total", "action=vacation_suppressed", 1},
		{"maildeliver_sieve_script_errors_total", "script=user", 1},
		{"maildeliver_sieve_script_errors_total", "script=global", 0},
		{"maildeliver_sieve_send_failures_total", "kind=redirect", 1},
		{"maildeliver_sieve_send_failures_total", "kind=vacation", 0},
	} {
		if got := metricValue(fams, c.name, c.label); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.label, got, c.want)
		}
	}
}
