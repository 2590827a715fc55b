package smtp

import (
	"strings"
)

// XForwardSession is an add-on interface for Session (a maildeliver
// patch, see PATCHES.md): a session that implements it gets Postfix's
// XFORWARD command (www.postfix.org/XFORWARD_README.html). The EHLO/LHLO
// reply advertises "XFORWARD" followed by XForwardAttributes, and each
// XFORWARD command, allowed only outside a mail transaction, is parsed
// here and handed to XForward.
type XForwardSession interface {
	Session

	// XForwardAttributes returns the attribute names the session takes,
	// in upper case (e.g. NAME ADDR PORT PROTO HELO IDENT SOURCE). An
	// attribute not in this list is refused with 501.
	XForwardAttributes() []string
	// XForward receives one command's attributes: names in upper case,
	// values xtext-decoded. "[UNAVAILABLE]" (any case) is passed as
	// sent: the session erases that attribute. Per XFORWARD_README the
	// session keeps attributes across commands until the end of the next
	// mail transaction, i.e. until Reset. A nil error answers 250; an
	// *SMTPError is sent as it is.
	XForward(attrs map[string]string) error
}

// xforwardMaxValue is XFORWARD_README's bound on an attribute value
// ("must not be longer than 255 characters").
const xforwardMaxValue = 255

// xforwardCap returns the EHLO keyword line, or "" when the session does
// not implement XForwardSession.
func (c *Conn) xforwardCap() string {
	xs, ok := c.Session().(XForwardSession)
	if !ok {
		return ""
	}
	return strings.TrimSpace("XFORWARD " + strings.Join(xs.XForwardAttributes(), " "))
}

func (c *Conn) handleXForward(arg string) {
	xs, ok := c.Session().(XForwardSession)
	switch {
	case c.helo == "" || c.Session() == nil:
		c.writeResponse(503, EnhancedCode{5, 5, 1}, "Please introduce yourself first.")
		return
	case !ok:
		c.protocolError(500, EnhancedCode{5, 5, 2}, "Syntax errors, XFORWARD command unrecognized")
		return
	case c.fromReceived:
		c.writeResponse(503, EnhancedCode{5, 5, 1}, "Mail transaction in progress")
		return
	}
	attrs, err := parseXForward(arg, xs.XForwardAttributes())
	if err != nil {
		c.writeResponse(501, EnhancedCode{5, 5, 4}, err.Error())
		return
	}
	if err := xs.XForward(attrs); err != nil {
		c.writeError(451, EnhancedCode{4, 0, 0}, err)
		return
	}
	c.writeResponse(250, EnhancedCode{2, 0, 0}, "Ok")
}

// parseXForward parses XFORWARD's attributes (see parseAttrs).
func parseXForward(arg string, known []string) (map[string]string, error) {
	return parseAttrs("XFORWARD", arg, known)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
