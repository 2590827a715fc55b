package lmtpproxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/status"
)

// Pool keeps LMTP connections to backends between transactions: one
// transaction at a time per connection, idle ones kept per backend for
// IdleTimeout and checked with RSET before reuse. It is safe for
// concurrent use.
type Pool struct {
	// Timeout bounds connecting and each command; the message and the
	// per-recipient replies after it get Timeout each.
	Timeout time.Duration
	// IdleTimeout closes connections idle longer (checked on use and by
	// Close; a backend closes them itself after its command timeout).
	IdleTimeout time.Duration
	// Hostname is sent in LHLO.
	Hostname string

	mu     sync.Mutex
	idle   map[string][]*pconn
	closed bool
}

type pconn struct {
	c    *smtp.Client
	nc   net.Conn
	last time.Time
	ttl  int // TTL= last sent on this connection, -1 none
}

func (p *pconn) close() { p.nc.Close() }

// get returns a ready connection to b: an idle one that answers RSET, or
// a new one greeted with LHLO.
func (p *Pool) get(ctx context.Context, b Backend) (*pconn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errors.New("lmtpproxy: pool closed")
		}
		l := p.idle[b.Addr()]
		var pc *pconn
		if n := len(l); n > 0 {
			pc = l[n-1]
			p.idle[b.Addr()] = l[:n-1]
		}
		p.mu.Unlock()
		if pc == nil {
			break
		}
		if time.Since(pc.last) > p.IdleTimeout {
			pc.close()
			continue
		}
		// RSET: the backend is alive and the connection in step. It
		// also makes the next command greet again (go-smtp), which
		// resets nothing lmtpd needs (TTL belongs to the connection).
		if err := pc.c.Reset(); err != nil {
			pc.close()
			continue
		}
		return pc, nil
	}
	d := net.Dialer{Timeout: p.Timeout}
	nc, err := d.DialContext(ctx, "tcp", b.Addr())
	if err != nil {
		return nil, err
	}
	c := smtp.NewClientLMTP(nc)
	c.CommandTimeout, c.SubmissionTimeout = p.Timeout, p.Timeout
	if err := c.Hello(p.Hostname); err != nil {
		nc.Close()
		return nil, err
	}
	return &pconn{c: c, nc: nc, ttl: -1}, nil
}

func (p *Pool) put(b Backend, pc *pconn) {
	pc.last = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		pc.close()
		return
	}
	if p.idle == nil {
		p.idle = make(map[string][]*pconn)
	}
	p.idle[b.Addr()] = append(p.idle[b.Addr()], pc)
}

// Close closes the idle connections; connections in use are closed when
// their transaction ends.
func (p *Pool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, l := range idle {
		for _, pc := range l {
			pc.c.Quit()
			pc.close()
		}
	}
}

// Expire closes connections idle longer than IdleTimeout.
func (p *Pool) Expire() {
	var old []*pconn
	p.mu.Lock()
	for k, l := range p.idle {
		keep := l[:0]
		for _, pc := range l {
			if time.Since(pc.last) > p.IdleTimeout {
				old = append(old, pc)
			} else {
				keep = append(keep, pc)
			}
		}
		p.idle[k] = keep
	}
	p.mu.Unlock()
	for _, pc := range old {
		pc.close()
	}
}

// Envelope is what a forwarded transaction carries besides the message.
type Envelope struct {
	Sender  string
	Size    int64  // MAIL SIZE= as received, 0 none
	UTF8    bool   // MAIL SMTPUTF8 as received
	QueueID string // Postfix's queue id: XFORWARD IDENT= to the backend
	TTL     int    // hop count to send (XCLIENT TTL=)
}

// Recipient is one forwarded RCPT.
type Recipient struct {
	Addr  string // as received in RCPT TO
	ORCPT string // DSN original recipient, "" none
}

// Reply is a backend's answer for one recipient: Err nil means the
// backend took it (Text is its reply text).
type Reply struct {
	Text string
	Err  *status.Error
}

// Deliver forwards one message to b for rcpts (distinct addresses), in
// one transaction, and returns each recipient's reply in rcpts' order.
// msg is read from its start; header is prepended (the proxy's trace
// field). Connection failures become BackendNoAnswer (connect) or
// BackendConnection (later) for every recipient not yet answered; the
// backend's own replies go through status.Backend. ctx cancelled (lmtpd
// shutting down) cuts the connection.
func (p *Pool) Deliver(ctx context.Context, b Backend, env Envelope, rcpts []Recipient, header string, msg io.ReaderAt, size int64) []Reply {
	out := make([]Reply, len(rcpts))
	fill := func(e *status.Error) {
		for i := range out {
			if out[i].Err == nil && out[i].Text == "" {
				out[i].Err = e
			}
		}
	}
	pc, err := p.get(ctx, b)
	if err != nil {
		var dnsErr *net.DNSError
		var se *smtp.SMTPError
		switch {
		case errors.As(err, &dnsErr):
			fill(status.BackendLookup(b.String()).Wrap(err))
		case errors.As(err, &se): // greeting or LHLO refused
			fill(status.Backend(b.String(), se.Code, se.EnhancedCode, se.Message).Wrap(err))
		default:
			fill(status.BackendNoAnswer(b.String()).Wrap(err))
		}
		return out
	}
	stop := context.AfterFunc(ctx, func() { pc.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	ok, err := p.transaction(pc, b, env, rcpts, header, msg, size, out)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			fill(status.Backend(b.String(), se.Code, se.EnhancedCode, se.Message))
		} else {
			fill(status.BackendConnection(b.String()).Wrap(err))
		}
	}
	if ok && stop() {
		p.put(b, pc)
	} else {
		pc.close()
	}
	return out
}

// transaction runs XCLIENT/XFORWARD, MAIL, RCPT, DATA on pc, filling out.
// ok is whether the connection is still in step (reusable); err, when not
// nil, applies to every recipient not answered yet.
func (p *Pool) transaction(pc *pconn, b Backend, env Envelope, rcpts []Recipient, header string, msg io.ReaderAt, size int64, out []Reply) (ok bool, err error) {
	c := pc.c
	if pc.ttl != env.TTL {
		if _, err := c.XClient(map[string]string{"TTL": strconv.Itoa(env.TTL)}); err != nil {
			return false, err
		}
		pc.ttl = env.TTL
	}
	if env.QueueID != "" {
		if err := c.XForward(map[string]string{"IDENT": env.QueueID}); err != nil {
			return false, err
		}
	}
	// SMTPUTF8 only where the backend advertises it: a mailbox store
	// without the keyword stores a UTF-8 message all the same, and
	// refusing here would defer the mail until it bounced.
	utf8 := env.UTF8
	if ok, _ := c.Extension("SMTPUTF8"); !ok {
		utf8 = false
	}
	if err := c.Mail(env.Sender, &smtp.MailOptions{Size: env.Size, UTF8: utf8}); err != nil {
		var se *smtp.SMTPError
		return errors.As(err, &se), err
	}
	dsn, _ := c.Extension("DSN")
	accepted := 0
	for i, r := range rcpts {
		var opts *smtp.RcptOptions
		if dsn && r.ORCPT != "" {
			t := smtp.DSNAddressTypeRFC822
			if !isASCII(r.ORCPT) {
				t = smtp.DSNAddressTypeUTF8
			}
			opts = &smtp.RcptOptions{OriginalRecipient: r.ORCPT, OriginalRecipientType: t}
		}
		err := c.Rcpt(r.Addr, opts)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &se):
			out[i].Err = status.Backend(b.String(), se.Code, se.EnhancedCode, withoutRcpt(se.Message, r.Addr))
		default:
			return false, err
		}
	}
	if accepted == 0 {
		return c.Reset() == nil, nil
	}
	w, err := c.Data()
	if err != nil {
		var se *smtp.SMTPError
		return errors.As(err, &se) && c.Reset() == nil, err
	}
	pc.nc.SetWriteDeadline(time.Now().Add(p.Timeout))
	_, err = io.Copy(w, io.MultiReader(strings.NewReader(header), io.NewSectionReader(msg, 0, size)))
	pc.nc.SetWriteDeadline(time.Time{})
	if err != nil {
		return false, fmt.Errorf("sending the message: %w", err)
	}
	resp, err := w.CloseWithLMTPResponse()
	var lerr smtp.LMTPDataError
	if err != nil && !errors.As(err, &lerr) {
		// Replies read before the connection failed still count.
		p.record(b, rcpts, resp, lerr, out)
		return false, err
	}
	p.record(b, rcpts, resp, lerr, out)
	return true, nil
}

func (p *Pool) record(b Backend, rcpts []Recipient, resp map[string]*smtp.DataResponse, lerr smtp.LMTPDataError, out []Reply) {
	for i, r := range rcpts {
		if out[i].Err != nil {
			continue
		}
		if d, ok := resp[r.Addr]; ok {
			out[i].Text = cmp.Or(withoutRcpt(d.StatusText, r.Addr), "ok")
		} else if se, ok := lerr[r.Addr]; ok {
			out[i].Err = status.Backend(b.String(), se.Code, se.EnhancedCode, withoutRcpt(se.Message, r.Addr))
		}
	}
}

// withoutRcpt drops what the relayed reply gets again from lmtpd: the
// enhanced code go-smtp's client leaves in a success's text ("2.0.0 ...")
// and the "<rcpt> " LMTP servers (lmtpd, Dovecot) put before a data-phase
// reply.
func withoutRcpt(text, addr string) string {
	if code, rest, ok := strings.Cut(text, " "); ok && len(code) >= 5 && code[1] == '.' &&
		strings.Trim(code, "0123456789.") == "" {
		text = rest
	}
	return strings.TrimPrefix(text, "<"+addr+"> ")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
