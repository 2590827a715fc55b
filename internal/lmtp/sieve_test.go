package lmtp

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/config"
)

// sieveEnv is the harness with [sieve] enabled, the userdb's realname
// column returned as the sieve column (the override), and conf applied.
func sieveEnv(t *testing.T, conf func(*config.Config)) *env {
	t.Helper()
	return newEnv(t, envOptions{config: func(c *config.Config) {
		c.Sieve.Enabled = true
		c.Userdb.UserQuery = strings.Replace(c.Userdb.UserQuery, " FROM users", ", realname AS sieve FROM users", 1)
		if conf != nil {
			conf(c)
		}
	}})
}

// home returns addr's home, created and owned by the user.
func (e *env) home(addr string) string {
	e.t.Helper()
	u := e.users[addr]
	h := filepath.Dir(u.maildir)
	if err := os.MkdirAll(h, 0o755); err != nil {
		e.t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(h), h} { // the domain's directory too
		if err := os.Chown(d, u.uid, u.uid); err != nil {
			e.t.Fatal(err)
		}
	}
	return h
}

// script writes a user's active script (~/.dovecot.sieve).
func (e *env) script(addr, text string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.home(addr), ".dovecot.sieve"), []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// folderFiles lists a folder's files in sub ("new", "cur").
func (e *env) folderFiles(addr, folder, sub string) []string {
	e.t.Helper()
	return e.files(addr, filepath.Join(folder, sub))
}

// transaction sends one message to rcpts over LMTP and returns the
// per-recipient replies.
func (e *env) transaction(body string, rcpts ...string) []string {
	e.t.Helper()
	return e.transactionFrom("sender@example.net", body, rcpts...)
}

// transactionFrom is transaction with the envelope sender ("" the null
// sender).
func (e *env) transactionFrom(sender, body string, rcpts ...string) []string {
	e.t.Helper()
	c := e.raw("unix")
	c.send("LHLO client.test\r\n")
	c.expect("250")
	c.send("MAIL FROM:<" + sender + ">\r\n")
	c.expect("250")
	for _, r := range rcpts {
		c.send("RCPT TO:<" + r + ">\r\n")
		c.expect("250")
	}
	c.send("DATA\r\n")
	c.expect("354")
	c.send(body + ".\r\n")
	var replies []string
	for range rcpts {
		replies = append(replies, c.reply())
	}
	return replies
}

// A fileinto with flags lands in the folder's cur/ with Dovecot's info
// (dovecot-lda 2.3 + Pigeonhole stored `fileinto :create :flags
// ["\\Seen","\\Flagged","\\Answered"] "Folder"` as .Folder/cur/...:2,FRS);
// a folder filed into twice is one copy; a user without a script gets
// INBOX as without Sieve.
func TestSieveFileIntoFlags(t *testing.T) {
	e := sieveEnv(t, nil)
	e.script("alice@domain.org", `require ["fileinto", "imap4flags", "mailbox"];
fileinto :create :flags ["\\Seen", "\\Flagged", "\\Answered"] "Folder";
fileinto :create "Other";
fileinto "Other";
`)
	got := e.transaction(msg("flags", "hello"), "alice@domain.org", "bob@foo.org")
	for _, r := range got {
		if !strings.HasPrefix(r, "250 ") {
			t.Fatalf("replies %q", got)
		}
	}
	cur := e.folderFiles("alice@domain.org", ".Folder", "cur")
	if len(cur) != 1 || !strings.HasSuffix(cur[0], ":2,FRS") {
		t.Fatalf(".Folder/cur = %q, want one file ending :2,FRS", cur)
	}
	if n := e.folderFiles("alice@domain.org", ".Folder", "new"); len(n) != 0 {
		t.Fatalf(".Folder/new = %q", n)
	}
	if n := e.folderFiles("alice@domain.org", ".Other", "new"); len(n) != 1 {
		t.Fatalf(".Other/new = %q, want one copy", n)
	}
	if n := e.files("alice@domain.org", "new"); len(n) != 0 {
		t.Fatalf("INBOX got %q: fileinto cancels the implicit keep", n)
	}
	if !strings.Contains(e.only("bob@foo.org"), "Subject: flags") {
		t.Fatal("bob's copy")
	}
}

// reject answers that recipient 550 5.7.1 with the reason and stores
// nothing; ereject too; the other recipient of the transaction is
// delivered. discard stores nothing and succeeds.
func TestSieveRejectDiscard(t *testing.T) {
	e := sieveEnv(t, nil)
	e.script("alice@domain.org", "require \"reject\";\nreject \"not wanted here\";\n")
	e.script("carol@domain.org", "require \"ereject\";\nereject \"go away\";\n")
	e.script("bob@foo.org", "discard;\n")
	got := e.transaction(msg("reject", "x"), "alice@domain.org", "carol@domain.org", "bob@foo.org", "josé@domain.org")
	want := []string{"550 5.7.1 <alice@domain.org> not wanted here ", "550 5.7.1 <carol@domain.org> go away ", "250 ", "250 "}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Fatalf("reply %d = %q, want %q (all: %q)", i, got[i], w, got)
		}
	}
	for _, a := range []string{"alice@domain.org", "carol@domain.org", "bob@foo.org"} {
		if n := e.files(a, "new"); len(n) != 0 {
			t.Errorf("%s: new/ = %q", a, n)
		}
	}
	if l := e.deliveryLines("bob@foo.org"); len(l) != 1 || !strings.Contains(l[0], "result=discarded") {
		t.Fatalf("bob's delivery line %q", l)
	}
	e.only("josé@domain.org")
}

// The userdb's sieve column overrides [sieve] script.
func TestSieveUserdbColumn(t *testing.T) {
	e := sieveEnv(t, nil)
	e.script("alice@domain.org", "discard;\n") // not the active one
	own := filepath.Join(e.home("alice@domain.org"), "own.sieve")
	if err := os.WriteFile(own, []byte("require [\"fileinto\", \"mailbox\"];\nfileinto :create \"Own\";\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE users SET realname = 'own.sieve' WHERE userid = 'alice@domain.org'`); err != nil {
		t.Fatal(err)
	}
	if r := e.transaction(msg("own", "x"), "alice@domain.org"); !strings.HasPrefix(r[0], "250 ") {
		t.Fatalf("reply %q", r)
	}
	if n := e.folderFiles("alice@domain.org", ".Own", "new"); len(n) != 1 {
		t.Fatalf(".Own/new = %q: the sieve column (relative to the home) was not used", n)
	}
}
