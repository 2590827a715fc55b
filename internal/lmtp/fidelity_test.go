package lmtp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/config"
)

// A recipient in any letter case is canonicalised once ([userdb]
// username_format, default %Lu, as Dovecot's auth_username_format): the
// lookup, the mailbox, Delivered-To and the RCPT-time quota check are the
// lower-case user's. The reply names the recipient as the client wrote it.
func TestMixedCaseRecipient(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) {
		c.Userdb.UsernameFormat = "%Lu"
		c.Quota.Default = "2k"
	}})
	c := e.raw("unix")
	c.send("LHLO client.test\r\n")
	c.expect("250-")
	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<Alice@Domain.ORG>\r\nRCPT TO:<Carol+News@DOMAIN.org>\r\nDATA\r\n")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("mixed", "x") + ".\r\n")
	savedID(t, c.reply(), "Alice@Domain.ORG")
	savedID(t, c.reply(), "Carol+News@DOMAIN.org")
	if m := e.only("alice@domain.org"); !strings.Contains(m, "\nDelivered-To: alice@domain.org\n") {
		t.Errorf("alice got %q", m)
	}
	// The detail keeps the case it was written in (Dovecot's LMTP splits
	// it off before the user name is folded), and the new folder is
	// subscribed.
	carol := e.users["carol@domain.org"].maildir
	ents, err := os.ReadDir(filepath.Join(carol, ".News", "new"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("carol's .News: %v, %v", ents, err)
	}
	if subs, err := os.ReadFile(filepath.Join(carol, "subscriptions")); err != nil || string(subs) != "V\t2\n\nNews\n" {
		t.Errorf("subscriptions %q, %v", subs, err)
	}
	// RCPT-time quota (SIZE) is the canonical user's.
	c.send("MAIL FROM:<s@example.net> SIZE=5000\r\nRCPT TO:<ALICE@domain.org>\r\nRSET\r\n")
	c.expect("250 ")
	c.expect("552 5.2.2 ")
	c.expect("250 ")
}

// LAYOUT=fs and UTF-8 from the location: +detail a/b goes to <maildir>/a/b
// with UTF-8 names, and INBOX= moves only the INBOX.
func TestLocationOptions(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) {
		c.Userdb.UsernameFormat = "%Lu"
		c.Mail.Location = "maildir:~/Maildir:LAYOUT=fs:UTF-8:INBOX=~/inbox"
	}})
	c := e.raw("unix")
	c.send("LHLO client.test\r\n")
	c.expect("250-")
	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<alice+Straße@domain.org>\r\nRCPT TO:<carol@domain.org>\r\nDATA\r\n")
	for range 4 {
		c.reply()
	}
	c.send(msg("fs", "x") + ".\r\n")
	savedID(t, c.reply(), "alice+Straße@domain.org")
	savedID(t, c.reply(), "carol@domain.org")
	alice := e.users["alice@domain.org"].maildir
	if ents, err := os.ReadDir(filepath.Join(alice, "Straße", "new")); err != nil || len(ents) != 1 {
		t.Errorf("alice's Straße: %v, %v", ents, err)
	}
	if _, err := os.Stat(filepath.Join(alice, "Straße", "maildirfolder")); !os.IsNotExist(err) {
		t.Errorf("maildirfolder in an fs-layout folder: %v", err)
	}
	carolHome := filepath.Dir(e.users["carol@domain.org"].maildir)
	if ents, err := os.ReadDir(filepath.Join(carolHome, "inbox", "new")); err != nil || len(ents) != 1 {
		t.Errorf("carol's INBOX= directory: %v, %v", ents, err)
	}
}

// With Dovecot's inbox namespace prefix (seed 002: INBOX., separator .),
// +detail names the folder prefix + detail, as Dovecot 2.3's LMTP does
// (lmtp-local.c: the inbox namespace's prefix before the detail): +News
// is INBOX.News, stored in .News and subscribed as News; +INBOX is
// INBOX.INBOX, the INBOX.
func TestDetailNamespacePrefix(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) {
		c.Mail.Prefix, c.Mail.Separator = "INBOX.", "."
	}})
	c := e.raw("unix")
	c.send("LHLO client.test\r\n")
	c.expect("250-")
	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<carol+News@domain.org>\r\nRCPT TO:<alice+INBOX@domain.org>\r\nDATA\r\n")
	for range 4 {
		c.reply()
	}
	c.send(msg("prefix", "x") + ".\r\n")
	savedID(t, c.reply(), "carol+News@domain.org")
	savedID(t, c.reply(), "alice+INBOX@domain.org")
	carol, alice := e.users["carol@domain.org"].maildir, e.users["alice@domain.org"].maildir
	if ents, err := os.ReadDir(filepath.Join(carol, ".News", "new")); err != nil || len(ents) != 1 {
		t.Errorf("carol's .News: %v, %v", ents, err)
	}
	if subs, err := os.ReadFile(filepath.Join(carol, "subscriptions")); err != nil || string(subs) != "V\t2\n\nNews\n" {
		t.Errorf("subscriptions %q, %v", subs, err)
	}
	if ents, err := os.ReadDir(filepath.Join(alice, "new")); err != nil || len(ents) != 1 {
		t.Errorf("alice's INBOX: %v, %v", ents, err)
	}
	for _, absent := range []string{filepath.Join(carol, ".INBOX.News"), filepath.Join(alice, ".INBOX")} {
		if _, err := os.Stat(absent); !os.IsNotExist(err) {
			t.Errorf("%s exists", absent)
		}
	}
}
