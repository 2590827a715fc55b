package smtp

import (
	"fmt"
	"sort"
	"strings"
)

// XClientSession is an add-on interface for Session (a maildeliver patch,
// see PATCHES.md): a session that implements it gets the XCLIENT command
// (www.postfix.org/XCLIENT_README.html), which Dovecot's LMTP proxy uses
// to pass its hop count (TTL=) and the up-stream client to a backend. The
// EHLO/LHLO reply advertises "XCLIENT" followed by XClientAttributes; each
// XCLIENT command, allowed only outside a mail transaction, is parsed as
// XFORWARD is and handed to XClient. Unlike XFORWARD, the attributes
// describe the connection: they stay until the next XCLIENT or the end of
// the connection. Success is answered "220 <domain> ..." as Postfix and
// Dovecot do; the client then sends EHLO/LHLO again (optional here).
type XClientSession interface {
	Session

	// XClientAttributes returns the attribute names the session takes,
	// in upper case (e.g. TTL). Others are refused with 501.
	XClientAttributes() []string
	// XClient receives one command's attributes: names in upper case,
	// values xtext-decoded. A nil error answers 220; an *SMTPError is sent
	// as it is.
	XClient(attrs map[string]string) error
}

// xclientCap returns the EHLO keyword line, or "" when the session does
// not implement XClientSession.
func (c *Conn) xclientCap() string {
	xs, ok := c.Session().(XClientSession)
	if !ok {
		return ""
	}
	return strings.TrimSpace("XCLIENT " + strings.Join(xs.XClientAttributes(), " "))
}

func (c *Conn) handleXClient(arg string) {
	xs, ok := c.Session().(XClientSession)
	switch {
	case c.helo == "" || c.Session() == nil:
		c.writeResponse(503, EnhancedCode{5, 5, 1}, "Please introduce yourself first.")
		return
	case !ok:
		c.protocolError(500, EnhancedCode{5, 5, 2}, "Syntax errors, XCLIENT command unrecognized")
		return
	case c.fromReceived:
		c.writeResponse(503, EnhancedCode{5, 5, 1}, "Mail transaction in progress")
		return
	}
	attrs, err := parseAttrs("XCLIENT", arg, xs.XClientAttributes())
	if err != nil {
		c.writeResponse(501, EnhancedCode{5, 5, 4}, err.Error())
		return
	}
	if err := xs.XClient(attrs); err != nil {
		c.writeError(451, EnhancedCode{4, 0, 0}, err)
		return
	}
	c.writeResponse(220, NoEnhancedCode, c.server.Domain+" ESMTP Service Ready")
}

// XForward sends Postfix's XFORWARD command with attrs (names upper case,
// values xtext-encoded here) when the server advertises XFORWARD; the
// attributes the server did not list are left out, and nothing is sent
// when none remains. A maildeliver patch (PATCHES.md).
func (c *Client) XForward(attrs map[string]string) error {
	if err := c.hello(); err != nil {
		return err
	}
	line, ok := c.attrLine("XFORWARD", attrs)
	if !ok {
		return nil
	}
	_, _, err := c.cmd(250, "%s", line)
	return err
}

// XClient sends XCLIENT with attrs when the server advertises XCLIENT
// (attributes it did not list are left out), then greets the server again
// as XCLIENT_README requires. It reports whether the command was sent. A
// maildeliver patch (PATCHES.md).
func (c *Client) XClient(attrs map[string]string) (sent bool, err error) {
	if err := c.hello(); err != nil {
		return false, err
	}
	line, ok := c.attrLine("XCLIENT", attrs)
	if !ok {
		return false, nil
	}
	if _, _, err := c.cmd(220, "%s", line); err != nil {
		return true, err
	}
	c.didHello, c.helloError = false, nil
	return true, c.hello()
}

// attrLine builds "CMD NAME=xtext ..." with the attributes the server
// advertised for cmd, in name order; ok is false when there are none.
func (c *Client) attrLine(cmd string, attrs map[string]string) (line string, ok bool) {
	adv, has := c.ext[cmd]
	if !has {
		return "", false
	}
	known := strings.Fields(strings.ToUpper(adv))
	var names []string
	for n := range attrs {
		if containsString(known, strings.ToUpper(n)) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "", false
	}
	sort.Strings(names)
	var sb strings.Builder
	sb.WriteString(cmd)
	for _, n := range names {
		fmt.Fprintf(&sb, " %s=%s", strings.ToUpper(n), encodeXtext(attrs[n]))
	}
	return sb.String(), true
}

// parseAttrs parses "NAME=value ..." for XFORWARD and XCLIENT (names
// case-insensitive, values xtext; Postfix before 2.3 sent XFORWARD values
// unencoded, which decodes to itself unless it holds a '+').
func parseAttrs(cmd, arg string, known []string) (map[string]string, error) {
	fields := strings.Fields(arg)
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s needs at least one attribute", cmd)
	}
	attrs := make(map[string]string, len(fields))
	for _, f := range fields {
		name, value, ok := strings.Cut(f, "=")
		name = strings.ToUpper(name)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("Bad %s syntax: %q", cmd, f)
		case !containsString(known, name):
			return nil, fmt.Errorf("Bad %s attribute name: %s", cmd, name)
		case len(value) > xforwardMaxValue:
			return nil, fmt.Errorf("Bad %s attribute value for %s: too long", cmd, name)
		}
		v, err := decodeXtext(value)
		if err != nil {
			return nil, fmt.Errorf("Bad %s attribute value for %s: %v", cmd, name, err)
		}
		attrs[name] = v
	}
	return attrs, nil
}
