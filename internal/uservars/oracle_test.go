package uservars

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dovecot runs a private Dovecot 2.3 (auth only, passwd-file userdb,
// auth_username_format empty so that letter case reaches the templates)
// and returns a function that asks `doveadm user -f mail` for the
// mail_location template expanded for user: Dovecot as the oracle.
func dovecot(t *testing.T) func(template, user string) (string, error) {
	t.Helper()
	doveadm, err := exec.LookPath("doveadm")
	if err != nil {
		if os.Getenv("MAILDELIVER_REQUIRE_DOVECOT") == "1" {
			t.Fatal("doveadm not found and MAILDELIVER_REQUIRE_DOVECOT=1: install dovecot-core")
		}
		t.Skip("SKIPPED LOUDLY: doveadm not found, the expander is not checked against Dovecot (install dovecot-core)")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("MAILDELIVER_REQUIRE_DOVECOT") == "1" {
			t.Fatal("the Dovecot oracle needs root (dovecot starts its auth service as root)")
		}
		t.Skip("SKIPPED LOUDLY: the Dovecot oracle needs root")
	}
	dir, err := os.MkdirTemp("", "uservars-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	passwd := filepath.Join(dir, "passwd")
	os.WriteFile(passwd, []byte(
		"Bob.Smith-X@Sub.Example.COM:{PLAIN}x:5000:5000::/srv/Home/Bob::\n"+
			"alice@example.com:{PLAIN}x:5000:5000::/srv/home/alice::\n"+
			"NoDomain:{PLAIN}x:5000:5000::/srv/home/nd::\n"), 0o644)
	base := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/log
protocols =
listen = 127.0.0.1
ssl = no
auth_username_format =
first_valid_uid = 1000
passdb {
  driver = passwd-file
  args = %[2]s
}
userdb {
  driver = passwd-file
  args = %[2]s
}
service anvil {
  chroot =
}
`, dir, passwd)
	conf := filepath.Join(dir, "dovecot.conf")
	os.WriteFile(conf, []byte(base+"mail_location = maildir:/x\n"), 0o644)
	// dovecot daemonises; its children inherit stdout and stderr, so a
	// pipe there would never close: give it a file.
	start := exec.Command("dovecot", "-c", conf)
	startLog, err := os.Create(filepath.Join(dir, "start.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer startLog.Close()
	start.Stdout, start.Stderr = startLog, startLog
	if err := start.Run(); err != nil {
		out, _ := os.ReadFile(startLog.Name())
		t.Fatalf("starting dovecot: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(doveadm, "-c", conf, "stop").Run() })
	waitFor(t, filepath.Join(dir, "run", "auth-userdb"))
	n := 0
	return func(template, user string) (string, error) {
		n++
		c := filepath.Join(dir, fmt.Sprintf("t%d.conf", n))
		os.WriteFile(c, []byte(base+"mail_location = maildir:"+template+"\n"), 0o644)
		cmd := exec.Command(doveadm, "-c", c, "user", "-f", "mail", user)
		cmd.Stderr = nil // doveadm logs to the config's log_path
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("doveadm user: %v", err)
		}
		return strings.TrimPrefix(strings.TrimSpace(string(out)), "maildir:"), nil
	}
}

// waitFor polls for the auth socket dovecot creates once it is ready
// (dovecot daemonises before its services are up).
func waitFor(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		} else if !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			t.Fatalf("dovecot did not create %s: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDovecotOracle expands every 2.3 form SPEC names (and a few more)
// with Dovecot 2.3's doveadm and with this package, for users in mixed
// case and without a domain. The 2.4 forms are checked against the 2.3
// form with the same meaning (this machine has 2.3, which does not parse
// them).
func TestDovecotOracle(t *testing.T) {
	ask := dovecot(t)
	home := map[string]string{"Bob.Smith-X@Sub.Example.COM": "/srv/Home/Bob", "alice@example.com": "/srv/home/alice",
		"NoDomain": "/srv/home/nd"}
	for _, tc := range []struct{ ours, dovecots string }{
		{"/m/%u", ""}, {"/m/%n", ""}, {"/m/%d", ""}, {"/m/%h", ""}, {"/m/%%/%u", ""},
		{"/m/%Lu", ""}, {"/m/%Ln", ""}, {"/m/%Ld", ""}, {"/m/%Ld/%Ln/Maildir", ""}, {"/m/%Uu", ""},
		{"/m/%Un", ""}, {"/m/%Ud", ""}, {"/m/%Lh", ""}, {"/m/%{user}", ""}, {"/m/%{username}", ""},
		{"/m/%{domain}", ""}, {"/m/%{home}", ""}, {"/m/%L{user}", ""}, {"/m/%U{domain}", ""},
		{"/m/%L{username}", ""}, {"/m/%n-%d.x", ""},
		// Dovecot 2.4 forms, against their 2.3 equivalents.
		{"/m/%{user|lower}", "/m/%Lu"},
		{"/m/%{user|upper}", "/m/%Uu"},
		{"/m/%{user|username}", "/m/%n"},
		{"/m/%{user|username|lower}", "/m/%Ln"},
		{"/m/%{user|domain}", "/m/%d"},
		{"/m/%{user | domain | lower}/%{user | username | lower}", "/m/%Ld/%Ln"},
		{"/m/%{home|lower}", "/m/%Lh"},
	} {
		for user, h := range home {
			t.Run(tc.ours+"/"+user, func(t *testing.T) {
				tmpl, err := Parse(tc.ours, Path)
				if err != nil {
					t.Fatal(err)
				}
				got := tmpl.Expand(Values{User: user, Home: h})
				q := tc.dovecots
				if q == "" {
					q = tc.ours
				}
				want, err := ask(q, user)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s for %s: ours %q, Dovecot (%s) %q", tc.ours, user, got, q, want)
				}
			})
		}
	}
	// Dovecot refuses these too (doveadm exits 75): an unknown variable is
	// a configuration error on both sides.
	for _, bad := range []string{"/m/%q", "/m/%{foo}", "/m/%{user"} {
		if _, err := ask(bad, "alice@example.com"); err == nil {
			t.Errorf("Dovecot accepted %q; the test's premise is wrong", bad)
		}
		if _, err := Parse(bad, Path); err == nil {
			t.Errorf("Parse(%q) accepted what Dovecot refuses", bad)
		}
	}
}
