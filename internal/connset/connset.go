// Package connset owns the life cycle of the connections of lmtpd's two
// small request/answer servers, the userdb socket (package userdbsock)
// and the quota policy service (package quotastatus): which listeners
// and connections are open, which connection is answering a request,
// and a Shutdown that stops accepting, ends the connections waiting for
// a request at once and waits, bounded by a context, for the answers in
// progress. A connection is only ever ended between requests, never
// while it is being answered, unless Shutdown's context runs out.
package connset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// longAgo is a read deadline in the past: it makes a blocked Read return.
var longAgo = time.Unix(1, 0)

// Set is the connections of one server.
type Set struct {
	done   chan struct{} // closed when Shutdown starts
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	handlers  sync.WaitGroup
}

// Conn is one accepted connection.
type Conn struct {
	net.Conn
	busy bool // answering a request; guarded by Set.mu
}

// New returns an empty Set.
func New() *Set {
	s := &Set{done: make(chan struct{}), listeners: make(map[net.Listener]struct{}),
		conns: make(map[*Conn]struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Context is what answers run under: cancelled when Shutdown ends (at
// once when it gives up waiting).
func (s *Set) Context() context.Context { return s.ctx }

// Done is closed when Shutdown starts.
func (s *Set) Done() <-chan struct{} { return s.done }

// Closing reports whether Shutdown has started.
func (s *Set) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// AddListener registers l for Shutdown to close; false when Shutdown has
// started (the caller then stops serving). The returned func removes it.
func (s *Set) AddListener(l net.Listener) (remove func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, false
	}
	s.listeners[l] = struct{}{}
	return func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}, true
}

// Accept accepts the next connection on l. An accept error that
// persists (EMFILE, ENFILE) is logged and retried with a pause growing
// from 5 ms to 1 s, as net/http does; Shutdown ends the wait. It returns
// nil, nil once Shutdown has started, and an error when someone else
// closed l. name prefixes the log line and the error.
func (s *Set) Accept(l net.Listener, log *slog.Logger, name string) (net.Conn, error) {
	var pause time.Duration
	for {
		nc, err := l.Accept()
		if err == nil {
			return nc, nil
		}
		if s.Closing() {
			return nil, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, fmt.Errorf("%s: accept: %w", name, err)
		}
		pause = min(max(2*pause, 5*time.Millisecond), time.Second)
		log.Warn(name+": accept failed", slog.String("error", err.Error()), slog.Duration("retry_in", pause))
		select {
		case <-time.After(pause):
		case <-s.done:
			return nil, nil
		}
	}
}

// Track registers an accepted connection whose handler is about to
// start; nil when Shutdown has started. The handler ends with Forget.
func (s *Set) Track(nc net.Conn) *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	c := &Conn{Conn: nc}
	s.conns[c] = struct{}{}
	s.handlers.Add(1)
	return c
}

// Forget closes c and ends its handler's registration.
func (s *Set) Forget(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
	s.handlers.Done()
}

// Wait marks c as waiting for its next request, with a read deadline;
// false when Shutdown has started (the handler then ends c): Shutdown's
// past deadline must not be replaced by a fresh one.
func (s *Set) Wait(c *Conn, deadline time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.busy = false
	if s.closing {
		return false
	}
	c.SetReadDeadline(deadline)
	return true
}

// Answer marks c as answering a request it has read: Shutdown lets it
// finish.
func (s *Set) Answer(c *Conn) {
	s.mu.Lock()
	c.busy = true
	s.mu.Unlock()
}

// Shutdown stops accepting (closing the listeners, which removes unix
// socket files), ends connections waiting for a request, and waits for
// the answers in progress. When ctx is done first, it cancels them,
// closes every connection, waits for the handlers to return and returns
// ctx's error.
func (s *Set) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
	}
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		if !c.busy {
			c.SetReadDeadline(longAgo)
		}
	}
	s.mu.Unlock()
	idle := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(idle)
	}()
	select {
	case <-idle:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-idle
	return ctx.Err()
}
