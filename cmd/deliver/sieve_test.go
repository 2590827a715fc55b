package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"maildeliver/internal/smtpsink"
	"maildeliver/internal/testdb"
)

// sieveEnv: one user (bob@example.org, uid 1001, home below e.dir) in a
// SQLite userdb, [sieve] enabled with conf's further keys.
func sieveEnv(t *testing.T, conf string) (*env, string) {
	t.Helper()
	requireRoot(t)
	db := testdb.SQLite(t, t.TempDir())
	db.Exec(t, "CREATE TABLE users (userid TEXT PRIMARY KEY, home TEXT);\n"+
		"INSERT INTO users VALUES ('bob@example.org', 'bob')")
	e := newEnv(t, db, "", "", "[sieve]\nenabled = true\n"+conf)
	base := e.mkdirOwned("home", 1001, 1001)
	rewriteQuery(t, e, fmt.Sprintf("SELECT '%s/'||home AS home, 1001 AS uid, 1001 AS gid FROM users WHERE userid = '%%u'", base))
	home := e.mkdirOwned("home/bob", 1001, 1001)
	return e, home
}

func writeScript(t *testing.T, home, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// deliver with Sieve: fileinto with flags lands in the folder's cur/ with
// the info Dovecot gives it (the failure cases are
// TestDeliverSieveFailureCases); reject prints 5.7.1 and exits 77
// (EX_NOPERM, as dovecot-lda -e) and stores nothing; discard exits 0 and
// stores nothing.
func TestDeliverSieve(t *testing.T) {
	e, home := sieveEnv(t, "")
	mdir := filepath.Join(home, "Maildir")
	writeScript(t, home, `require ["fileinto", "imap4flags", "mailbox"];
fileinto :create :flags ["\\Seen", "\\Flagged"] "Folder";
`)
	want := "\nsieve: on: user " + filepath.Join(home, ".dovecot.sieve") + "\n"
	if r := e.deliver("", "-explain", "bob@example.org"); r.code != 0 || !strings.Contains(r.out, want) {
		t.Fatalf("-explain: exit %d output %q, want %q", r.code, r.out, want)
	}
	if r := e.deliver(testMsg, "-f", "a@b", "-d", "bob@example.org"); r.code != 0 || r.out != "" {
		t.Fatalf("fileinto: exit %d output %q", r.code, r.out)
	}
	if cur := dirFiles(t, filepath.Join(mdir, ".Folder", "cur")); len(cur) != 1 || !strings.HasSuffix(cur[0], ":2,FS") {
		t.Fatalf(".Folder/cur = %q, want one file ending :2,FS", cur)
	}
	if n := dirFiles(t, filepath.Join(mdir, "new")); len(n) != 0 {
		t.Fatalf("INBOX new/ = %q", n)
	}

	for _, script := range []string{"require \"reject\";\nreject \"not wanted\";\n", "require \"ereject\";\nereject \"not wanted\";\n"} {
		writeScript(t, home, script)
		if r := e.deliver(testMsg, "-f", "a@b", "-d", "bob@example.org"); r.code != 77 || r.out != "5.7.1 not wanted\n" {
			t.Fatalf("%q: exit %d output %q", script, r.code, r.out)
		}
	}
	writeScript(t, home, "discard;\n")
	if r := e.deliver(testMsg, "-f", "a@b", "-d", "bob@example.org"); r.code != 0 || r.out != "" {
		t.Fatalf("discard: exit %d output %q", r.code, r.out)
	}
	if n := dirFiles(t, filepath.Join(mdir, "new")); len(n) != 0 {
		t.Fatalf("INBOX new/ = %q: reject or discard stored", n)
	}
	if n := dirFiles(t, filepath.Join(mdir, "tmp")); len(n) != 0 {
		t.Fatalf("tmp/ = %q", n)
	}
}

// deliver with Sieve sending mail: redirect and a vacation reply reach
// submission_host and exit 0 (submission_host down is among
// TestDeliverSieveFailureCases).
func TestDeliverSieveSend(t *testing.T) {
	k, addr := smtpsink.Start(t)
	e, home := sieveEnv(t, fmt.Sprintf("submission_host = %q\n", addr))
	writeScript(t, home, `require ["vacation"];
redirect "carol@example.net";
vacation "Away.";
`)
	toBob := strings.Replace(testMsg, "To: someone\r\n", "To: Bob <bob@example.org>\r\n", 1)
	if r := e.deliver(toBob, "-f", "alice@example.net", "-d", "bob@example.org"); r.code != 0 || r.out != "" {
		log, _ := os.ReadFile(e.log)
		t.Fatalf("exit %d output %q\n%s", r.code, r.out, log)
	}
	var got []string // "from -> to: data"
	for _, m := range k.Messages() {
		got = append(got, m.From+" -> "+strings.Join(m.To, ",")+": "+m.Data)
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "alice@example.net -> carol@example.net: ") ||
		!strings.HasPrefix(got[1], " -> alice@example.net: ") || !strings.Contains(got[1], "Away.") {
		log, _ := os.ReadFile(e.log)
		t.Fatalf("sink got %q\n%s", got, log)
	}
	if n := dirFiles(t, filepath.Join(home, "Maildir", "new")); len(n) != 0 {
		t.Fatalf("new/ = %q: redirect cancels the keep", n)
	}

}

// imap4flags keywords are stored as Dovecot stores them (letters from the
// folder's dovecot-keywords, appended to an existing file) and Dovecot
// reads them back: doveadm fetch flags shows each message's keywords.
func TestDeliverSieveKeywords(t *testing.T) {
	doveadmBin := lookDoveadm(t)
	e, home := sieveEnv(t, "")
	mdir := filepath.Join(home, "Maildir")
	writeScript(t, home, `require ["fileinto", "imap4flags", "mailbox"];
addflag ["$Label1", "Junk"];
keep;
fileinto :create :flags ["\\Seen", "NonJunk", "$label1", "\\Recent"] "Work";
`)
	if r := e.deliver(testMsg, "-f", "a@b", "-d", "bob@example.org"); r.code != 0 || r.out != "" {
		t.Fatalf("exit %d output %q", r.code, r.out)
	}
	// A second message into INBOX whose file already names a keyword
	// (as a Dovecot left it): its index is kept, the new one appended.
	writeScript(t, home, "require \"imap4flags\";\nkeep :flags [\"junk\", \"Later\"];\n")
	if r := e.deliver(strings.Replace(testMsg, "<m1@", "<m2@", 1), "-f", "a@b", "-d", "bob@example.org"); r.code != 0 || r.out != "" {
		t.Fatalf("second: exit %d output %q", r.code, r.out)
	}
	for dir, want := range map[string][]string{
		"cur":       {":2,ab", ":2,bc"},
		".Work/cur": {":2,Sab"},
	} {
		got := dirFiles(t, filepath.Join(mdir, dir))
		sort.Slice(got, func(i, j int) bool { return got[i][strings.Index(got[i], ":"):] < got[j][strings.Index(got[j], ":"):] })
		if len(got) != len(want) {
			t.Fatalf("%s = %q, want endings %q", dir, got, want)
		}
		for i := range want {
			if !strings.HasSuffix(got[i], want[i]) {
				t.Errorf("%s = %q, want endings %q", dir, got, want)
			}
		}
	}
	for file, want := range map[string]string{
		"dovecot-keywords":       "0 $Label1\n1 Junk\n2 Later\n",
		".Work/dovecot-keywords": "0 NonJunk\n1 $label1\n",
	} {
		if got, err := os.ReadFile(filepath.Join(mdir, file)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", file, got, err, want)
		}
	}
	dv := newDoveadm(t, doveadmBin, mdir, 1001)
	for folder, want := range map[string][]string{
		"INBOX": {"$Label1 Junk", "Junk Later"},
		"Work":  {"$label1 NonJunk \\Seen"},
	} {
		var got []string
		for _, line := range strings.Split(dv.run("-f", "flow", "fetch", "flags", "mailbox", folder, "all"), "\n") {
			if f, ok := strings.CutPrefix(line, "flags="); ok {
				got = append(got, sortFlags(strings.ReplaceAll(f, `\Recent`, "")))
			}
		}
		sort.Strings(got)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("doveadm fetch flags %s: %q, want %q", folder, got, want)
		}
	}
}

// Our deliveries and Dovecot (doveadm flags add, as an IMAP client's
// STORE +FLAGS) add keywords to one folder at the same time: both hold
// Dovecot's dovecot-uidlist.lock while they change dovecot-keywords, so
// no keyword is lost and no letter means two keywords; Dovecot reads
// every message's keywords back.
func TestDeliverSieveKeywordsWithDovecot(t *testing.T) {
	doveadmBin := lookDoveadm(t)
	e, home := sieveEnv(t, "")
	mdir := filepath.Join(home, "Maildir")
	writeScript(t, home, `require ["imap4flags", "variables"];
if header :matches "X-Tag" "*" { addflag "${1}"; }
keep;
`)
	first := strings.Replace(testMsg, "Subject:", "X-Tag: base\r\nSubject:", 1)
	if r := e.deliver(first, "-f", "a@b", "-d", "bob@example.org"); r.code != 0 {
		t.Fatalf("exit %d output %q", r.code, r.out)
	}
	dv := newDoveadm(t, doveadmBin, mdir, 1001)
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan string, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			msg := strings.Replace(testMsg, "Subject:", fmt.Sprintf("X-Tag: own%d\r\nSubject:", i), 1)
			msg = strings.Replace(msg, "<m1@", fmt.Sprintf("<own%d@", i), 1)
			if r := e.deliver(msg, "-f", "a@b", "-d", "bob@example.org"); r.code != 0 {
				errs <- fmt.Sprintf("deliver %d: exit %d %q", i, r.code, r.out)
			}
		}()
		go func() {
			defer wg.Done()
			cmd := exec.Command(dv.bin, "-c", dv.conf, "flags", "add", fmt.Sprintf("dove%d", i), "mailbox", "INBOX", "header", "Message-ID", "m1@example.net")
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "USER=importtest", "HOME=" + dv.home}
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Sprintf("doveadm %d: %v %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	kw, _ := os.ReadFile(filepath.Join(mdir, "dovecot-keywords"))
	names := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(kw)), "\n") {
		_, name, _ := strings.Cut(line, " ")
		if names[name] {
			t.Errorf("%q twice in dovecot-keywords:\n%s", name, kw)
		}
		names[name] = true
	}
	for i := 0; i < n; i++ {
		for _, k := range []string{fmt.Sprintf("own%d", i), fmt.Sprintf("dove%d", i)} {
			if !names[k] {
				t.Errorf("%s missing from dovecot-keywords:\n%s", k, kw)
			}
		}
	}
	// Dovecot's view: every delivered message has its keyword, the first
	// one base and every dove keyword.
	out := dv.run("-f", "flow", "fetch", "hdr.x-tag flags", "mailbox", "INBOX", "all")
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		m := regexp.MustCompile(`^hdr\.x-tag=(\S+) flags=(.*)$`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("doveadm line %q", line)
		}
		flags := " " + m[2] + " "
		if !strings.Contains(flags, " "+m[1]+" ") {
			t.Errorf("message %s: flags %q", m[1], m[2])
		}
		if m[1] == "base" {
			for i := 0; i < n; i++ {
				if !strings.Contains(flags, fmt.Sprintf(" dove%d ", i)) {
					t.Errorf("first message lacks dove%d: %q", i, m[2])
				}
			}
		}
		seen++
	}
	if seen != n+1 {
		t.Errorf("Dovecot shows %d messages, want %d", seen, n+1)
	}
}
