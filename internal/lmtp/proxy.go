package lmtp

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/lmtpproxy"
	"maildeliver/internal/message"
	"maildeliver/internal/status"
)

// proxyMode is [lmtp] proxy = true: the router that reads each user's
// row, and the pool of backend connections (package lmtpproxy).
type proxyMode struct {
	router *lmtpproxy.Router
	pool   *lmtpproxy.Pool
	stop   chan struct{}
}

func (s *Server) newProxy(cfg *config.Config) {
	if !cfg.LMTP.Proxy {
		return
	}
	s.proxy = &proxyMode{
		router: lmtpproxy.NewRouter(cfg.LMTP, s.tcpPorts),
		pool: &lmtpproxy.Pool{Timeout: cfg.LMTP.ProxyTimeout.D(), IdleTimeout: cfg.LMTP.ProxyIdleTimeout.D(),
			Hostname: cfg.Hostname},
		stop: make(chan struct{}),
	}
	go s.proxy.expire(cfg.LMTP.ProxyIdleTimeout.D())
}

// expire closes idle backend connections past their idle timeout.
func (p *proxyMode) expire(idle time.Duration) {
	t := time.NewTicker(max(idle/2, time.Second))
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.pool.Expire()
		case <-p.stop:
			return
		}
	}
}

func (p *proxyMode) close() {
	if p != nil {
		close(p.stop)
		p.pool.Close()
	}
}

// tcpPorts are the TCP ports lmtpd listens on: a proxy_maybe row naming
// one of them on an address of this host is delivered here.
func (s *Server) tcpPorts() []int {
	var ports []int
	for _, a := range s.Addrs() {
		if ta, ok := a.(*net.TCPAddr); ok {
			ports = append(ports, ta.Port)
		}
	}
	return ports
}

// xclientAttrs: lmtpd takes the hop count of a proxy in front of it
// (Dovecot's LMTP proxy, or lmtpd's), nothing else of XCLIENT.
var xclientAttrs = []string{"TTL"}

// XClientAttributes makes session a go-smtp XClientSession (a patch in
// third_party/go-smtp).
func (s *session) XClientAttributes() []string { return xclientAttrs }

// XClient takes TTL=, the number of proxy hops this connection's mail may
// still take; it lasts for the connection.
func (s *session) XClient(attrs map[string]string) error {
	v, ok := attrs["TTL"]
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 255 {
		return reject(status.BadParameter("TTL wants a number 0-255"), "")
	}
	s.mu.Lock()
	s.ttl = n
	s.mu.Unlock()
	return nil
}

// route decides, in proxy mode, whether rcpt is delivered here (nil
// backend, and the lookup's result for ResolveFound) or forwarded.
func (s *session) route(tx *txn, to string) (*lmtpproxy.Backend, *delivery.Found, error) {
	f, err := tx.agent.agent.Lookup(s.srv.ctx, to)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.srv.proxy.router.Route(s.srv.ctx, to, f.User, tx.ttl)
	if err != nil || !r.Remote {
		return nil, f, err
	}
	return &r.Backend, f, nil
}

// forwardTTL is the hop count sent on: one less than received, or
// lmtpproxy.DefaultTTL from the first proxy.
func forwardTTL(received int) int {
	if received < 0 {
		return lmtpproxy.DefaultTTL
	}
	return max(received-1, 0)
}

// forwarded is one backend's share of a data phase: the distinct
// addresses sent to it (in RCPT order) and every RCPT each one answers.
type forwarded struct {
	backend lmtpproxy.Backend
	rcpts   []lmtpproxy.Recipient
	addrs   [][]string
}

// groupRemote collects the forwarded recipients per backend, in order of
// first appearance; an address named twice is sent once.
func groupRemote(tx *txn) []*forwarded {
	var out []*forwarded
	by := map[lmtpproxy.Backend]*forwarded{}
	for _, r := range tx.rcpts {
		if r.backend == nil {
			continue
		}
		f := by[*r.backend]
		if f == nil {
			f = &forwarded{backend: *r.backend}
			by[*r.backend] = f
			out = append(out, f)
		}
		dup := false
		for i, x := range f.rcpts {
			if x.Addr == r.addr {
				f.addrs[i] = append(f.addrs[i], r.addr)
				dup = true
				break
			}
		}
		if !dup {
			f.rcpts = append(f.rcpts, lmtpproxy.Recipient{Addr: r.addr, ORCPT: r.orig})
			f.addrs = append(f.addrs, []string{r.addr})
		}
	}
	return out
}

// forward sends the message to one backend and sets its recipients'
// replies, converted by status (a backend's 5xx stays that 5xx, its 4xx a
// 4xx, anything else 4.x.x) or relayed as success.
func (s *session) forward(tx *txn, f *forwarded, sp *spool, p *message.Message, sc smtp.StatusCollector) {
	start := time.Now()
	env := lmtpproxy.Envelope{Sender: tx.sender, Size: tx.size, UTF8: tx.utf8, QueueID: tx.queueID, TTL: forwardTTL(tx.ttl)}
	hdr := proxyReceived(tx, s.remote, tx.agent.agent.Config().Hostname, time.Now())
	replies := s.srv.proxy.pool.Deliver(s.srv.ctx, f.backend, env, f.rcpts, hdr, sp, sp.size)
	for i, rep := range replies {
		var r *smtp.SMTPError
		attrs := []slog.Attr{slog.String("id", tx.id), slog.String("queue_id", tx.queueID),
			slog.String("msgid", p.Header.MessageID), slog.String("from", tx.sender),
			slog.String("to", f.rcpts[i].Addr), slog.String("backend", f.backend.String()),
			slog.Duration("duration", time.Since(start).Round(time.Microsecond))}
		if rep.Err == nil {
			s.srv.metrics.ObserveForward("delivered", "2.0.0")
			r = relayed(tx.id, f.backend.String(), rep.Text)
			s.srv.log.LogAttrs(context.Background(), slog.LevelInfo, "proxied",
				append(attrs, slog.String("result", "delivered"), slog.String("reply", status.OneLine(rep.Text)))...)
		} else {
			r = reply(rep.Err, tx.id)
			result := "bounced"
			if rep.Err.Temporary() {
				result = "deferred"
			}
			s.srv.metrics.ObserveForward(result, string(rep.Err.Enhanced))
			attrs = append(attrs, slog.String("result", result), slog.String("code", string(rep.Err.Enhanced)),
				slog.String("reason", rep.Err.Reason))
			if rep.Err.Err != nil {
				attrs = append(attrs, slog.String("error", rep.Err.Err.Error()))
			}
			s.srv.log.LogAttrs(context.Background(), slog.LevelWarn, "proxied", attrs...)
		}
		for _, a := range f.addrs[i] {
			sc.SetStatus(a, r)
		}
	}
}

// proxyReceived is the proxy's own trace field, prepended to what it
// forwards (the backend adds its own, as for any LMTP client).
func proxyReceived(tx *txn, remote, host string, now time.Time) string {
	return "Received: from " + tx.helo + " (" + remote + ")\r\n\tby " + host + " with LMTP id " + tx.id +
		" (proxied); " + now.Format(time.RFC1123Z) + "\r\n"
}

// userLimit is [lmtp] user_concurrency_limit: how many transactions hold
// each user. As Dovecot's lmtp (anvil CONNECT when RCPT is accepted,
// DISCONNECT when the recipient is done), a recipient is counted from its
// accepted RCPT until its delivery is done (just before its reply is
// sent) or its transaction ends without one (RSET, a failed data phase,
// the connection gone); a RCPT finding the limit reached is refused
// 451 4.3.0. Only recipients delivered here count, as in Dovecot.
type userLimit struct {
	max int // 0: unlimited
	mu  sync.Mutex
	n   map[string]int
}

func (l *userLimit) acquire(user string) bool {
	if l.max <= 0 {
		return true
	}
	k := strings.ToLower(user)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[k] >= l.max {
		return false
	}
	if l.n == nil {
		l.n = make(map[string]int)
	}
	l.n[k]++
	return true
}

// release gives back one slot of user ("" is none).
func (l *userLimit) release(user string) {
	if l.max <= 0 || user == "" {
		return
	}
	k := strings.ToLower(user)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[k]--; l.n[k] <= 0 {
		delete(l.n, k)
	}
}
