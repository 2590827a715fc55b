package lmtp

import (
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"maildeliver/internal/config"
)

// The replies go-smtp sends itself, without asking the session (README:
// "Replies the LMTP library sends itself"). Each case runs on a fresh
// connection against the real server; replies are matched by code and
// enhanced code. None of them may be a 5xx for something that is not
// certainly permanent: Postfix bounces on 5xx.

// goSMTPEnv is a server with a small max_message_size, for the size cases.
func goSMTPEnv(t *testing.T) *env {
	return newEnv(t, envOptions{config: func(c *config.Config) {
		c.LMTP.MaxMessageSize = 100000
	}})
}

func TestGoSMTPReplies(t *testing.T) {
	e := goSMTPEnv(t)
	const lhlo = "LHLO client.test\r\n"
	const mail = lhlo + "MAIL FROM:<s@example.net>\r\n"
	const rcpt = mail + "RCPT TO:<alice@domain.org>\r\n"
	for _, tc := range []struct {
		name string
		send string
		want []string // reply prefixes, in order
	}{
		{"HELO", "HELO client.test\r\n", []string{"500 5.5.1"}},
		{"EHLO", "EHLO client.test\r\n", []string{"500 5.5.1"}},
		{"LHLO without domain", "LHLO\r\n", []string{"501 5.5.2"}},
		{"LHLO", lhlo, []string{"250-"}},
		{"MAIL before LHLO", "MAIL FROM:<s@example.net>\r\n", []string{"503 5.5.1"}},
		{"AUTH before LHLO", "AUTH PLAIN\r\n", []string{"503 5.5.1"}},
		{"AUTH", lhlo + "AUTH PLAIN\r\n", []string{"250-", "502 5.5.1"}},
		{"STARTTLS", lhlo + "STARTTLS\r\n", []string{"250-", "502 5.5.1"}},
		{"VRFY", lhlo + "VRFY alice\r\n", []string{"250-", "252 2.5.0"}},
		{"EXPN", lhlo + "EXPN list\r\n", []string{"250-", "502 5.5.1"}},
		{"HELP", lhlo + "HELP\r\n", []string{"250-", "502 5.5.1"}},
		{"TURN SEND SOML SAML", lhlo + "TURN\r\nSEND\r\nSOML\r\nSAML\r\n",
			[]string{"250-", "502 5.5.1", "502 5.5.1", "502 5.5.1", "502 5.5.1"}},
		{"NOOP RSET QUIT", lhlo + "NOOP\r\nRSET\r\nQUIT\r\n", []string{"250-", "250 2.0.0", "250 2.0.0", "221 2.0.0"}},
		{"unknown command", lhlo + "XYZW\r\n", []string{"250-", "500 5.5.2"}},
		{"empty line", lhlo + "\r\n", []string{"250-", "500 5.5.2"}},
		{"mangled command", lhlo + "AB\r\nMAILX FROM:<a@b>\r\n", []string{"250-", "501 5.5.2", "501 5.5.2"}},
		{"MAIL syntax", lhlo + "MAIL TO:<s@example.net>\r\nMAIL FROM:s\r\n", []string{"250-", "501 5.5.2", "501 5.5.2"}},
		{"MAIL parameters", lhlo + "MAIL FROM:<s@example.net> A=B=C\r\n", []string{"250-", "501 5.5.4"}},
		{"MAIL SIZE not a number", lhlo + "MAIL FROM:<s@example.net> SIZE=x\r\n", []string{"250-", "501 5.5.4"}},
		{"MAIL SIZE over the limit", lhlo + "MAIL FROM:<s@example.net> SIZE=100001\r\n", []string{"250-", "552 5.3.4"}},
		// RFC 1870 sizes are not limited to 32 bits: this is too large,
		// not a syntax error.
		{"MAIL SIZE over 4 GiB", lhlo + "MAIL FROM:<s@example.net> SIZE=5000000000\r\n", []string{"250-", "552 5.3.4"}},
		{"MAIL BODY=BINARYMIME", lhlo + "MAIL FROM:<s@example.net> BODY=BINARYMIME\r\n", []string{"250-", "504 5.5.4"}},
		{"MAIL BODY unknown", lhlo + "MAIL FROM:<s@example.net> BODY=9BIT\r\n", []string{"250-", "501 5.5.4"}},
		{"MAIL REQUIRETLS", lhlo + "MAIL FROM:<s@example.net> REQUIRETLS\r\n", []string{"250-", "504 5.5.4"}},
		{"MAIL RET unknown", lhlo + "MAIL FROM:<s@example.net> RET=ALL\r\n", []string{"250-", "501 5.5.4"}},
		{"MAIL ENVID malformed", lhlo + "MAIL FROM:<s@example.net> ENVID=a+4\r\n", []string{"250-", "501 5.5.4"}},
		{"MAIL AUTH malformed", lhlo + "MAIL FROM:<s@example.net> AUTH=a+4\r\n", []string{"250-", "501 5.5.4"}},
		{"MAIL unknown parameter", lhlo + "MAIL FROM:<s@example.net> XFOO=1\r\n", []string{"250-", "555 5.5.4"}},
		{"MAIL DSN parameters", lhlo + "MAIL FROM:<s@example.net> RET=HDRS ENVID=q+2B1 SMTPUTF8 BODY=8BITMIME\r\n",
			[]string{"250-", "250 2.0.0"}},
		{"RCPT before MAIL", lhlo + "RCPT TO:<alice@domain.org>\r\n", []string{"250-", "503 5.5.1"}},
		{"RCPT syntax", mail + "RCPT FROM:<alice@domain.org>\r\nRCPT TO:alice\r\n", []string{"250-", "250 ", "501 5.5.2", "501 5.5.2"}},
		{"RCPT parameters", mail + "RCPT TO:<alice@domain.org> A=B=C\r\n", []string{"250-", "250 ", "501 5.5.4"}},
		{"RCPT NOTIFY malformed", mail + "RCPT TO:<alice@domain.org> NOTIFY=NEVER,SUCCESS\r\n", []string{"250-", "250 ", "501 5.5.4"}},
		{"RCPT ORCPT without type", mail + "RCPT TO:<alice@domain.org> ORCPT=alice@domain.org\r\n", []string{"250-", "250 ", "501 5.5.4"}},
		{"RCPT ORCPT bad hexchar", mail + "RCPT TO:<alice@domain.org> ORCPT=rfc822;a+4@domain.org\r\n", []string{"250-", "250 ", "501 5.5.4"}},
		{"RCPT ORCPT not UTF-8", mail + "RCPT TO:<alice@domain.org> ORCPT=rfc822;a+C3@domain.org\r\n", []string{"250-", "250 ", "501 5.5.4"}},
		{"RCPT BY", mail + "RCPT TO:<alice@domain.org> BY=120;R\r\n", []string{"250-", "250 ", "504 5.5.4"}},
		{"RCPT RRVS", mail + "RCPT TO:<alice@domain.org> RRVS=2014-04-03T23:01:00Z\r\n", []string{"250-", "250 ", "504 5.5.4"}},
		{"RCPT MT-PRIORITY", mail + "RCPT TO:<alice@domain.org> MT-PRIORITY=3\r\n", []string{"250-", "250 ", "504 5.5.4"}},
		{"RCPT unknown parameter", mail + "RCPT TO:<alice@domain.org> XFOO=1\r\n", []string{"250-", "250 ", "555 5.5.4"}},
		{"RCPT DSN parameters", mail + "RCPT TO:<alice@domain.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;alice@domain.org\r\n",
			[]string{"250-", "250 ", "250 2.0.0"}},
		{"DATA with argument", rcpt + "DATA now\r\n", []string{"250-", "250 ", "250 ", "501 5.5.4"}},
		// RFC 2033 section 4.2: 503 when no RCPT was accepted.
		{"DATA without RCPT", mail + "DATA\r\n", []string{"250-", "250 ", "503 5.5.1"}},
		{"BDAT without size", rcpt + "BDAT\r\n", []string{"250-", "250 ", "250 ", "501 5.5.4"}},
		{"BDAT arguments", rcpt + "BDAT 1 2 3\r\nBDAT 1 FIRST\r\nBDAT x\r\n",
			[]string{"250-", "250 ", "250 ", "501 5.5.4", "501 5.5.4", "501 5.5.4"}},
		{"BDAT without RCPT", mail + "BDAT 5 LAST\r\nabcdeNOOP\r\n", []string{"250-", "250 ", "503 5.5.1", "250 2.0.0"}},
		{"BDAT over the limit", rcpt + "BDAT 100001 LAST\r\n" + strings.Repeat("x\r\n", 100001/3) + "xx" + "NOOP\r\n",
			[]string{"250-", "250 ", "250 ", "552 5.3.4", "250 2.0.0"}},
		{"XCLIENT before LHLO", "XCLIENT TTL=3\r\n", []string{"503 5.5.1"}},
		{"XCLIENT", lhlo + "XCLIENT TTL=3\r\nLHLO client.test\r\n", []string{"250-", "220 ", "250-"}},
		{"XCLIENT in a transaction", mail + "XCLIENT TTL=3\r\n", []string{"250-", "250 ", "503 5.5.1"}},
		{"XCLIENT bad", lhlo + "XCLIENT\r\nXCLIENT ADDR=1.2.3.4\r\nXCLIENT TTL=x\r\nXCLIENT TTL=+ZZ\r\n",
			[]string{"250-", "501 5.5.4", "501 5.5.4", "501 5.5.4", "501 5.5.4"}},
		{"MAIL during BDAT", rcpt + "BDAT 3\r\nabcMAIL FROM:<s@example.net>\r\nRCPT TO:<bob@foo.org>\r\nDATA\r\nRSET\r\n",
			[]string{"250-", "250 ", "250 ", "250 2.0.0", "503 5.5.1", "503 5.5.1", "503 5.5.1", "250 2.0.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.raw("unix")
			c.t = t
			c.send(tc.send)
			for _, want := range tc.want {
				c.expect(want)
			}
		})
	}
	e.stop()
	e.noMail()
}

// TestGoSMTPClosingReplies: where go-smtp ends the connection itself it
// says 421 (RFC 5321 section 3.8), never a 5xx that the client would read
// as the answer to the command it has pending.
func TestGoSMTPClosingReplies(t *testing.T) {
	e := goSMTPEnv(t)
	for _, tc := range []struct {
		name string
		send string
		want []string
	}{
		{"too many errors", "LHLO client.test\r\nXYZW\r\nXYZW\r\nXYZW\r\nXYZW\r\nMAIL FROM:<s@example.net>\r\n",
			[]string{"250-", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "421 4.7.0"}},
		{"command line too long", "LHLO client.test\r\nMAIL FROM:<" + strings.Repeat("a", maxLineLength) + "@example.net>\r\n",
			[]string{"250-", "421 4.5.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.raw("unix")
			c.t = t
			c.send(tc.send)
			got := c.closed()
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i, want := range tc.want {
				if !strings.HasPrefix(got[i], want) {
					t.Errorf("reply %d: got %q, want %q", i, got[i], want)
				}
			}
		})
	}
}

// TestCutCommandLine: a command line cut short by the command timeout is
// not a command. go-smtp used to run it (here: accept the recipient), and
// a slow client could keep a connection for four command timeouts by
// collecting "501 Bad command" replies.
func TestCutCommandLine(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.CommandTimeout = config.Duration(300 * time.Millisecond) }})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>")
	c.expect("250-")
	c.expect("250 ")
	got := c.closed()
	if len(got) != 1 || !strings.HasPrefix(got[0], "421 4.4.2") {
		t.Errorf("after a cut RCPT line: got %q, want only 421 4.4.2 and the end", got)
	}
}

// TestBDATLongLineDiscarded: a refused BDAT chunk is skipped whole, also
// when it has a line longer than a command line may be; the connection
// goes on. go-smtp read it through the line limit and closed with 500.
func TestBDATLongLineDiscarded(t *testing.T) {
	e := goSMTPEnv(t)
	long := strings.Repeat("x", maxLineLength+10)
	for _, tc := range []struct {
		name, send string
		want       []string
	}{
		{"without RCPT", "LHLO client.test\r\nBDAT " + itoa(len(long)) + " LAST\r\n" + long + "NOOP\r\n",
			[]string{"250-", "503 5.5.1", "250 2.0.0"}},
		{"over the limit", "LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nBDAT " +
			itoa(len(long)+100000) + " LAST\r\n" + long + strings.Repeat("y", 100000) + "NOOP\r\n",
			[]string{"250-", "250 ", "250 ", "552 5.3.4", "250 2.0.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.raw("unix")
			c.t = t
			c.send(tc.send)
			for _, want := range tc.want {
				c.expect(want)
			}
			// and a whole transaction still works on this connection
			const m = "Subject: ok\r\n\r\nok\r\n"
			c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<bob@foo.org>\r\nBDAT " + itoa(len(m)) + " LAST\r\n" + m)
			c.expect("250 ")
			c.expect("250 ")
			savedID(t, c.reply(), "bob@foo.org")
		})
	}
}

// TestBDATTruncated: a client that goes away inside the last BDAT chunk
// has not sent a message. go-smtp handed the part it got to the session
// as the whole message, which delivered it.
func TestBDATTruncated(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nBDAT 1000 LAST\r\nSubject: cut\r\n\r\nthe first")
	c.expect("250-")
	c.expect("250 ")
	c.expect("250 ")
	if err := c.c.(*net.UnixConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	for _, r := range c.closed() {
		if !strings.HasPrefix(r, "4") {
			t.Errorf("reply %q to a cut chunk", r)
		}
	}
	e.stop()
	e.noMail()
}

// TestORCPT: the ORCPT forms clients send, with dsn on (the default now):
// Postfix's rfc822 type with the UTF-8 octets as xtext hexchars (go-smtp
// used to answer it 501 5.5.4, a bounce), raw UTF-8, RFC 6533's utf-8 type,
// and address types that are not Internet addresses. The decoded address
// becomes X-Original-To; one that could forge a header is refused.
func TestORCPT(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i, tc := range []struct {
		name, orcpt string
		reply       string // RCPT reply prefix
		header      string // X-Original-To value, "" for none
	}{
		{"rfc822 hexchars", "rfc822;ren+C3+A9@example.org", "250 ", "rené@example.org"},
		{"rfc822 raw UTF-8", "rfc822;rené@example.org", "250 ", "rené@example.org"},
		{"rfc822 ASCII", "RFC822;e+3Dmc2@example.org", "250 ", "e=mc2@example.org"},
		{"utf-8 xtext", `utf-8;ren\x{E9}@example.org`, "250 ", "rené@example.org"},
		{"utf-8 unitext", `utf-8;ren\x{E9}@éxample.org`, "250 ", "rené@éxample.org"},
		{"utf-8 hexchars", "utf-8;ren+C3+A9@example.org", "250 ", "rené@example.org"},
		{"same as the recipient", "rfc822;alice@domain.org", "250 ", ""},
		{"x400", "x400;c+3Dde+3Ba+3D+20+3Bp+3Dx", "250 ", ""},
		{"tab", "rfc822;a+09b@example.org", "250 ", ""},
		{"CR LF", "rfc822;a@example.org+0D+0AX-Injected:+20yes", "501 5.1.3 bad recipient address syntax: original recipient: ", ""},
		{"NUL", "rfc822;a+00b@example.org", "501 5.1.3 bad recipient address syntax: original recipient: ", ""},
		{"over 256 octets", "rfc822;" + strings.Repeat("a", 250) + "@example.org", "501 5.1.3 bad recipient address syntax: original recipient: ", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.raw("unix")
			c.t = t
			c.send("LHLO client.test\r\nMAIL FROM:<s@example.net> SMTPUTF8\r\nRCPT TO:<alice@domain.org> ORCPT=" + tc.orcpt + "\r\n")
			c.expect("250-")
			c.expect("250 ")
			c.expect(tc.reply)
			if tc.reply != "250 " {
				return
			}
			before := len(e.messages("alice@domain.org"))
			subject := "orcpt" + itoa(i)
			c.send("DATA\r\n")
			c.expect("354 ")
			c.send(msg(subject, "body") + ".\r\n")
			savedID(t, c.reply(), "alice@domain.org")
			ms := e.messages("alice@domain.org")
			if len(ms) != before+1 {
				t.Fatalf("%d messages, want %d", len(ms), before+1)
			}
			var m string
			for _, x := range ms {
				if strings.Contains(x, "Subject: "+subject+"\n") {
					m = x
				}
			}
			hdr, _, _ := strings.Cut(m, "\n\n")
			want := ""
			if tc.header != "" {
				want = "X-Original-To: " + tc.header + "\n"
			}
			if got := regexpFind(`(?m)^X-Original-To: .*\n`, hdr); got != want {
				t.Errorf("X-Original-To line %q, want %q in\n%s", got, want, hdr)
			}
		})
	}
}

func regexpFind(re, s string) string { return regexp.MustCompile(re).FindString(s) }

// TestDSNOff: with dsn = false DSN is not advertised and its parameters
// are answered as not implemented (a client that sends them regardless).
func TestDSNOff(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.DSN = false }})
	c := e.raw("unix")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net> RET=FULL\r\nMAIL FROM:<s@example.net>\r\n" +
		"RCPT TO:<alice@domain.org> ORCPT=rfc822;alice@domain.org\r\nRCPT TO:<alice@domain.org> NOTIFY=NEVER\r\n")
	if r := c.expect("250-"); regexp.MustCompile(`(?m)^250[- ]DSN$`).MatchString(r) {
		t.Errorf("DSN advertised with dsn = false:\n%s", r)
	}
	c.expect("504 5.5.4")
	c.expect("250 ")
	c.expect("504 5.5.4")
	c.expect("504 5.5.4")
}
