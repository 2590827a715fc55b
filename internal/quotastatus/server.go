// Package quotastatus owns maildeliver's quota policy service for
// Postfix's check_policy_service ([quota_status] listen, served by
// lmtpd): Postfix asks, for each RCPT TO, whether the recipient's
// mailbox has room, and refuses an over-quota recipient during the SMTP
// session instead of accepting the message and bouncing it later.
//
// The protocol is Postfix's policy delegation protocol
// (SMTPD_POLICY_README): the client sends name=value lines and an empty
// line; the server answers one "action=..." line and an empty line, and
// the connection stays open for the next request (Postfix keeps it,
// smtpd_policy_service_max_idle / max_ttl). Answers:
//
//	action=DUNNO                       fits, unknown user, or cannot tell
//	action=552 5.2.2 <rcpt>: ...       over quota, [quota] full = "bounce"
//	action=452 4.2.2 <rcpt>: ...       over quota, [quota] full = "defer"
//
// Each request is answered from its own "recipient" and "size"
// attributes with the delivery's own lookup (canonicalisation, aliases,
// +detail) and quota rules (limit, grace, Courier's recount rules), so
// several recipients of one message are each answered for themselves,
// and with SIZE the declared size is taken into account (without SIZE,
// only a mailbox already full is refused). Unknown users, lookup and
// mailbox failures, a busy quota lock and a request not answered within
// [quota_status] timeout are DUNNO: Postfix decides, and delivery checks
// again. A request without a recipient (another protocol state) is DUNNO.
//
// A Postfix smtpd process keeps one connection; [quota_status]
// max_connections bounds them (clients beyond wait in the listen queue)
// and must exceed Postfix's smtpd process limit; idle_timeout closes a
// connection that sends nothing.
package quotastatus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"maildeliver/internal/connset"
	"maildeliver/internal/quota"
	"maildeliver/internal/status"
)

// Policy answers the quota question for one recipient: nil when a
// message of size bytes fits (or there is nothing to refuse), else the
// error its delivery would give (a *status.Error).
type Policy interface {
	QuotaStatus(ctx context.Context, rcpt string, size int64) error
}

// Options are New's parameters.
type Options struct {
	Timeout     time.Duration // answering one request; then DUNNO
	IdleTimeout time.Duration // waiting for a request
	MaxConns    int
	Log         *slog.Logger // nil: discard
}

// Server answers policy requests on listeners.
type Server struct {
	policy Policy
	opt    Options
	log    *slog.Logger
	slots  chan struct{} // one per open connection
	conns  *connset.Set
}

// New returns a server asking p.
func New(p Policy, opt Options) *Server {
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 10 * time.Minute
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 200
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{policy: p, opt: opt, log: log, slots: make(chan struct{}, opt.MaxConns), conns: connset.New()}
}

// Serve accepts connections on l until Shutdown, then returns nil; it
// closes l. Accept errors that persist are retried with a growing pause;
// a listener closed by someone else ends Serve with an error.
func (s *Server) Serve(l net.Listener) error {
	defer l.Close()
	remove, ok := s.conns.AddListener(l)
	if !ok {
		return nil
	}
	defer remove()
	for {
		// At the limit, stop accepting: clients wait in the listen queue.
		select {
		case s.slots <- struct{}{}:
		case <-s.conns.Done():
			return nil
		}
		nc, err := s.conns.Accept(l, s.log, "quota status")
		if nc == nil {
			<-s.slots
			return err
		}
		c := s.conns.Track(nc)
		if c == nil {
			nc.Close()
			<-s.slots
			return nil
		}
		go s.handle(c)
	}
}

// Shutdown stops accepting (closing the listeners), ends connections
// waiting for a request, and waits for the requests being answered. When
// ctx is done first it cancels them, closes every connection and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error { return s.conns.Shutdown(ctx) }

// handle answers one connection's requests in order.
func (s *Server) handle(c *connset.Conn) {
	defer func() {
		s.conns.Forget(c)
		<-s.slots
	}()
	r := NewReader(c)
	for {
		// Ended between requests, never while answering one.
		if !s.conns.Wait(c, time.Now().Add(s.opt.IdleTimeout)) {
			return
		}
		req, err := ReadRequest(r)
		if err != nil && !errors.Is(err, ErrMalformed) {
			if !errors.Is(err, io.EOF) && !s.conns.Closing() {
				s.log.Debug("quota status: connection ended", slog.String("error", err.Error()))
			}
			return
		}
		s.conns.Answer(c)
		action := ActionDunno
		if err != nil {
			s.log.Warn("quota status: malformed request, answered DUNNO", slog.String("error", err.Error()))
		} else {
			action = s.answer(req)
		}
		c.SetWriteDeadline(time.Now().Add(s.opt.Timeout))
		if _, err := io.WriteString(c, "action="+action+"\n\n"); err != nil {
			s.log.Debug("quota status: cannot answer", slog.String("error", err.Error()))
			return
		}
	}
}

// answer decides one well-formed request within [quota_status] timeout.
// The question runs on its own goroutine so that the answer is bounded
// even by a file system that hangs: past the timeout Postfix gets DUNNO
// and the question finishes on its own.
func (s *Server) answer(req Request) string {
	rcpt := req.Recipient()
	if req.Get("request") != "smtpd_access_policy" || rcpt == "" {
		return ActionDunno
	}
	size, err := req.Size()
	if err != nil {
		s.log.Warn("quota status: malformed request, answered DUNNO", slog.String("error", err.Error()))
		return ActionDunno
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(s.conns.Context(), s.opt.Timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.ask(ctx, rcpt, size) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("quotastatus: no answer within %v: %w", s.opt.Timeout, ctx.Err())
	}
	action := Decide(err)
	s.logAnswer(rcpt, size, action, err, time.Since(start))
	return action
}

// ask is the policy's question; a panic is an error, not a crash.
func (s *Server) ask(ctx context.Context, rcpt string, size int64) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("quotastatus: panic: %v", p)
		}
	}()
	return s.policy.QuotaStatus(ctx, rcpt, size)
}

// logAnswer logs refusals and failures; a plain fit or an unknown user
// only at debug level (Postfix logs its own decisions).
func (s *Server) logAnswer(rcpt string, size int64, action string, err error, d time.Duration) {
	attrs := []any{slog.String("to", rcpt), slog.Int64("size", size), slog.String("action", action),
		slog.Duration("duration", d.Round(time.Microsecond))}
	switch {
	case action != ActionDunno:
		s.log.Info("quota status", attrs...)
	case err == nil, errors.Is(err, quota.ErrOverQuota), status.From(err).Enhanced == "5.1.1":
		s.log.Debug("quota status", attrs...)
	default:
		s.log.Warn("quota status", append(attrs, slog.String("error", err.Error()))...)
	}
}
