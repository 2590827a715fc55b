package userdbsock

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"maildeliver/internal/connset"
	"maildeliver/internal/lookup"
)

// Server defaults.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultMaxConns = 256
	// DefaultMaxConnTime bounds how long one connection may stay open,
	// however busy its client keeps it: deliver needs one lookup.
	DefaultMaxConnTime = 30 * time.Second
)

// refuseTimeout bounds writing the "busy" answer to a connection beyond
// MaxConns; a fresh socket's buffer takes it at once.
const refuseTimeout = 100 * time.Millisecond

// longAgo is a read deadline in the past: it makes a blocked Read return.
var longAgo = time.Unix(1, 0)

// ServerOptions are NewServer's optional parameters.
type ServerOptions struct {
	// Timeout bounds the wait for each request line and the writing of
	// each answer; 0 = DefaultTimeout. The lookup itself is bounded by
	// the userdb (package lookup applies [userdb] timeout).
	Timeout time.Duration
	// MaxConns bounds open connections; 0 = DefaultMaxConns. A
	// connection beyond it is answered "busy" and closed at once.
	MaxConns int
	// MaxConnTime bounds the life of one connection; it is closed at the
	// first request boundary past it. 0 = DefaultMaxConnTime.
	MaxConnTime time.Duration
	Log         *slog.Logger // nil: discard
}

// Server answers lookups on unix socket listeners.
type Server struct {
	db          lookup.Userdb
	timeout     time.Duration
	maxConnTime time.Duration
	log         *slog.Logger
	slots       chan struct{} // one per open connection
	// saturated is set by a refusal and cleared when a connection is
	// accepted again, so that an attack logs one warning per episode.
	saturated atomic.Bool
	// conns' Context is what lookups run under; cancelled when Shutdown
	// gives up waiting.
	conns *connset.Set
}

// NewServer returns a server that asks db.
func NewServer(db lookup.Userdb, opt ServerOptions) *Server {
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = DefaultMaxConns
	}
	if opt.MaxConnTime <= 0 {
		opt.MaxConnTime = DefaultMaxConnTime
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{db: db, timeout: opt.Timeout, maxConnTime: opt.MaxConnTime, log: opt.Log,
		slots: make(chan struct{}, opt.MaxConns), conns: connset.New()}
	return s
}

// Serve accepts connections on l until Shutdown, and then returns nil; it
// closes l. Other accept errors that persist are retried with a growing
// pause (as net/http does for EMFILE); a listener closed by someone else
// ends Serve with an error.
func (s *Server) Serve(l net.Listener) error {
	defer l.Close()
	remove, ok := s.conns.AddListener(l)
	if !ok {
		return nil
	}
	defer remove()
	for {
		nc, err := s.conns.Accept(l, s.log, "userdb socket")
		if nc == nil {
			return err
		}
		// At the limit, say so at once rather than leave the client in the
		// listen queue behind clients that keep every slot busy: deliver
		// then asks the SQL userdb itself (issue 17 item 8).
		select {
		case s.slots <- struct{}{}:
		default:
			s.refuse(nc)
			continue
		}
		c := s.conns.Track(nc)
		if c != nil {
			s.saturated.Store(false)
		}
		if c == nil {
			nc.Close()
			<-s.slots
			return nil
		}
		go s.handle(c)
	}
}

// refuse answers a connection beyond MaxConns "busy" and closes it,
// without reading its request. The first refusal after a slot was last
// free is logged as a warning, the rest at debug level.
func (s *Server) refuse(nc net.Conn) {
	nc.SetWriteDeadline(time.Now().Add(refuseTimeout))
	nc.Write(busyLine)
	nc.Close()
	if s.saturated.Swap(true) {
		s.log.Debug("userdb socket: all connections in use, refused one", slog.Int("max_conns", cap(s.slots)))
		return
	}
	s.log.Warn("userdb socket: all connections in use, refusing more (clients ask SQL themselves)",
		slog.Int("max_conns", cap(s.slots)))
}

// Shutdown stops accepting (closing the listeners, which removes their
// socket files), ends connections waiting for a request, and waits for
// the lookups in progress to be answered. When ctx is done first, it
// cancels them, closes every connection, waits for the handlers to
// return, and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error { return s.conns.Shutdown(ctx) }

// handle answers one connection's requests in order.
func (s *Server) handle(c *connset.Conn) {
	defer func() {
		s.conns.Forget(c)
		<-s.slots
	}()
	until := time.Now().Add(s.maxConnTime) // end of the connection's life
	r := bufio.NewReaderSize(c, MaxLine)
	for {
		// A connection is ended between requests, never while one is
		// being answered: Shutdown's past deadline must not be replaced
		// by a fresh one.
		deadline := time.Now().Add(s.timeout)
		if until.Before(deadline) {
			deadline = until
		}
		if !s.conns.Wait(c, deadline) {
			return
		}
		line, err := r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			s.log.Warn("userdb socket: request line too long", slog.Int("max", MaxLine))
			s.answer(c, response{Error: errTooLong})
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			if !s.conns.Closing() {
				s.log.Debug("userdb socket: no request within the timeout or the connection's time is up, closing",
					slog.Duration("timeout", s.timeout), slog.Duration("max_conn_time", s.maxConnTime))
			}
			return
		case err != nil:
			// EOF between requests is the normal end; anything else
			// (EOF inside a line, reset) leaves nothing to answer.
			if !errors.Is(err, io.EOF) || len(line) > 0 {
				s.log.Debug("userdb socket: connection ended", slog.String("error", err.Error()))
			}
			return
		}
		s.conns.Answer(c)
		if !s.answer(c, s.respond(line)) {
			return
		}
	}
}

// respond turns one request line into its answer; details go to the log.
func (s *Server) respond(line []byte) (resp response) {
	var req request
	if err := json.Unmarshal(line, &req); err != nil || req.Address == "" {
		why := "no address"
		if err != nil {
			why = err.Error()
		}
		s.log.Warn("userdb socket: malformed request", slog.String("error", why))
		return response{Error: errMalformed}
	}
	defer func() {
		// A panicking userdb must not take lmtpd down with it.
		if p := recover(); p != nil {
			s.log.Error("userdb socket: lookup panicked", slog.String("to", req.Address),
				slog.String("error", fmt.Sprint(p)))
			resp = response{Error: errLookup}
		}
	}()
	u, err := s.db.Lookup(s.conns.Context(), req.Address)
	switch {
	case err == nil:
		return response{User: toWire(u)}
	case errors.Is(err, lookup.ErrNotFound):
		return response{NotFound: true}
	}
	s.log.Warn("userdb socket: lookup failed", slog.String("to", req.Address), slog.String("error", err.Error()))
	return response{Error: errLookup}
}

// answer writes one response line; false when the connection is broken.
func (s *Server) answer(c *connset.Conn, resp response) bool {
	b, err := json.Marshal(resp)
	if err != nil { // cannot happen: strings and integers only
		b = []byte(`{"error":"` + errLookup + `"}`)
	}
	c.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := c.Write(append(b, '\n')); err != nil {
		s.log.Debug("userdb socket: cannot answer", slog.String("error", err.Error()))
		return false
	}
	return true
}
