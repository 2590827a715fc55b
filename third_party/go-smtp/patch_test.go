package smtp

import (
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// Tests for maildeliver's patches (see PATCHES.md).

func TestDecodeTypedAddressNonASCII(t *testing.T) {
	for _, tc := range []struct {
		in, typ, addr string
		ok            bool
	}{
		{"rfc822;jos+C3+A9@example.org", "RFC822", "josé@example.org", true},
		{"rfc822;josé@example.org", "RFC822", "josé@example.org", true},
		{"rfc822;e+3Dmc2@example.com", "RFC822", "e=mc2@example.com", true},
		{"utf-8;jos\\x{E9}@example.org", "UTF-8", "josé@example.org", true},
		{"utf-8;josé@example.org", "UTF-8", "josé@example.org", true},
		{"utf-8;jos+C3+A9@example.org", "UTF-8", "josé@example.org", true},
		{"x400;c+3Dde;a+3D;p+3Dx", "X400", "c=de;a=;p=x", true},
		{"rfc822;a+0Ab@example.org", "RFC822", "a\nb@example.org", true}, // the backend decides
		{"rfc822;a+C3@example.org", "", "", false},                       // not UTF-8
		{"utf-8;a+C3@example.org", "", "", false},
		{"rfc822;a+4@example.org", "", "", false},
		{"rfc822;", "", "", false},
		{"a@example.org", "", "", false},
	} {
		typ, addr, err := decodeTypedAddress(tc.in)
		if (err == nil) != tc.ok || string(typ) != tc.typ || addr != tc.addr {
			t.Errorf("decodeTypedAddress(%q) = %q, %q, %v", tc.in, typ, addr, err)
		}
	}
}

func TestParseXForward(t *testing.T) {
	known := []string{"NAME", "ADDR", "IDENT"}
	for _, tc := range []struct {
		in   string
		want map[string]string
		ok   bool
	}{
		{"IDENT=4ZfQ1x2abc", map[string]string{"IDENT": "4ZfQ1x2abc"}, true},
		{"name=spike.example ADDR=192.0.2.1", map[string]string{"NAME": "spike.example", "ADDR": "192.0.2.1"}, true},
		{"NAME=[UNAVAILABLE]", map[string]string{"NAME": "[UNAVAILABLE]"}, true},
		{"NAME=a+2Bb", map[string]string{"NAME": "a+b"}, true},
		{"", nil, false},
		{"IDENT", nil, false},
		{"=x", nil, false},
		{"HELO=x", nil, false}, // not advertised
		{"NAME=a+4", nil, false},
		{"NAME=" + strings.Repeat("a", 256), nil, false},
	} {
		got, err := parseXForward(tc.in, known)
		if (err == nil) != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseXForward(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestParseCmdXForward(t *testing.T) {
	for in, want := range map[string][2]string{
		"XFORWARD IDENT=A1\r\n": {"XFORWARD", "IDENT=A1"},
		"xforward  name=a b=c":  {"XFORWARD", "name=a b=c"},
		"XFORWARD":              {"XFORWARD", ""},
		"MAIL FROM:<a@b>":       {"MAIL", "FROM:<a@b>"},
	} {
		cmd, arg, err := parseCmd(in)
		if err != nil || cmd != want[0] || arg != want[1] {
			t.Errorf("parseCmd(%q) = %q, %q, %v", in, cmd, arg, err)
		}
	}
}

// xSession takes XCLIENT TTL and XFORWARD IDENT (the maildeliver patches
// of xclient.go and xforward.go) and records them.
type xSession struct {
	mu     sync.Mutex
	got    []string
	greets int
}

type xBackend struct{ s *xSession }

func (b xBackend) NewSession(c *Conn) (Session, error) { return b.s, nil }

func (s *xSession) record(what string) {
	s.mu.Lock()
	s.got = append(s.got, what)
	s.mu.Unlock()
}
func (s *xSession) Reset()                          { s.record("reset") }
func (s *xSession) Logout() error                   { return nil }
func (s *xSession) Mail(string, *MailOptions) error { return nil }
func (s *xSession) Rcpt(string, *RcptOptions) error { return nil }
func (s *xSession) Data(io.Reader) error            { return nil }
func (s *xSession) XClientAttributes() []string     { return []string{"TTL"} }
func (s *xSession) XForwardAttributes() []string    { return []string{"IDENT"} }
func (s *xSession) XClient(a map[string]string) error {
	s.record("xclient TTL=" + a["TTL"])
	return nil
}
func (s *xSession) XForward(a map[string]string) error {
	s.record("xforward IDENT=" + a["IDENT"])
	return nil
}

// The client side of the patch: XClient and XForward send what the server
// advertised only (TTL, IDENT; not ADDR), xtext-encoded, and XClient
// greets again after the server's 220.
func TestClientXClientXForward(t *testing.T) {
	sess := &xSession{}
	srv := NewServer(xBackend{sess})
	srv.LMTP = true
	srv.Domain = "backend.test"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := NewClientLMTP(nc)
	defer c.Close()
	if err := c.Hello("proxy.test"); err != nil {
		t.Fatal(err)
	}
	if sent, err := c.XClient(map[string]string{"TTL": "4", "ADDR": "192.0.2.1"}); !sent || err != nil {
		t.Fatalf("XClient = %v, %v", sent, err)
	}
	if err := c.XForward(map[string]string{"IDENT": "A+1", "NAME": "x"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("s@example.net", nil); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	sess.mu.Lock()
	got := strings.Join(sess.got, ", ")
	sess.mu.Unlock()
	// The second LHLO (after XCLIENT's 220) resets the session, as any
	// LHLO does; XFORWARD's value arrives decoded.
	if want := "xclient TTL=4, reset, xforward IDENT=A+1"; !strings.HasPrefix(got, want) {
		t.Errorf("server saw %q, want %q...", got, want)
	}
}
