package maildir

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// dovecotLDA is Debian's dovecot-lda (dovecot-core); Pigeonhole's plugin
// is dovecot-sieve.
const dovecotLDA = "/usr/lib/dovecot/dovecot-lda"

// prefixNamings are the inbox namespaces the differential test configures
// in Dovecot: seed 002's (prefix INBOX., separator .), its "/" variant,
// LAYOUT=fs, a prefix that is not INBOX, and none.
var prefixNamings = []struct {
	n   Naming
	loc string // mail_location options
	sep string
}{
	{Naming{Prefix: "INBOX."}, "", "."},
	{Naming{Sep: '/', Prefix: "INBOX/"}, "", "/"},
	{Naming{Layout: FS, Sep: '.', Prefix: "INBOX."}, ":LAYOUT=fs", "."},
	{Naming{Prefix: "Mail."}, "", "."},
	{Naming{}, "", "."}, // no prefix: the same names, as most sites have them
	{Naming{Layout: FS}, ":LAYOUT=fs", "/"},
}

// prefixNames are folder names as a site with a namespace prefix hands
// them over (-m, +detail, Roundcube's fileinto).
var prefixNames = []string{
	"INBOX", "inbox", "INBOX.Junk", "inbox.Junk", "Inbox.Junk", "Junk", "INBOX.INBOX", "INBOX.Inbox",
	"INBOX.inbox", "INBOX.INBOX.x", "INBOX.a.b", "INBOX.", "inbox.", "INBOX.Junk.", "INBOX..x",
	"INBOXJunk", "INBOX.x/y", "INBOX.Straße", "INBOX/Junk", "inbox/x", "INBOX/a/b", "INBOX/a.b",
	"INBOX/", "Mail.Junk", "mail.Junk", "Mail", "Mail.INBOX", "INBOX. x", "INBOX.cur",
}

// TestPrefixDifferential delivers every name of prefixNames with
// dovecot-lda -m and with Pigeonhole's fileinto, for every namespace of
// prefixNamings, and checks that Naming.FolderPath puts it where Dovecot
// did, subscribes it as Dovecot did, and refuses exactly the names
// Dovecot could not use (it then saved to INBOX; Pigeonhole logged an
// error and kept the message). Without dovecot-lda it skips, unless
// MAILDELIVER_REQUIRE_DOVECOT=1 (scripts/test.sh): then it fails.
func TestPrefixDifferential(t *testing.T) {
	if _, err := os.Stat(dovecotLDA); err != nil {
		if os.Getenv("MAILDELIVER_REQUIRE_DOVECOT") == "1" {
			t.Fatalf("%s (Debian dovecot-core, dovecot-sieve) is required: %v", dovecotLDA, err)
		}
		t.Skipf("%s not installed; MAILDELIVER_REQUIRE_DOVECOT=1 fails instead", dovecotLDA)
	}
	base := t.TempDir()
	cred := ldaCredential(t, base)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, pn := range prefixNamings {
		for j, name := range prefixNames {
			for _, mode := range []string{"-m", "fileinto", "mailboxexists"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					dir := filepath.Join(base, fmt.Sprintf("%d-%d-%s", i, j, mode))
					if mode == "mailboxexists" {
						// Folders Junk, a.b and INBOX.x exist (a does
						// not: with LAYOUT=fs it is a plain directory).
						pre := []string{}
						for _, f := range []string{"Junk", "a" + pn.sep + "b", "INBOX" + pn.sep + "x"} {
							p, _ := pn.n.FolderPath(pn.n.Prefix + f)
							pre = append(pre, p.Dir)
						}
						got := runLDA(t, dir, cred, pn.loc, pn.n.Prefix, pn.sep, mode, name, pre...)
						if exists := pn.n.FolderExists(filepath.Join(dir, "Maildir"), name); exists != (got.copies == 0) {
							t.Errorf("prefix %q sep %q%s, mailboxexists %q: Pigeonhole %v, FolderExists %v (log:\n%s)",
								pn.n.Prefix, pn.sep, pn.loc, name, got.copies == 0, exists, got.log)
						}
						return
					}
					got := runLDA(t, dir, cred, pn.loc, pn.n.Prefix, pn.sep, mode, name)
					if got.copies != 1 {
						t.Errorf("dovecot-lda %s %q: stored %d copies\n%s", mode, name, got.copies, got.log)
						return
					}
					want := ldaOutcome{subs: "V\t2\n\n", copies: 1}
					p, ok := pn.n.FolderPath(name)
					if ok {
						want.dir = p.Dir
						if p.Dir != "" {
							add, _ := addSubscription(nil, pn.n, p.Levels)
							want.subs = string(add)
						}
					}
					want.failed = !ok
					log := got.log
					if pn.n.Prefix == "Mail." && name == "Mail" {
						// Kept on purpose: Dovecot stores into the INBOX
						// (the root of an inbox=yes namespace) as we do,
						// but subscribes "" (an empty line); we add no
						// subscription for the INBOX.
						got.subs = want.subs
					}
					if got.log = ""; got != want {
						t.Errorf("prefix %q sep %q%s, %s %q: Dovecot dir %q failed %v subs %q; FolderPath dir %q failed %v subs %q (log:\n%s)",
							pn.n.Prefix, pn.sep, pn.loc, mode, name, got.dir, got.failed, got.subs, want.dir, want.failed, want.subs, log)
					}
				}()
			}
		}
	}
	wg.Wait()
}

// ldaOutcome is where dovecot-lda stored the message ("" INBOX), the
// subscriptions file it left, and whether it could not use the name.
type ldaOutcome struct {
	dir, subs string
	failed    bool
	log       string
	copies    int
}

// runLDA delivers one message with dovecot-lda into dir/Maildir: to name
// with -m, with a Sieve script fileinto name, or (mailboxexists) one that
// discards it when mailbox name exists; pre are folder directories made
// first. Autocreate and autosubscribe are on, as maildeliver's defaults.
func runLDA(t *testing.T, dir string, cred *syscall.Credential, loc, prefix, sep, mode, name string, pre ...string) ldaOutcome {
	t.Helper()
	for _, p := range pre {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, "Maildir", p, sub), 0o700); err != nil {
				t.Error(err)
			}
		}
		if !strings.Contains(loc, "LAYOUT=fs") {
			os.WriteFile(filepath.Join(dir, "Maildir", p, "maildirfolder"), nil, 0o600)
		}
	}
	for _, d := range []string{"run", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Error(err)
			return ldaOutcome{}
		}
	}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
info_log_path = %[1]s/dovecot.log
ssl = no
first_valid_uid = 0
mail_location = maildir:%[1]s/Maildir%[2]s
namespace inbox {
  inbox = yes
  prefix = %[3]s
  separator = %[4]s
}
lda_mailbox_autocreate = yes
lda_mailbox_autosubscribe = yes
protocol lda {
  mail_plugins = sieve
}
plugin {
  sieve = %[1]s/test.sieve
}
`, dir, loc, prefix, sep)
	quoted := strings.ReplaceAll(name, `"`, `\"`)
	script := fmt.Sprintf("require \"fileinto\";\nfileinto \"%s\";\n", quoted)
	if mode == "mailboxexists" {
		script = fmt.Sprintf("require \"mailbox\";\nif mailboxexists \"%s\" { discard; }\n", quoted)
	}
	os.WriteFile(filepath.Join(dir, "dovecot.conf"), []byte(conf), 0o644)
	args := []string{"-c", filepath.Join(dir, "dovecot.conf")}
	if mode == "-m" {
		args = append(args, "-m", name)
	} else {
		os.WriteFile(filepath.Join(dir, "test.sieve"), []byte(script), 0o644)
	}
	chownTree(t, dir, cred)
	cmd := exec.Command(dovecotLDA, args...)
	cmd.Stdin = strings.NewReader("From: a@example.org\nTo: b@example.org\nSubject: t\n\nhi\n")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "USER=prefixtest"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("dovecot-lda %q: %v\n%s", args, err, out.String())
	}
	log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
	res := ldaOutcome{log: string(log) + out.String(), subs: "V\t2\n\n"}
	// -m: "save failed to open mailbox"; Pigeonhole: "failed to store",
	// or for an invalid name only "Execution of script ... failed".
	res.failed = strings.Contains(res.log, "save failed") || strings.Contains(res.log, "failed to store") ||
		strings.Contains(res.log, "failed, but implicit keep")
	root := filepath.Join(dir, "Maildir")
	var where []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(p)) == "new" {
			rel, _ := filepath.Rel(root, filepath.Dir(filepath.Dir(p)))
			if rel == "." {
				rel = "" // INBOX
			}
			where = append(where, rel)
		}
		return nil
	})
	if res.copies = len(where); res.copies == 1 {
		res.dir = where[0]
	}
	if b, err := os.ReadFile(filepath.Join(root, "subscriptions")); err == nil {
		res.subs = string(b)
	}
	return res
}

// ldaCredential is who runs dovecot-lda: ourselves, or nobody when we are
// root (Dovecot refuses mail access as root), with base reachable.
func ldaCredential(t *testing.T, base string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	for dir := base; dir != filepath.Dir(dir) && strings.HasPrefix(dir, os.TempDir()+"/"); dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}
}

// chownTree gives dir to the dovecot-lda user.
func chownTree(t *testing.T, dir string, cred *syscall.Credential) {
	t.Helper()
	if cred == nil {
		return
	}
	filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			err = os.Lchown(p, int(cred.Uid), int(cred.Gid))
		}
		if err != nil {
			t.Error(err)
		}
		return nil
	})
}
