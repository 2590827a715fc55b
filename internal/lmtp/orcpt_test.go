package lmtp

import (
	"strings"
	"testing"
)

// TestORCPTInjection: an ORCPT whose xtext decodes to CR, LF or NUL, or
// that is over 256 octets, is refused with 501 5.1.3 for that recipient
// (SPEC "Addresses as Dovecot sees them"), never written as a header; the
// transaction goes on for the others.
func TestORCPTInjection(t *testing.T) {
	e := newEnv(t, envOptions{config: withDSN})
	c := e.raw("unix")
	c.send("LHLO client.test\r\n")
	c.expect("250")
	c.send("MAIL FROM:<s@example.net>\r\n")
	c.expect("250 ")
	for _, tc := range []struct{ orcpt, want string }{
		// go-smtp's xtext decoder refuses these itself (501 5.5.4);
		// whichever layer refuses, it is never a header.
		{"rfc822;orig@example.org+0AX-Injected:+20yes", "501 5."},
		{"rfc822;orig@example.org+0DX-Injected:+20yes", "501 5."},
		{"rfc822;orig@example.org+00", "501 5."},
		{`utf-8;orig@example.org\x{A}X-Injected:\x{20}yes`, "501 5."},
		// This one reaches lmtpd: the one address rule refuses it.
		{"rfc822;" + strings.Repeat("o", 300) + "@example.org", "501 5.1.3 "},
	} {
		c.send("RCPT TO:<alice@domain.org> ORCPT=" + tc.orcpt + "\r\n")
		c.expect(tc.want)
	}
	c.send("RCPT TO:<bob@foo.org> ORCPT=rfc822;orig@example.org\r\n")
	c.expect("250 ")
	c.send("DATA\r\n")
	c.expect("354 ")
	c.send(msg("orcpt", "body") + ".\r\n")
	c.expect("250 ")
	if got := e.only("bob@foo.org"); !strings.Contains(got, "X-Original-To: orig@example.org\n") || strings.Contains(got, "X-Injected") {
		t.Errorf("bob's message:\n%s", got)
	}
	if n := len(e.files("alice@domain.org", "new")); n != 0 {
		t.Errorf("alice got %d messages", n)
	}
}
