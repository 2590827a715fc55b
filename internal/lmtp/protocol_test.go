package lmtp

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
)

var savedRe = regexp.MustCompile(`^250 2\.0\.0 <([^>]+)> saved as ([a-z0-9]{16})$`)

// savedID checks a "250 2.0.0 <rcpt> saved as <id>" reply and returns id.
func savedID(t *testing.T, reply, rcpt string) string {
	t.Helper()
	m := savedRe.FindStringSubmatch(reply)
	if m == nil || m[1] != rcpt {
		t.Fatalf("reply %q, want 250 2.0.0 <%s> saved as <id>", reply, rcpt)
	}
	return m[2]
}

func withDSN(c *config.Config) { c.LMTP.DSN = true }

func TestCapabilities(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, network := range []string{"unix", "tcp"} {
		c := e.raw(network)
		c.send("LHLO client.test\r\n")
		r := c.expect("250-")
		for _, want := range []string{"PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SIZE 52428800",
			"SMTPUTF8", "CHUNKING"} {
			if !regexp.MustCompile(`(?m)^250[- ]` + want + `$`).MatchString(r) {
				t.Errorf("%s: LHLO reply lacks %s:\n%s", network, want, r)
			}
		}
		// DSN is on by default ([lmtp] dsn); the patched go-smtp takes
		// Postfix's ORCPT for an SMTPUTF8 recipient (TestORCPT).
		if !regexp.MustCompile(`(?m)^250[- ]DSN$`).MatchString(r) {
			t.Errorf("%s: DSN not advertised by default:\n%s", network, r)
		}
		c.send("EHLO client.test\r\n")
		c.expect("500 5.5.1")
		c.send("QUIT\r\n")
		c.expect("221 ")
	}
}

// TestDeliver runs a two-recipient transaction with go-smtp's client on
// both kinds of listener and checks the replies and the files.
func TestDeliver(t *testing.T) {
	e := newEnv(t, envOptions{config: withDSN})
	for _, network := range []string{"unix", "tcp"} {
		c := e.client(network)
		if err := c.Mail("sender@example.net", &smtp.MailOptions{Size: 200}); err != nil {
			t.Fatal(err)
		}
		orcpt := &smtp.RcptOptions{OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "info@domain.org"}
		if err := c.Rcpt("alice@domain.org", orcpt); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("bob@foo.org", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, msg("hello-"+network, "Hi there.", "Bye."))
		resp, err := w.CloseWithLMTPResponse()
		if err != nil {
			t.Fatalf("DATA: %v", err)
		}
		id := savedID(t, "250 "+resp["alice@domain.org"].StatusText, "alice@domain.org")
		if id2 := savedID(t, "250 "+resp["bob@foo.org"].StatusText, "bob@foo.org"); id2 != id {
			t.Errorf("one transaction, two ids: %s %s", id, id2)
		}
		c.Quit()

		remote := "local"
		if network == "tcp" {
			remote = "[127.0.0.1]"
		}
		for _, m := range []struct{ rcpt, extra string }{
			{"alice@domain.org", "X-Original-To: info@domain.org\n"},
			{"bob@foo.org", ""},
		} {
			var got string
			for _, s := range e.messages(m.rcpt) {
				if strings.Contains(s, "hello-"+network) {
					got = s
				}
			}
			wantTop := "Return-Path: <sender@example.net>\nDelivered-To: " + m.rcpt + "\n" + m.extra +
				"Received: from client.test (" + remote + ")\n\tby mx.test with LMTP id " + id + "\n\tfor <" + m.rcpt + ">; "
			if !strings.HasPrefix(got, wantTop) {
				t.Errorf("%s: file starts\n%q\nwant\n%q", m.rcpt, got[:min(len(got), len(wantTop))], wantTop)
			}
			if !strings.HasSuffix(got, "Subject: hello-"+network+"\nMessage-ID: <hello-"+network+"@example.net>\n\nHi there.\nBye.\n") {
				t.Errorf("%s: file ends badly:\n%s", m.rcpt, got)
			}
			if strings.Contains(got, "\r") {
				t.Errorf("%s: CR left in file", m.rcpt)
			}
		}
	}
	for addr := range e.users {
		if tmp := e.files(addr, "tmp"); len(tmp) != 0 {
			t.Errorf("%s: tmp/ holds %v", addr, tmp)
		}
	}
}

// TestPipelining sends two whole transactions in one write.
func TestPipelining(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<sender@example.net>\r\nRCPT TO:<alice@domain.org>\r\n" +
		"RCPT TO:<bob@foo.org>\r\nDATA\r\n" + msg("one", "first") + ".\r\n" +
		"MAIL FROM:<>\r\nRCPT TO:<carol@domain.org>\r\nDATA\r\n" + msg("two", "second") + ".\r\nQUIT\r\n")
	c.expect("250-")
	c.expect("250 2.0.0")
	c.expect("250 2.0.0")
	c.expect("250 2.0.0")
	c.expect("354 ")
	savedID(t, c.reply(), "alice@domain.org")
	savedID(t, c.reply(), "bob@foo.org")
	c.expect("250 2.0.0")
	c.expect("250 2.0.0")
	c.expect("354 ")
	savedID(t, c.reply(), "carol@domain.org")
	c.expect("221 ")
	if m := e.only("carol@domain.org"); !strings.HasPrefix(m, "Return-Path: <>\n") || !strings.HasSuffix(m, "\n\nsecond\n") {
		t.Errorf("carol: %q", m)
	}
	e.only("alice@domain.org")
	e.only("bob@foo.org")
}

// TestBareLF: commands and message lines may end in a bare LF, but only
// CRLF.CRLF ends DATA: a bare-LF "." line is content (no SMTP smuggling of
// a second transaction).
func TestBareLF(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.raw("tcp")
	c.send("LHLO client.test\nMAIL FROM:<sender@example.net>\nRCPT TO:<alice@domain.org>\nDATA\n")
	c.expect("250-")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	c.send("Subject: lf\n\nline1\n.\nMAIL FROM:<evil@example.net>\nRCPT TO:<bob@foo.org>\nDATA\nline3\r\n.\r\nQUIT\n")
	savedID(t, c.reply(), "alice@domain.org")
	c.expect("221 ")
	want := "Subject: lf\n\nline1\n.\nMAIL FROM:<evil@example.net>\nRCPT TO:<bob@foo.org>\nDATA\nline3\n"
	if m := e.only("alice@domain.org"); !strings.HasSuffix(m, want) {
		t.Errorf("file:\n%q\nwant suffix\n%q", m, want)
	}
	if n := e.files("bob@foo.org", "new"); len(n) != 0 {
		t.Errorf("smuggled delivery to bob: %v", n)
	}
}

// TestDotStuffing: lines starting with "." survive both ways of sending.
func TestDotStuffing(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := []string{".", "..", ".leading", "...three", "mid.dle", ". space"}
	want := "\n\n.\n..\n.leading\n...three\nmid.dle\n. space\n"

	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n")
	for range 4 {
		c.reply()
	}
	var stuffed []string
	for _, l := range body {
		stuffed = append(stuffed, "."+l)
	}
	c.send(msg("raw", stuffed...) + ".\r\n")
	savedID(t, c.reply(), "alice@domain.org")

	gc := e.client("tcp")
	if err := gc.SendMail("s@example.net", []string{"bob@foo.org"}, strings.NewReader(msg("client", body...))); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"alice@domain.org", "bob@foo.org"} {
		if m := e.only(addr); !strings.HasSuffix(m, want) {
			t.Errorf("%s: %q, want suffix %q", addr, m, want)
		}
	}
}

// TestBDAT: CHUNKING in LMTP mode, chunks taken verbatim (no dot-unstuffing).
func TestBDAT(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.MaxMessageSize = 1 << 10 }})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRCPT TO:<bob@foo.org>\r\n")
	for range 4 {
		c.reply()
	}
	one, two := "Subject: bdat\r\n\r\n..not stuffed\r\n", ".\r\nend\r\n"
	c.send("BDAT " + itoa(len(one)) + "\r\n" + one)
	c.expect("250 2.0.0")
	c.send("BDAT " + itoa(len(two)) + " LAST\r\n" + two)
	savedID(t, c.reply(), "alice@domain.org")
	savedID(t, c.reply(), "bob@foo.org")
	for _, addr := range []string{"alice@domain.org", "bob@foo.org"} {
		if m := e.only(addr); !strings.HasSuffix(m, "Subject: bdat\n\n..not stuffed\n.\nend\n") {
			t.Errorf("%s: %q", addr, m)
		}
	}
	// Over max_message_size: 552 5.3.4, and the session goes on.
	big := strings.Repeat("x", 2000)
	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<carol@domain.org>\r\nBDAT 2000 LAST\r\n" + big)
	c.expect("250 ")
	c.expect("250 ")
	c.expect("552 5.3.4")
	c.send("NOOP\r\n")
	c.expect("250 ")
	if n := e.files("carol@domain.org", "new"); len(n) != 0 {
		t.Errorf("carol: %v", n)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestLongLines: a line over the limit is answered, never crashes, and
// delivers nothing.
func TestLongLines(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nNOOP " + strings.Repeat("a", maxLineLength+10) + "\r\n")
	c.expect("250-")
	if got := c.closed(); len(got) != 1 || !strings.HasPrefix(got[0], "421 4.5.0") {
		t.Errorf("long command: got %q", got)
	}

	c = e.raw("tcp")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRCPT TO:<bob@foo.org>\r\nDATA\r\n")
	for range 5 {
		c.reply()
	}
	c.send("Subject: long\r\n\r\n" + strings.Repeat("b", maxLineLength+10) + "\r\n.\r\n")
	got := c.closed()
	if len(got) < 2 || !strings.HasPrefix(got[0], "451 4.6.0 <alice@domain.org>") ||
		!strings.HasPrefix(got[1], "451 4.6.0 <bob@foo.org>") {
		t.Errorf("long data line: got %q", got)
	}
	for _, r := range got {
		if !strings.HasPrefix(r, "4") { // the connection ends: 421, not 500
			t.Errorf("long data line: reply %q", r)
		}
	}
	e.stop()
	e.noMail()
}

// TestRecipientOutcomes: each recipient gets its own reply, in RCPT order,
// and one recipient's failure changes nothing for the others.
func TestRecipientOutcomes(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.raw("unix")
	c.send("LHLO client.test\r\n")
	c.expect("250-")

	// Unknown in the middle: refused at RCPT.
	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRCPT TO:<nobody@domain.org>\r\n" +
		"RCPT TO:<carol@domain.org>\r\nDATA\r\n")
	c.expect("250 ")
	c.expect("250 ")
	if r := c.reply(); !regexp.MustCompile(`^550 5\.1\.1 <nobody@domain\.org>: user unknown \[[a-z0-9]{16}\]$`).MatchString(r) {
		t.Errorf("unknown user: %q", r)
	}
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("unknown", "x") + ".\r\n")
	savedID(t, c.reply(), "alice@domain.org")
	savedID(t, c.reply(), "carol@domain.org")

	// Looping in the middle: refused after DATA with its own 554.
	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRCPT TO:<carol@domain.org>\r\n" +
		"RCPT TO:<bob@foo.org>\r\nDATA\r\n")
	for range 5 {
		c.reply()
	}
	c.send("Received: from elsewhere\r\nDelivered-To: carol@domain.org\r\n" + msg("loop", "x") + ".\r\n")
	savedID(t, c.reply(), "alice@domain.org")
	c.expect("554 5.4.6 <carol@domain.org>")
	savedID(t, c.reply(), "bob@foo.org")

	if n := len(e.messages("alice@domain.org")); n != 2 {
		t.Errorf("alice: %d files, want 2", n)
	}
	if m := e.only("carol@domain.org"); !strings.Contains(m, "Subject: unknown") {
		t.Errorf("carol got %q", m)
	}
	if m := e.only("bob@foo.org"); !strings.Contains(m, "Subject: loop") {
		t.Errorf("bob got %q", m)
	}
}

func TestTooManyRecipients(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.MaxRecipients = 2 }})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\n" +
		"RCPT TO:<bob@foo.org>\r\nRCPT TO:<carol@domain.org>\r\nDATA\r\n")
	for range 4 {
		c.reply()
	}
	c.expect("452 4.5.3 too many recipients [")
	c.expect("354 ")
	c.send(msg("many", "x") + ".\r\n")
	savedID(t, c.reply(), "alice@domain.org")
	savedID(t, c.reply(), "bob@foo.org")
	c.send("QUIT\r\n")
	c.expect("221 ")
	if n := e.files("carol@domain.org", "new"); len(n) != 0 {
		t.Errorf("carol: %v", n)
	}
}

func TestSizeLimits(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.MaxMessageSize = 1 << 10 }})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net> SIZE=5000\r\n")
	c.expect("250-")
	c.expect("552 5.3.4")
	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRCPT TO:<bob@foo.org>\r\nDATA\r\n")
	for range 4 {
		c.reply()
	}
	c.send(msg("big", strings.Repeat("y", 3000)) + ".\r\n")
	c.expect("552 5.3.4 <alice@domain.org> message exceeds the size limit [")
	c.expect("552 5.3.4 <bob@foo.org>")
	// The connection is still in step.
	c.send("MAIL FROM:<s@example.net> SIZE=100\r\nRCPT TO:<carol@domain.org>\r\nDATA\r\n")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("small", "z") + ".\r\n")
	savedID(t, c.reply(), "carol@domain.org")
	if n := e.files("alice@domain.org", "new"); len(n) != 0 {
		t.Errorf("alice: %v", n)
	}
}

// TestSpool: messages past spool_memory go through an unnamed file in
// spool_dir and arrive intact; nothing stays in spool_dir.
func TestSpool(t *testing.T) {
	for _, mem := range []config.Size{0, 1 << 10, 1 << 20} {
		e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.SpoolMemory = mem }})
		var lines []string
		for i := range 5000 {
			lines = append(lines, "line "+itoa(i)+" "+strings.Repeat("q", i%70))
		}
		m := msg("spool", lines...)
		gc := e.client("unix")
		if err := gc.SendMail("s@example.net", []string{"alice@domain.org", "bob@foo.org"}, strings.NewReader(m)); err != nil {
			t.Fatal(err)
		}
		want := strings.ReplaceAll(m, "\r\n", "\n")
		for _, addr := range []string{"alice@domain.org", "bob@foo.org"} {
			if got := e.only(addr); !strings.HasSuffix(got, "\n"+want) {
				t.Errorf("spool_memory=%d %s: body differs (len %d, want suffix len %d)", mem, addr, len(got), len(want))
			}
		}
		ents, _ := os.ReadDir(e.cfg.LMTP.SpoolDir)
		if len(ents) != 0 {
			t.Errorf("spool_dir not empty: %v", ents)
		}
	}
}

func TestDuplicateRecipient(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n")
	for range 5 {
		c.reply()
	}
	c.send(msg("dup", "x") + ".\r\n")
	savedID(t, c.reply(), "alice@domain.org")
	savedID(t, c.reply(), "alice@domain.org")
	e.only("alice@domain.org")
}

func TestSequenceErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nRCPT TO:<alice@domain.org>\r\nMAIL FROM:<s@example.net>\r\nMAIL FROM:<s@example.net>\r\n")
	c.expect("250-")
	c.expect("503 5.5.1")
	c.expect("250 ")
	c.expect("503 5.5.1 nested MAIL command [")
	c.send("RSET\r\nMAIL FROM:<s@example.net>\r\n")
	c.expect("250 ")
	c.expect("250 ")
}

func TestSMTPUTF8(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.raw("tcp")
	c.send("LHLO client.test\r\nMAIL FROM:<sender@example.net> SMTPUTF8\r\nRCPT TO:<josé@domain.org>\r\nDATA\r\n")
	for range 4 {
		c.reply()
	}
	c.send("Subject: ça va\r\n\r\nnaïve\r\n.\r\n")
	savedID(t, c.reply(), "josé@domain.org")
	if m := e.only("josé@domain.org"); !strings.Contains(m, "Delivered-To: josé@domain.org\n") ||
		!strings.HasSuffix(m, "Subject: ça va\n\nnaïve\n") {
		t.Errorf("file: %q", m)
	}
}

// panicky is a userdb that panics for one address.
type panicky struct{ lookup.Userdb }

func (p panicky) Lookup(ctx context.Context, addr string) (*lookup.User, error) {
	if strings.HasPrefix(addr, "panic@") {
		panic("planted panic")
	}
	return p.Userdb.Lookup(ctx, addr)
}

func (panicky) Close() error { return nil }

// TestPanicInSession: a panic answers 451 for that command only.
func TestPanicInSession(t *testing.T) {
	e := newEnv(t, envOptions{open: func(c *config.Config) (lookup.Userdb, error) {
		db, err := lookup.Open(c.Userdb, c.Mail.RecipientDelimiter)
		return panicky{db}, err
	}})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\n" +
		"RCPT TO:<panic@domain.org>\r\nRCPT TO:<carol@domain.org>\r\nDATA\r\n")
	c.expect("250-")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("451 4.3.0 internal error")
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("after-panic", "x") + ".\r\n")
	savedID(t, c.reply(), "alice@domain.org")
	savedID(t, c.reply(), "carol@domain.org")
	if !strings.Contains(e.logs.String(), "planted panic") {
		t.Error("panic not logged")
	}
}

// TestUserdbDown: a userdb that cannot be reached is 451 4.3.0, never 5xx.
func TestUserdbDown(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) {
		c.Userdb = config.Userdb{Driver: "pgsql", Connect: "host=127.0.0.1 port=1 dbname=x user=x password=hunter2",
			UserQuery: "SELECT home, uid, gid FROM users WHERE userid = '%u'", Timeout: c.Userdb.Timeout, MaxConnections: 2}
	}})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRCPT TO:<bob@foo.org>\r\n")
	c.expect("250-")
	c.expect("250 ")
	for range 2 {
		r := c.expect("451 4.3.0 ")
		if strings.Contains(r, "hunter2") || strings.Contains(r, "127.0.0.1") {
			t.Errorf("internal detail in reply: %q", r)
		}
	}
}

// TestMultiUID: one transaction, two mailbox owners; each file belongs to
// its user (lmtpd as root switches the fs identity per delivery thread).
func TestMultiUID(t *testing.T) {
	requireRoot(t, "to deliver as two uids")
	e := newEnv(t, envOptions{})
	gc := e.client("unix")
	if err := gc.SendMail("s@example.net", []string{"alice@domain.org", "bob@foo.org"}, strings.NewReader(msg("uid", "x"))); err != nil {
		t.Fatal(err)
	}
	for addr, uid := range map[string]int{"alice@domain.org": 1001, "bob@foo.org": 1002} {
		md := e.users[addr].maildir
		names := e.files(addr, "new")
		if len(names) != 1 {
			t.Fatalf("%s: %v", addr, names)
		}
		for _, p := range []string{filepath.Join(md, "new", names[0]), md, filepath.Join(md, "new"), filepath.Join(md, "tmp")} {
			if got := owner(t, p); got != uid {
				t.Errorf("%s owned by %d, want %d", p, got, uid)
			}
		}
	}
}

// TestQuota: over quota at RCPT when MAIL has SIZE=, and after DATA when it
// has not, with the [quota] full policy's code; the others are unaffected.
func TestQuota(t *testing.T) {
	for _, tc := range []struct{ policy, code string }{{"bounce", "552 5.2.2"}, {"defer", "452 4.2.2"}} {
		e := newEnv(t, envOptions{config: func(c *config.Config) {
			c.Quota.Default = "2k"
			c.Quota.Full = tc.policy
		}})
		c := e.raw("unix")
		c.send("LHLO client.test\r\nMAIL FROM:<s@example.net> SIZE=5000\r\nRCPT TO:<alice@domain.org>\r\nRSET\r\n")
		c.expect("250-")
		c.expect("250 ")
		c.expect(tc.code + " <alice@domain.org>: mailbox is full [")
		c.expect("250 ")

		c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRCPT TO:<bob@foo.org>\r\nDATA\r\n")
		for range 4 {
			c.reply()
		}
		c.send(msg("quota-"+tc.policy, strings.Repeat("q", 3000)) + ".\r\n")
		c.expect(tc.code + " <alice@domain.org>")
		c.expect(tc.code + " <bob@foo.org>")

		c.send("MAIL FROM:<s@example.net> SIZE=300\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n")
		for range 3 {
			c.reply()
		}
		c.send(msg("small-"+tc.policy, "fits") + ".\r\n")
		savedID(t, c.reply(), "alice@domain.org")
		e.only("alice@domain.org")
		if n := e.files("bob@foo.org", "new"); len(n) != 0 {
			t.Errorf("bob: %v", n)
		}
	}
}

// TestUTF8RecipientDefault: what Postfix sends for an SMTPUTF8 recipient is
// delivered with the default config, with and without its ORCPT (the
// ORCPT forms: TestORCPT).
func TestUTF8RecipientDefault(t *testing.T) {
	e := newEnv(t, envOptions{}) // josé@domain.org is a default user
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net> SMTPUTF8\r\nRCPT TO:<josé@domain.org>\r\nDATA\r\n")
	c.expect("250-")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("utf8", "body") + ".\r\n")
	c.expect("250 2.0.0 <josé@domain.org>")
	c.send("MAIL FROM:<s@example.net> SMTPUTF8\r\nRCPT TO:<josé@domain.org> ORCPT=rfc822;jos+C3+A9@domain.org\r\nDATA\r\n")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("utf8orcpt", "body") + ".\r\n")
	c.expect("250 2.0.0 <josé@domain.org>")
	c.send("QUIT\r\n")
}
