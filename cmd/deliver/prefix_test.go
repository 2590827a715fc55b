package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A site with Dovecot's inbox namespace prefix (seed 002: prefix = INBOX.,
// separator = .), through the binary: -m, +detail and Sieve fileinto
// names carry the prefix and land where dovecot-lda puts them (the name
// table is maildir's TestPrefixDifferential against dovecot-lda and
// Pigeonhole); a name outside the namespace goes to INBOX, from Sieve
// with sieve=error, never a deferral or bounce.
func TestDeliverNamespacePrefix(t *testing.T) {
	e, home := sieveEnv(t, "")
	rewriteMail(t, e, "prefix = \"INBOX.\"\nseparator = \".\"\ndetail_folder = true\nautocreate = true")
	mdir := filepath.Join(home, "Maildir")
	count := func(dir string) int { return len(dirFiles(t, filepath.Join(mdir, dir, "new"))) }
	deliver := func(args ...string) {
		t.Helper()
		if r := e.deliver(testMsg, append([]string{"-f", "a@b"}, args...)...); r.code != 0 || r.out != "" {
			t.Fatalf("%q: exit %d output %q\nlog:\n%s", args, r.code, r.out, readLog(e))
		}
	}
	writeScript(t, home, "keep;\n")
	deliver("-m", "INBOX.Junk", "-d", "bob@example.org")
	deliver("-m", "Junk", "-d", "bob@example.org")      // outside the namespace: INBOX
	deliver("-d", "bob+Lists@example.org")              // +detail: "INBOX.Lists"
	deliver("-m", "inbox.a.b", "-d", "bob@example.org") // INBOX is case-insensitive
	if log := readLog(e); !strings.Contains(log, `msg="folder cannot be used, delivering to INBOX"`) ||
		!strings.Contains(log, `folder=Junk why="not under the namespace prefix \"INBOX.\""`) {
		t.Errorf("-m Junk: no log line saying why it went to INBOX:\n%s", log)
	}
	if r := e.deliver("", "-explain", "bob@example.org", "-m", "Junk"); !strings.Contains(r.out, `"Junk" (-m) cannot be used (not under the namespace prefix "INBOX."): INBOX`) {
		t.Errorf("-explain -m Junk: %s", r.out)
	}
	if got := [4]int{count(".Junk"), count(""), count(".Lists"), count(".a.b")}; got != [4]int{1, 1, 1, 1} {
		t.Fatalf(".Junk INBOX .Lists .a.b hold %v, want one each\nlog:\n%s", got, readLog(e))
	}
	for _, absent := range []string{".INBOX.Junk", ".INBOX.Lists"} {
		if _, err := os.Stat(filepath.Join(mdir, absent)); !os.IsNotExist(err) {
			t.Errorf("%s exists", absent)
		}
	}
	subs, _ := os.ReadFile(filepath.Join(mdir, "subscriptions"))
	if string(subs) != "V\t2\n\nJunk\nLists\na\tb\n" {
		t.Errorf("subscriptions %q", subs)
	}

	// Roundcube's filter: fileinto "INBOX.Junk" is .Junk; fileinto
	// :create "Junk" fails as in Pigeonhole: kept in INBOX, sieve=error.
	writeScript(t, home, "require [\"fileinto\", \"mailbox\"];\nfileinto \"INBOX.Junk\";\n")
	deliver("-d", "bob@example.org")
	if n := count(".Junk"); n != 2 {
		t.Fatalf("fileinto INBOX.Junk: .Junk holds %d, want 2\nlog:\n%s", n, readLog(e))
	}
	// Pigeonhole merges stores by the name as written: these are two
	// copies in .Junk (dovecot-lda 2.3.19 + Pigeonhole: "stored mail into
	// mailbox 'INBOX.Junk'", then "'inbox.Junk' (INBOX.Junk)").
	writeScript(t, home, "require \"fileinto\";\nfileinto \"INBOX.Junk\";\nfileinto \"inbox.Junk\";\n")
	deliver("-d", "bob@example.org")
	if n := count(".Junk"); n != 4 {
		t.Fatalf("fileinto INBOX.Junk, inbox.Junk: .Junk holds %d, want 4\nlog:\n%s", n, readLog(e))
	}
	// mailboxexists through the same names: .Junk exists, "Junk" is
	// outside the namespace, INBOX.Nope does not exist.
	writeScript(t, home, `require ["fileinto", "mailbox"];
if mailboxexists "INBOX.Junk" { if not mailboxexists "Junk" { if not mailboxexists "INBOX.Nope" { fileinto "INBOX.yes"; } } }
`)
	deliver("-d", "bob@example.org")
	if n := count(".yes"); n != 1 {
		t.Fatalf("mailboxexists: .yes holds %d, want 1\nlog:\n%s", n, readLog(e))
	}
	os.WriteFile(e.log, nil, 0o666)
	writeScript(t, home, "require [\"fileinto\", \"mailbox\"];\nfileinto :create \"Junk\";\n")
	deliver("-d", "bob@example.org")
	if n, log := count(""), readLog(e); n != 2 || !strings.Contains(log, "sieve=error") {
		t.Fatalf("fileinto :create Junk: INBOX holds %d (want 2), sieve=error logged: %v\nlog:\n%s", n, strings.Contains(log, "sieve=error"), log)
	}
	if _, err := os.Stat(filepath.Join(mdir, ".INBOX.Junk")); !os.IsNotExist(err) {
		t.Errorf(".INBOX.Junk exists")
	}
}
