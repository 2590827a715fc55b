package lmtp

import (
	"database/sql"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/config"
)

// Proxy mode against real lmtpd backends, each a Server of its own (own
// userdb, own mail root) in this process, on TCP 127.0.0.1.

// route is one row of the proxy's routes table (Dovecot's proxy fields).
type route struct{ user, host, port, proxy, proxyMaybe string }

// newProxy starts an lmtpd with [lmtp] proxy = true whose user_query
// joins the routes table to the seed's users.
func newProxy(t *testing.T, routes func(self string) []route, more ...func(*config.Config)) *env {
	t.Helper()
	e := newEnv(t, envOptions{noStart: true, config: func(c *config.Config) {
		c.LMTP.Proxy = true
		c.LMTP.ProxyTimeout = config.Duration(5 * time.Second)
		c.LMTP.DSN = true
		for _, f := range more {
			f(c)
		}
	}})
	e.cfg.Userdb.UserQuery = "SELECT '" + e.dir + "/'||home AS home, uid, gid, r.host, r.port, r.proxy, r.proxy_maybe " +
		"FROM users LEFT JOIN routes r ON r.userid = users.userid WHERE users.userid = '%u'"
	e.start(nil)
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE routes (userid TEXT, host TEXT, port TEXT, proxy TEXT, proxy_maybe TEXT)`); err != nil {
		t.Fatal(err)
	}
	for _, r := range routes(e.tcp) {
		if _, err := db.Exec(`INSERT INTO routes VALUES (?, ?, ?, ?, ?)`, r.user, nullable(r.host), nullable(r.port),
			nullable(r.proxy), nullable(r.proxyMaybe)); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// deadPort is a TCP port on 127.0.0.1 nobody listens on (a listener's,
// closed again).
func deadPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p := hostPort(t, l.Addr().String())
	l.Close()
	return p
}

// TestProxyMixed: one transaction with recipients here and on two
// backends; every reply comes in RCPT order, each message lands once in
// the right mail root, and the queue id (XFORWARD IDENT) and ORCPT reach
// the backend.
func TestProxyMixed(t *testing.T) {
	b1 := newEnv(t, envOptions{config: withDSN})
	b2 := newEnv(t, envOptions{config: withDSN})
	h1, p1 := hostPort(t, b1.tcp)
	h2, p2 := hostPort(t, b2.tcp)
	px := newProxy(t, func(string) []route {
		return []route{
			{user: "bob@foo.org", host: h1, port: p1, proxyMaybe: "y"},
			{user: "carol@domain.org", host: h2, port: p2, proxy: "Y"},
			{user: "josé@domain.org", host: h1, port: p1, proxy: "yes"},
		}
	})
	c := px.raw("tcp")
	c.send("LHLO client.test\r\nXFORWARD IDENT=4ZfQ1x2AbCdz9\r\nMAIL FROM:<s@example.net> SMTPUTF8\r\n" +
		"RCPT TO:<carol@domain.org>\r\nRCPT TO:<alice@domain.org>\r\n" +
		"RCPT TO:<bob@foo.org> ORCPT=rfc822;orig@example.org\r\nRCPT TO:<josé@domain.org>\r\nDATA\r\n")
	c.expect("250-")
	c.expect("250 ") // XFORWARD
	for range 5 {
		c.expect("250 ")
	}
	c.expect("354 ")
	c.send(msg("mixed", "body") + ".\r\n")
	for _, want := range []string{"<carol@domain.org> relayed to " + b2.tcp, "<alice@domain.org> saved as ",
		"<bob@foo.org> relayed to " + b1.tcp, "<josé@domain.org> relayed to " + b1.tcp} {
		if r := c.reply(); !strings.HasPrefix(r, "250 2.0.0 "+want) {
			t.Fatalf("reply %q, want 250 2.0.0 %s...", r, want)
		}
	}
	px.only("alice@domain.org")
	b2.only("carol@domain.org")
	bob := b1.only("bob@foo.org")
	b1.only("josé@domain.org")
	for _, e := range []*env{px, b1, b2} {
		for _, u := range []string{"alice@domain.org", "bob@foo.org", "carol@domain.org", "josé@domain.org"} {
			if (e == px) != (u == "alice@domain.org") && (e == b1) != (u == "bob@foo.org" || u == "josé@domain.org") &&
				(e == b2) != (u == "carol@domain.org") {
				if n := len(e.files(u, "new")); n != 0 {
					t.Errorf("%s has %d messages in a mail root that is not its own", u, n)
				}
			}
		}
	}
	if !strings.Contains(bob, "X-Original-To: orig@example.org\n") {
		t.Errorf("ORCPT not passed on; bob's message:\n%s", bob)
	}
	if !strings.Contains(bob, "(proxied)") || strings.Count(bob, "Received: ") != 2 {
		t.Errorf("want the proxy's and the backend's Received; bob's message:\n%s", bob)
	}
	if l := b1.deliveryLines("bob@foo.org"); len(l) != 1 || !strings.Contains(l[0], "queue_id=4ZfQ1x2AbCdz9") {
		t.Errorf("backend's log lines for bob: %q", l)
	}
	// The pooled connection is reused (RSET first) for the next message.
	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<bob@foo.org>\r\nDATA\r\n")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("again", "body") + ".\r\n")
	c.expect("250 2.0.0 <bob@foo.org> relayed to ")
	if n := len(b1.files("bob@foo.org", "new")); n != 2 {
		t.Errorf("bob has %d messages, want 2", n)
	}
	if n := strings.Count(b1.logs.String(), "msg=\"lmtp session\"") + 0; n < 0 {
		t.Fatal(n)
	}
}

// TestProxyBackendReplies: a backend's own refusal is relayed as it is,
// per recipient: 550 5.1.1 from a backend that does not know the user,
// while the others of the transaction are delivered.
func TestProxyBackendReplies(t *testing.T) {
	a, _ := uids()
	b1 := newEnv(t, envOptions{users: map[string]int{"bob@foo.org": a}})
	h1, p1 := hostPort(t, b1.tcp)
	px := newProxy(t, func(string) []route {
		return []route{
			{user: "bob@foo.org", host: h1, port: p1, proxy: "y"},
			{user: "carol@domain.org", host: h1, port: p1, proxy: "y"}, // unknown on b1
		}
	}, func(c *config.Config) { c.Metrics.Listen = "127.0.0.1:0" })
	c := px.raw("tcp")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<carol@domain.org>\r\nRCPT TO:<bob@foo.org>\r\n" +
		"RCPT TO:<alice@domain.org>\r\nDATA\r\n")
	c.expect("250-")
	for range 4 {
		c.expect("250 ")
	}
	c.expect("354 ")
	c.send(msg("replies", "body") + ".\r\n")
	c.expect("550 5.1.1 <carol@domain.org> <carol@domain.org>: user unknown [")
	c.expect("250 2.0.0 <bob@foo.org> relayed to ")
	c.expect("250 2.0.0 <alice@domain.org> saved as ")
	b1.only("bob@foo.org")
	px.only("alice@domain.org")
	fams := px.scrape()
	for _, m := range []struct {
		labels []string
		want   float64
	}{{[]string{"result=delivered", "code=2.0.0"}, 1}, {[]string{"result=bounced", "code=5.1.1"}, 1}} {
		if got := metricValue(fams, "maildeliver_proxy_forwards_total", m.labels...); got != m.want {
			t.Errorf("proxy_forwards_total%v = %v, want %v", m.labels, got, m.want)
		}
	}
}

// TestProxyBackendDown: a backend that refuses connections defers its
// recipients only (451 4.4.1); one that accepts and never greets defers
// them after proxy_timeout. Nothing is lost or delivered twice.
func TestProxyBackendDown(t *testing.T) {
	// A fake for a fault lmtpd cannot be made to produce: a backend
	// that accepts the connection and never says anything.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	held := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	defer func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	hm, pm := hostPort(t, mute.Addr().String())
	px := newProxy(t, func(string) []route {
		return []route{
			{user: "bob@foo.org", host: "127.0.0.1", port: deadPort(t), proxy: "y"},
			{user: "carol@domain.org", host: hm, port: pm, proxy: "y"},
		}
	}, func(c *config.Config) { c.LMTP.ProxyTimeout = config.Duration(500 * time.Millisecond) })
	c := px.raw("tcp")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<bob@foo.org>\r\nRCPT TO:<alice@domain.org>\r\n" +
		"RCPT TO:<carol@domain.org>\r\nDATA\r\n")
	c.expect("250-")
	for range 4 {
		c.expect("250 ")
	}
	c.expect("354 ")
	c.send(msg("down", "body") + ".\r\n")
	c.expect("451 4.4.1 <bob@foo.org> backend 127.0.0.1:")
	c.expect("250 2.0.0 <alice@domain.org> saved as ")
	c.expect("451 4.4.1 <carol@domain.org> backend " + mute.Addr().String() + " not answering")
	px.only("alice@domain.org")
}

// TestProxyLoop: a proxy row naming this lmtpd is refused at RCPT, and
// two proxies sending a user to each other stop when the hop count (XCLIENT
// TTL) runs out; both temporarily (4.4.6), never a bounce.
func TestProxyLoop(t *testing.T) {
	self := newProxy(t, func(self string) []route {
		h, p := hostPort(t, self)
		return []route{
			{user: "bob@foo.org", host: h, port: p, proxy: "y"},
			// proxy_maybe naming this lmtpd: delivered here.
			{user: "carol@domain.org", host: h, port: p, proxyMaybe: "y"},
		}
	})
	c := self.raw("tcp")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<bob@foo.org>\r\nRCPT TO:<carol@domain.org>\r\nDATA\r\n")
	c.expect("250-")
	c.expect("250 ")
	c.expect("451 4.4.6 <bob@foo.org> proxying loops (to itself)")
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("self", "body") + ".\r\n")
	c.expect("250 2.0.0 <carol@domain.org> saved as ")
	self.only("carol@domain.org")

	// p1 sends bob to p2, p2 back to p1.
	var p2addr string
	p1 := newProxy(t, func(string) []route {
		// p2 is not listening yet: its port is filled in below.
		return nil
	})
	p2 := newProxy(t, func(string) []route {
		h, p := hostPort(t, p1.tcp)
		return []route{{user: "bob@foo.org", host: h, port: p, proxy: "y"}}
	})
	p2addr = p2.tcp
	h2, port2 := hostPort(t, p2addr)
	db, err := sql.Open("sqlite", p1.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO routes VALUES ('bob@foo.org', ?, ?, 'y', NULL)`, h2, port2); err != nil {
		t.Fatal(err)
	}
	c = p1.raw("tcp")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<bob@foo.org>\r\nDATA\r\n")
	c.expect("250-")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("pingpong", "body") + ".\r\n")
	r := c.expect("451 4.4.6 ")
	if !strings.Contains(r, "TTL=0") {
		t.Errorf("reply %q does not say the hop count ran out", r)
	}
	for _, e := range []*env{p1, p2} {
		if n := len(e.files("bob@foo.org", "new")); n != 0 {
			t.Errorf("bob got %d messages", n)
		}
	}
}

// TestProxyBadRow: a row whose host or port cannot be a backend is a
// configuration error for that recipient (4.3.5), never a connection.
func TestProxyBadRow(t *testing.T) {
	px := newProxy(t, func(string) []route {
		return []route{
			{user: "bob@foo.org", host: "/run/lmtp.sock", proxy: "y"},
			{user: "carol@domain.org", host: "127.0.0.1", port: "70000", proxy: "y"},
			{user: "josé@domain.org", proxy: "y"},
			{user: "alice@domain.org", host: "127.0.0.1", proxy: "maybe"},
		}
	})
	c := px.raw("tcp")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\n")
	c.expect("250-")
	c.expect("250 ")
	for _, u := range []string{"bob@foo.org", "carol@domain.org", "josé@domain.org", "alice@domain.org"} {
		c.send("RCPT TO:<" + u + ">\r\n")
		c.expect("451 4.3.5 <" + u + "> bad proxy destination in the userdb")
	}
}

// TestUserConcurrencyLimit: with user_concurrency_limit = 1, a second
// transaction naming a user held by a first gets 451 4.3.0 at RCPT (as
// Dovecot's lmtp); the count is released when the first transaction ends.
func TestUserConcurrencyLimit(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.UserConcurrencyLimit = 1 }})
	a := e.raw("unix")
	b := e.raw("unix")
	for _, c := range []*rawClient{a, b} {
		c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\n")
		c.expect("250-")
		c.expect("250 ")
	}
	a.send("RCPT TO:<alice@domain.org>\r\n")
	a.expect("250 ")
	b.send("RCPT TO:<alice@domain.org>\r\n")
	b.expect("451 4.3.0 <alice@domain.org> Too many concurrent deliveries for user")
	b.send("RCPT TO:<bob@foo.org>\r\n")
	b.expect("250 ")
	a.send("DATA\r\n")
	a.expect("354 ")
	a.send(msg("first", "x") + ".\r\n")
	a.expect("250 2.0.0 <alice@domain.org> saved as ")
	b.send("RCPT TO:<alice@domain.org>\r\n")
	b.expect("250 ")
	// RSET releases too.
	b.send("RSET\r\n")
	b.expect("250 ")
	a.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nRSET\r\n")
	a.expect("250 ")
	a.expect("250 ")
	a.expect("250 ")
}

// stallBackend is a fake for a fault a real lmtpd does not produce on
// demand: an LMTP server (go-smtp) that takes the transaction and the
// message, and then never answers.
type stallBackend struct{ release chan struct{} }

func (b stallBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return stallSession(b), nil }

type stallSession stallBackend

func (stallSession) Reset()                               {}
func (stallSession) Logout() error                        { return nil }
func (stallSession) Mail(string, *smtp.MailOptions) error { return nil }
func (stallSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (stallSession) Data(r io.Reader) error               { return nil }
func (s stallSession) LMTPData(r io.Reader, _ smtp.StatusCollector) error {
	io.Copy(io.Discard, r)
	<-s.release
	return nil
}

// TestProxyBackendStalls: a backend that takes the message and never
// answers defers its recipients after proxy_timeout with 451 4.4.2 (the
// connection was good, the transaction did not complete); the local
// recipient is delivered meanwhile, and the proxy answers in RCPT order.
func TestProxyBackendStalls(t *testing.T) {
	release := make(chan struct{})
	srv := smtp.NewServer(stallBackend{release})
	srv.LMTP = true
	srv.Domain = "stall.test"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer func() { close(release); srv.Close() }()
	h, p := hostPort(t, l.Addr().String())
	px := newProxy(t, func(string) []route {
		return []route{{user: "bob@foo.org", host: h, port: p, proxy: "y"}}
	}, func(c *config.Config) { c.LMTP.ProxyTimeout = config.Duration(300 * time.Millisecond) })
	c := px.raw("tcp")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<bob@foo.org>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n")
	c.expect("250-")
	for range 3 {
		c.expect("250 ")
	}
	c.expect("354 ")
	c.send(msg("stall", "body") + ".\r\n")
	c.expect("451 4.4.2 <bob@foo.org> connection to backend " + l.Addr().String() + " failed")
	c.expect("250 2.0.0 <alice@domain.org> saved as ")
	px.only("alice@domain.org")
}

// TestProxyStaleConnection: a pooled connection whose backend went away
// (here: shut down, and a new lmtpd listening on the same port) fails its
// RSET and is replaced by a new connection; the message is delivered
// once, by the new backend.
func TestProxyStaleConnection(t *testing.T) {
	b1 := newEnv(t, envOptions{})
	h1, p1 := hostPort(t, b1.tcp)
	px := newProxy(t, func(string) []route {
		return []route{{user: "bob@foo.org", host: h1, port: p1, proxy: "y"}}
	})
	send := func(subject string) {
		t.Helper()
		c := px.raw("tcp")
		c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<bob@foo.org>\r\nDATA\r\n")
		c.expect("250-")
		c.expect("250 ")
		c.expect("250 ")
		c.expect("354 ")
		c.send(msg(subject, "body") + ".\r\n")
		c.expect("250 2.0.0 <bob@foo.org> relayed to " + b1.tcp)
	}
	send("first")
	b1.only("bob@foo.org")
	b1.stop() // closes the proxy's pooled connection (421)
	b2 := newEnv(t, envOptions{config: func(c *config.Config) { c.LMTP.Listen = []string{"tcp:" + b1.tcp} }})
	send("second")
	if got := b2.only("bob@foo.org"); !strings.Contains(got, "Subject: second") {
		t.Errorf("new backend got:\n%s", got)
	}
	if n := len(b1.files("bob@foo.org", "new")); n != 1 {
		t.Errorf("old backend has %d messages, want 1", n)
	}
}

// plainBackend is a fake LMTP server (go-smtp) without SMTPUTF8 that
// takes every recipient and records whether MAIL asked for SMTPUTF8: a
// backend of another make, which lmtpd's own cannot stand for.
type plainBackend struct{ utf8 chan bool }

func (b plainBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &plainSession{b: b}, nil
}

type plainSession struct {
	b     plainBackend
	rcpts []string
}

func (s *plainSession) Reset()        { s.rcpts = nil }
func (s *plainSession) Logout() error { return nil }
func (s *plainSession) Mail(_ string, o *smtp.MailOptions) error {
	s.b.utf8 <- o != nil && o.UTF8
	return nil
}
func (s *plainSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *plainSession) Data(io.Reader) error { return nil }
func (s *plainSession) LMTPData(r io.Reader, sc smtp.StatusCollector) error {
	io.Copy(io.Discard, r)
	for _, a := range s.rcpts {
		sc.SetStatus(a, nil)
	}
	return nil
}

// TestProxySMTPUTF8: an SMTPUTF8 transaction reaches a backend that does
// not advertise SMTPUTF8 without the parameter (else every such message
// would be deferred there until it bounced).
func TestProxySMTPUTF8(t *testing.T) {
	b := plainBackend{utf8: make(chan bool, 1)}
	srv := smtp.NewServer(b)
	srv.LMTP = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	h, p := hostPort(t, l.Addr().String())
	px := newProxy(t, func(string) []route {
		return []route{{user: "josé@domain.org", host: h, port: p, proxy: "y"}}
	})
	c := px.raw("tcp")
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net> SMTPUTF8\r\nRCPT TO:<josé@domain.org>\r\nDATA\r\n")
	c.expect("250-")
	for range 2 {
		c.expect("250 ")
	}
	c.expect("354 ")
	c.send(msg("utf8", "body") + ".\r\n")
	c.expect("250 2.0.0 <josé@domain.org> relayed to ")
	if <-b.utf8 {
		t.Error("MAIL with SMTPUTF8 sent to a backend that did not advertise it")
	}
}
