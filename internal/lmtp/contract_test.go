package lmtp

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Contract tests: the behaviours of go-smtp that conn (conn.go) relies on,
// checked against go-smtp alone with a connection that works like conn.
// An upgrade of go-smtp (or a change to third_party/go-smtp) that breaks
// one of them fails here, with the assumption named, instead of as a
// hang or a lost deadline somewhere in lmtpd:
//
//  1. the backend gets the net.Conn the listener returned, unwrapped
//     (session.conn is that *conn; without it data_timeout is not set);
//  2. before each command line go-smtp calls SetReadDeadline (conn's hook
//     for draining and for clamping to the data deadline), with
//     now + ReadTimeout, and never SetDeadline (which would bypass it);
//     during a BDAT chunk it sets no read deadline;
//  3. whenever go-smtp waits for the client it calls Read, and Close at the
//     end: replies held back until then (write batching) are never late;
//  4. a timeout from Read while waiting for a command ends the connection
//     with 421 4.4.2 and Close (how drain ends idle connections);
//  5. an *smtp.SMTPError returned by Read inside a BDAT chunk is the reply
//     as is (errDataTimeoutRead; a plain error would be shown another way).

// spyConn batches writes until the next Read or Close, as conn does, and
// records what go-smtp calls.
type spyConn struct {
	net.Conn

	mu          sync.Mutex
	wbuf        []byte
	deadlines   []time.Time // SetReadDeadline arguments
	setDeadline int         // SetDeadline calls
	draining    bool
	closed      bool
	readErr     error // returned instead of a timeout error when set
}

func (c *spyConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wbuf = append(c.wbuf, p...)
	return len(p), nil
}

func (c *spyConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.Conn.Write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	return err
}

func (c *spyConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ne, ok := err.(net.Error); ok && ne.Timeout() && c.readErr != nil {
		err = c.readErr
	}
	return n, err
}

func (c *spyConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadlines = append(c.deadlines, t)
	if c.draining {
		t = longAgo
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *spyConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.setDeadline++
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *spyConn) Close() error {
	c.flush()
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

// drain is conn.drain: the connection's next command read times out.
func (c *spyConn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	c.Conn.SetReadDeadline(longAgo)
}

func (c *spyConn) snapshot() (deadlines []time.Time, setDeadline int, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.deadlines...), c.setDeadline, c.closed
}

type spyListener struct {
	net.Listener
	conns chan *spyConn
}

func (l *spyListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &spyConn{Conn: nc}
	l.conns <- c
	return c, nil
}

// spyBackend's sessions accept everything; LMTPData reads the message.
type spyBackend struct{ conns chan net.Conn }

func (b spyBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.conns <- c.Conn()
	return &spySession{}, nil
}

type spySession struct{ rcpts []string }

func (s *spySession) Reset()                               { s.rcpts = nil }
func (s *spySession) Logout() error                        { return nil }
func (s *spySession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *spySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *spySession) Data(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }
func (s *spySession) LMTPData(r io.Reader, sc smtp.StatusCollector) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	for _, rc := range s.rcpts {
		sc.SetStatus(rc, nil)
	}
	return nil
}

const contractReadTimeout = time.Minute

type contract struct {
	t        *testing.T
	srv      *smtp.Server
	accepted chan *spyConn
	sessions chan net.Conn
	path     string
}

func newContract(t *testing.T) *contract {
	k := &contract{t: t, accepted: make(chan *spyConn, 4), sessions: make(chan net.Conn, 4),
		path: filepath.Join(t.TempDir(), "s")}
	l, err := net.Listen("unix", k.path)
	if err != nil {
		t.Fatal(err)
	}
	k.srv = smtp.NewServer(spyBackend{k.sessions})
	k.srv.LMTP = true
	k.srv.Domain = "contract.test"
	k.srv.ReadTimeout = contractReadTimeout
	k.srv.MaxLineLength = maxLineLength
	k.srv.ErrorLog = smtpLog{slog.New(slog.NewTextHandler(io.Discard, nil))}
	go k.srv.Serve(&spyListener{Listener: l, conns: k.accepted})
	t.Cleanup(func() { k.srv.Close() })
	return k
}

// dial connects and returns the client side and the server's spyConn.
func (k *contract) dial() (*rawClient, *spyConn) {
	k.t.Helper()
	nc, err := net.Dial("unix", k.path)
	if err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(func() { nc.Close() })
	c := &rawClient{t: k.t, c: nc, r: bufio.NewReader(nc)}
	sc := <-k.accepted
	c.expect("220 ")
	return c, sc
}

func TestContractConversation(t *testing.T) {
	k := newContract(t)
	start := time.Now()
	c, sc := k.dial()
	lines := []string{"LHLO client.test", "MAIL FROM:<s@example.net>", "RCPT TO:<a@example.org>",
		"RCPT TO:<b@example.org>", "DATA"}
	c.send(strings.Join(lines, "\r\n") + "\r\n")
	for _, want := range []string{"250-", "250 ", "250 ", "250 ", "354 "} {
		c.expect(want) // 3: replies held until go-smtp reads again arrive
	}
	if got := <-k.sessions; got != net.Conn(sc) {
		t.Errorf("1: the backend's Conn() is %T %p, not the listener's conn %p", got, got, sc)
	}
	c.send("Subject: x\r\n\r\nbody\r\n.\r\n")
	c.expect("250 2.0.0 <a@example.org>")
	c.expect("250 2.0.0 <b@example.org>")
	chunk := "Subject: y\r\n\r\n" + strings.Repeat("z", 3000)
	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\nBDAT " + itoa(len(chunk)) + " LAST\r\n" + chunk)
	lines = append(lines, "MAIL", "RCPT", "BDAT")
	for _, want := range []string{"250 ", "250 ", "250 2.0.0 <a@example.org>"} {
		c.expect(want)
	}
	c.send("NOOP\r\nQUIT\r\n")
	c.expect("250 2.0.0")
	c.expect("221 2.0.0") // 3: written just before Close
	lines = append(lines, "NOOP", "QUIT")
	if got := c.closed(); len(got) != 0 {
		t.Errorf("after QUIT: %q", got)
	}
	end := time.Now()
	deadlines, setDeadline, closed := sc.snapshot()
	if setDeadline != 0 {
		t.Errorf("2: go-smtp called SetDeadline %d times", setDeadline)
	}
	if len(deadlines) < len(lines) {
		t.Errorf("2: %d SetReadDeadline calls for %d command lines", len(deadlines), len(lines))
	}
	for i, d := range deadlines {
		if d.Before(start.Add(contractReadTimeout)) || d.After(end.Add(contractReadTimeout)) {
			t.Errorf("2: read deadline %d is %v, not now + ReadTimeout", i, d)
		}
	}
	if !closed {
		t.Error("3: go-smtp did not Close the connection after QUIT")
	}
}

// TestContractNoDeadlineInChunk: go-smtp sets one read deadline per
// command line and none while it reads BDAT chunks, so conn's data
// deadline holds for them.
func TestContractNoDeadlineInChunk(t *testing.T) {
	k := newContract(t)
	c, sc := k.dial()
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\n" +
		"BDAT 3\r\nabcBDAT 7 LAST\r\ndefghij")
	for _, want := range []string{"250-", "250 ", "250 ", "250 2.0.0", "250 2.0.0 <a@example.org>"} {
		c.expect(want)
	}
	// The last reply left when go-smtp read again, after the deadline for
	// that read: five command lines, one more read.
	if got, _, _ := sc.snapshot(); len(got) != 6 {
		t.Errorf("2: %d SetReadDeadline calls for 5 command lines and the next read, want 6", len(got))
	}
}

// TestContractTimeoutEnds: 4, a Read timeout while go-smtp waits for a
// command ends the connection with 421 4.4.2.
func TestContractTimeoutEnds(t *testing.T) {
	k := newContract(t)
	c, sc := k.dial()
	c.send("LHLO client.test\r\n")
	c.expect("250-")
	sc.drain()
	got := c.closed()
	if len(got) != 1 || !strings.HasPrefix(got[0], "421 4.4.2") {
		t.Errorf("4: an idle connection woken by a timeout got %q, want 421 4.4.2", got)
	}
	if _, _, closed := sc.snapshot(); !closed {
		t.Error("4: not closed")
	}
}

// TestContractChunkReadError: 5, an *smtp.SMTPError from Read inside a
// BDAT chunk is the reply, as is.
func TestContractChunkReadError(t *testing.T) {
	k := newContract(t)
	c, sc := k.dial()
	sc.mu.Lock()
	sc.readErr = errDataTimeoutRead
	sc.mu.Unlock()
	c.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\nBDAT 10 LAST\r\nabc")
	for _, want := range []string{"250-", "250 ", "250 "} {
		c.expect(want)
	}
	sc.Conn.SetReadDeadline(longAgo) // the chunk's read times out
	c.expect("451 4.4.2 timeout waiting for message data")
}
