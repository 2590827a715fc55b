package lmtp

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// longAgo is a read deadline in the past: it makes a blocked Read return.
var longAgo = time.Unix(1, 0)

// errDataTimeoutRead is what a connection returns, from its first timed-out
// read in the data phase on, instead of the network's timeout error. It is
// an *smtp.SMTPError on purpose: go-smtp shows a BDAT read error to the
// client as is, and would turn a plain timeout into "554 5.0.0".
var errDataTimeoutRead = reply(errDataTime, "")

// conn wraps each accepted connection. go-smtp only ever sets deadlines
// before it reads a command line, so the wrapper is where lmtpd adds what
// go-smtp lacks:
//
//   - the data deadline: [lmtp] data_timeout for the whole message (DATA
//     or all BDAT chunks), set when the data phase begins; go-smtp's
//     per-command deadline is clamped to it while it lasts;
//   - a timeout in the data phase breaks the connection for good: the
//     rest of the message would otherwise be read as commands;
//   - draining for shutdown: a connection waiting for a command is woken
//     at once (go-smtp answers 421 and closes it), one in its data phase
//     is left alone until the transaction is answered;
//   - write batching: go-smtp flushes every reply line with its own
//     write(2) (an LHLO reply is 8). Replies are collected and sent when
//     go-smtp next reads (or closes), so a pipelined transaction's replies
//     leave in one or two writes. Nothing is sent earlier than before:
//     a reply is only ever written after go-smtp produced it. Except
//     while recipients' replies of a data phase are still undecided:
//     go-smtp writes them in RCPT order and waits for each, so a reply
//     written then is sent at once, or a recipient whose file is already
//     durable would wait for a slower one (a full disk, a maildir locked
//     by its owner) and Postfix, timing out, would deliver it again.
type conn struct {
	net.Conn
	srv *Server

	wmu  sync.Mutex
	wbuf []byte
	// undecided counts the data phase's recipients (delivered once per
	// mailbox) whose reply is not yet set; while it is positive, Write
	// sends at once.
	undecided atomic.Int32

	mu           sync.Mutex
	inData       bool
	draining     bool
	dataDeadline time.Time // non-zero from the data phase until the next command read
	broken       error

	closeOnce sync.Once
	closeErr  error
}

func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	c.wbuf = append(c.wbuf, p...)
	c.wmu.Unlock()
	if c.undecided.Load() > 0 {
		// go-smtp may wait next for a reply not decided yet.
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// expectReplies starts a data phase's deliveries: n replies are still to
// be decided. The connection may be nil (a listener not ours).
func (c *conn) expectReplies(n int) {
	if c != nil {
		c.undecided.Store(int32(n))
	}
}

// replyDecided is called once a reply of the data phase is set: the
// last one lets replies batch again.
func (c *conn) replyDecided() {
	if c != nil {
		c.undecided.Add(-1)
	}
}

// flush sends the collected replies.
func (c *conn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.wbuf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.wbuf)
	if cap(c.wbuf) > 64<<10 {
		c.wbuf = nil // do not keep a large buffer per idle connection
	} else {
		c.wbuf = c.wbuf[:0]
	}
	return err
}

func (c *conn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	broken := c.broken
	c.mu.Unlock()
	if broken != nil {
		return 0, broken
	}
	n, err := c.Conn.Read(p)
	if err != nil && isDataTimeout(err) {
		c.mu.Lock()
		if c.inData || !c.dataDeadline.IsZero() {
			c.broken = errDataTimeoutRead
			err = c.broken
		}
		c.mu.Unlock()
	}
	return n, err
}

// SetReadDeadline is called by go-smtp before each command line.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.inData:
		// A BDAT command between chunks: the data deadline still holds.
		if t.IsZero() || t.After(c.dataDeadline) {
			t = c.dataDeadline
		}
	case c.draining:
		c.dataDeadline = time.Time{}
		t = longAgo
	default:
		c.dataDeadline = time.Time{}
	}
	return c.Conn.SetReadDeadline(t)
}

// beginData starts the data phase with its whole-message deadline.
func (c *conn) beginData(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inData = true
	c.dataDeadline = time.Now().Add(d)
	c.Conn.SetReadDeadline(c.dataDeadline)
}

// endData ends the data phase: the message has been read.
func (c *conn) endData() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inData = false
	if c.draining {
		c.Conn.SetReadDeadline(longAgo)
	}
}

// drain makes the connection end at its next command read.
func (c *conn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	if !c.inData {
		c.Conn.SetReadDeadline(longAgo)
	}
}

// Close unregisters the connection; it is called by go-smtp (possibly more
// than once) when the session ends.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.srv.untrack(c)
		c.flush() // a last reply (221, 421) before the close
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}

// listener hands go-smtp only the connections within [lmtp]
// max_connections; the others get "421 4.3.2" and are closed.
type listener struct {
	net.Listener
	srv  *Server
	name string // the [lmtp] listen entry, for logs

	closeOnce sync.Once
	closeErr  error
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c := l.srv.track(nc); c != nil {
			return c, nil
		}
		l.srv.log.Warn("connection refused: too many connections", slog.String("listen", l.name),
			slog.Int("max_connections", l.srv.cfg.LMTP.MaxConnections))
		go refuse(nc)
	}
}

// Close may be called both by lmtpd and by go-smtp.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		l.closeErr = l.Listener.Close()
		if errors.Is(l.closeErr, net.ErrClosed) {
			l.closeErr = nil
		}
	})
	return l.closeErr
}

// refuse answers a connection over the limit without reading from it.
func refuse(nc net.Conn) {
	nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	nc.Write([]byte(rawReply(errTooMany)))
	nc.Close()
}

// track registers an accepted connection, or returns nil when the limit
// is reached.
func (s *Server) track(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) >= s.cfg.LMTP.MaxConnections {
		return nil
	}
	c := &conn{Conn: nc, srv: s}
	if s.draining {
		c.draining = true
		nc.SetReadDeadline(longAgo)
	}
	s.conns[c] = struct{}{}
	return c
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}
