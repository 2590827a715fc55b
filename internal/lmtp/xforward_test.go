package lmtp

import (
	"regexp"
	"strings"
	"testing"
)

// deliveryLines returns the server's delivery log lines for rcpt.
func (e *env) deliveryLines(rcpt string) []string {
	var out []string
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, "msg=delivery") && strings.Contains(l, " to="+rcpt+" ") {
			out = append(out, l)
		}
	}
	return out
}

// TestXForward: LHLO advertises XFORWARD; IDENT= (Postfix's queue id, as
// lmtp_send_xforward_command = yes sends it) is on the delivery log line
// of every recipient of the next transaction, refused ones included, and
// only of that transaction (XFORWARD_README: reset at DOT or RSET).
func TestXForward(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.raw("unix")
	c.send("LHLO client.test\r\n")
	if r := c.expect("250-"); !regexp.MustCompile(`(?m)^250[- ]XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE$`).MatchString(r) {
		t.Fatalf("LHLO reply lacks XFORWARD:\n%s", r)
	}
	// As Postfix sends it: client attributes and IDENT in one or more
	// commands, xtext-encoded, pipelined with MAIL.
	c.send("XFORWARD NAME=spike.example ADDR=192.0.2.1 PORT=4711 PROTO=ESMTP HELO=spike.example SOURCE=REMOTE\r\n" +
		"XFORWARD IDENT=4ZfQ1x2AbCdz9\r\n" +
		"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRCPT TO:<nobody@domain.org>\r\nDATA\r\n")
	c.expect("250 2.0.0")
	c.expect("250 2.0.0")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("550 5.1.1")
	c.expect("354 ")
	c.send(msg("xf", "x") + ".\r\n")
	savedID(t, c.reply(), "alice@domain.org")

	// Next transaction without XFORWARD: no queue id from the last one.
	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<carol@domain.org>\r\nDATA\r\n")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("noxf", "x") + ".\r\n")
	savedID(t, c.reply(), "carol@domain.org")

	// RSET ends the attributes too; [UNAVAILABLE] erases; BDAT carries it.
	c.send("XFORWARD IDENT=AAAA\r\nRSET\r\nXFORWARD IDENT=B1\r\nXFORWARD IDENT=[unavailable]\r\n" +
		"XFORWARD IDENT=C2\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<bob@foo.org>\r\n")
	for range 7 {
		c.expect("250 ")
	}
	body := msg("bdat", "x")
	c.send("BDAT " + itoa(len(body)) + " LAST\r\n" + body)
	savedID(t, c.reply(), "bob@foo.org")

	for rcpt, want := range map[string]string{"alice@domain.org": "4ZfQ1x2AbCdz9",
		"nobody@domain.org": "4ZfQ1x2AbCdz9", "carol@domain.org": "", "bob@foo.org": "C2"} {
		lines := e.deliveryLines(rcpt)
		if len(lines) != 1 {
			t.Errorf("%s: %d delivery lines, want 1:\n%s", rcpt, len(lines), e.logs.String())
			continue
		}
		got := ""
		if m := regexp.MustCompile(` queue_id=(\S+)`).FindStringSubmatch(lines[0]); m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("%s: queue_id %q, want %q: %s", rcpt, got, want, lines[0])
		}
	}
}

// TestXForwardReplies: the replies of XFORWARD_README's table; a value
// that is not a queue id is dropped, never a reason to refuse (Postfix
// bounces on 5xx).
func TestXForwardReplies(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.raw("tcp")
	c.send("XFORWARD IDENT=A1\r\n")
	c.expect("503 5.5.1")
	c.send("LHLO client.test\r\n")
	c.expect("250-")
	for _, bad := range []string{"XFORWARD\r\n", "XFORWARD IDENT\r\n", "XFORWARD FOO=bar\r\n",
		"XFORWARD NAME=a+4\r\n", "XFORWARD NAME=" + strings.Repeat("a", 256) + "\r\n"} {
		c.send(bad)
		c.expect("501 5.5.4")
	}
	c.send("MAIL FROM:<s@example.net>\r\nXFORWARD IDENT=A1\r\nRSET\r\n")
	c.expect("250 ")
	c.expect("503 5.5.1")
	c.expect("250 ")
	// Not a queue id: 250, no queue_id, a warning in the log.
	c.send("XFORWARD IDENT=a+20b+0Ax\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n")
	c.expect("250 2.0.0")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("badident", "x") + ".\r\n")
	savedID(t, c.reply(), "alice@domain.org")
	lines := e.deliveryLines("alice@domain.org")
	if len(lines) != 1 || strings.Contains(lines[0], "queue_id") {
		t.Errorf("delivery lines %q, want one without queue_id", lines)
	}
	if !strings.Contains(e.logs.String(), "XFORWARD IDENT ignored") {
		t.Errorf("no warning for a bad IDENT:\n%s", e.logs.String())
	}
}
