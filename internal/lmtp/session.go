package lmtp

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
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

// backend makes sessions for go-smtp.
type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	if b.s.isDraining() {
		return nil, reject(errShutdown, "")
	}
	sess := &session{srv: b.s, c: c, remote: remoteName(c.Conn().RemoteAddr()), ttl: -1}
	sess.conn, _ = c.Conn().(*conn)
	b.s.metrics.SessionStart()
	return sess, nil
}

// session is one connection's LMTP state. go-smtp calls Mail, Rcpt and
// Reset from the connection's goroutine, but LMTPData runs on another
// one (for BDAT, concurrently with the next commands), and Logout may come
// from either: the transaction is guarded by mu, and LMTPData takes it
// over whole before using it.
type session struct {
	srv    *Server
	c      *smtp.Conn
	conn   *conn // nil only if the listener was not ours
	remote string

	mu      sync.Mutex
	tx      *txn
	queueID string // XFORWARD IDENT= for the next transaction
	ttl     int    // XCLIENT TTL= (proxy hops left) for the connection, -1 none
}

// txn is one mail transaction, from MAIL to the end of the data phase.
type txn struct {
	id      string // delivery id, shared by the transaction's recipients
	queueID string // Postfix's queue id (XFORWARD IDENT), "" if not sent
	sender  string
	size    int64 // MAIL SIZE=, 0 when not given
	utf8    bool  // MAIL SMTPUTF8
	ttl     int   // the session's XCLIENT TTL= at MAIL, -1 none
	helo    string
	agent   *agentRef
	rcpts   []rcpt
}

// end releases what the transaction holds: the concurrency slots of
// recipients not delivered (RSET, a failed data phase), and the pinned
// agent.
func (s *session) end(tx *txn) {
	for i := range tx.rcpts {
		s.srv.users.release(tx.rcpts[i].held)
		tx.rcpts[i].held = ""
	}
	s.srv.release(tx.agent)
}

// rcpt is an accepted recipient.
type rcpt struct {
	addr   string           // as in RCPT TO: the key of go-smtp's status collector
	orig   string           // ORCPT, "" if none or unusable
	target *delivery.Target // delivered here; nil when forwarded
	// backend is where proxy mode forwards the recipient; nil: here.
	backend *lmtpproxy.Backend
	// held is the user whose [lmtp] user_concurrency_limit slot this
	// recipient holds from its RCPT until its delivery is done; "" none.
	held string
}

// guard turns a panic in a command into a temporary failure of that
// command: the process and the other sessions carry on.
func (s *session) guard(err *error, id string) {
	if p := recover(); p != nil {
		s.srv.log.Error("panic in LMTP session", slog.String("id", id), slog.Any("panic", p),
			slog.String("stack", string(debug.Stack())))
		*err = reject(errInternal, id)
	}
}

func (s *session) Mail(from string, opts *smtp.MailOptions) (err error) {
	defer s.guard(&err, "")
	if err := delivery.CheckSender(from); err != nil {
		return reject(err, "")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx != nil {
		return reject(errNestedMail, s.tx.id)
	}
	a, err := s.srv.acquire()
	if err != nil {
		return reject(err, "")
	}
	tx := &txn{id: delivery.NewID(), queueID: s.queueID, ttl: s.ttl, sender: from, helo: cleanHelo(s.c.Hostname()), agent: a}
	if opts != nil {
		tx.size, tx.utf8 = opts.Size, opts.UTF8
	}
	s.tx = tx
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) (err error) {
	s.mu.Lock()
	tx := s.tx
	s.mu.Unlock()
	if tx == nil {
		return reject(errNoMail, "")
	}
	defer s.guard(&err, tx.id)
	if len(tx.rcpts) >= s.srv.cfg.LMTP.MaxRecipients {
		return reject(status.TooManyRecipients(), tx.id)
	}
	orig, err := origRecipient(opts)
	if err != nil {
		return reject(err, tx.id)
	}
	start := time.Now()
	agent := tx.agent.agent
	var t *delivery.Target
	var backend *lmtpproxy.Backend
	if s.srv.proxy != nil {
		var f *delivery.Found
		if backend, f, err = s.route(tx, to); err == nil && backend == nil {
			t, err = agent.ResolveFound(s.srv.ctx, to, f, "")
		}
	} else {
		t, err = agent.Resolve(s.srv.ctx, to, "")
	}
	if err == nil && t != nil && tx.size > 0 {
		err = agent.QuotaCheck(s.srv.ctx, t, tx.size)
	}
	if err == nil && t != nil && !s.srv.users.acquire(t.User.Address) {
		err = status.UserConcurrency(to)
	}
	if err != nil {
		agent.Report(delivery.Outcome{ID: tx.id, QueueID: tx.queueID, Sender: tx.sender, Recipient: to,
			Err: err, Start: start})
		return reject(err, tx.id)
	}
	held := ""
	if t != nil {
		held = t.User.Address
	}
	s.mu.Lock()
	tx.rcpts = append(tx.rcpts, rcpt{addr: to, orig: orig, target: t, backend: backend, held: held})
	s.mu.Unlock()
	return nil
}

// origRecipient returns the DSN ORCPT address, written as X-Original-To,
// or "" when there is none or it is not an Internet address (ORCPT types
// other than rfc822 and utf-8, RFC 3461 section 4.2, are passed by MTAs
// but mean nothing here). go-smtp has decoded the xtext (a patched copy,
// third_party/go-smtp: the address may be UTF-8). One that could forge a
// header is refused with 5.1.3 by the one address rule
// (delivery.CheckOrigRecipient); other control characters only drop it.
func origRecipient(opts *smtp.RcptOptions) (string, error) {
	if opts == nil || opts.OriginalRecipient == "" {
		return "", nil
	}
	switch opts.OriginalRecipientType {
	case smtp.DSNAddressTypeRFC822, smtp.DSNAddressTypeUTF8:
	default:
		return "", nil
	}
	o := opts.OriginalRecipient
	if err := delivery.CheckOrigRecipient(o); err != nil {
		return "", err
	}
	if strings.ContainsFunc(o, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", nil
	}
	return o, nil
}

func (s *session) Reset() {
	s.mu.Lock()
	tx := s.tx
	s.tx = nil
	// XFORWARD_README: the attributes last until the end of the next
	// transaction (DOT or RSET); go-smtp calls Reset there.
	s.queueID = ""
	s.mu.Unlock()
	if tx != nil {
		s.end(tx)
	}
}

// xforwardAttrs are the XFORWARD attributes advertised in the LHLO reply
// (Postfix sends only those, with lmtp_send_xforward_command = yes).
// IDENT, Postfix's queue id, goes on every delivery log line as
// queue_id=. The others describe the up-stream SMTP client; they are
// accepted, so that Postfix's command succeeds whatever it holds, and not
// used: Received names the LMTP client, and XFORWARD_README's note 4
// forbids mixing the two.
var xforwardAttrs = []string{"NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"}

// XForwardAttributes makes session a go-smtp XForwardSession (a patch in
// third_party/go-smtp).
func (s *session) XForwardAttributes() []string { return xforwardAttrs }

// XForward takes IDENT for the next transaction. "[UNAVAILABLE]" erases
// it; a value that is not a queue id (delivery.CheckQueueID) is dropped
// with a warning: a log attribute is no reason to refuse mail, and a 5xx
// here would make Postfix bounce it.
func (s *session) XForward(attrs map[string]string) error {
	id, ok := attrs["IDENT"]
	if !ok {
		return nil
	}
	if strings.EqualFold(id, "[UNAVAILABLE]") {
		id = ""
	} else if err := delivery.CheckQueueID(id); err != nil {
		s.srv.log.Warn("XFORWARD IDENT ignored", slog.String("remote", s.remote), slog.String("error", err.Error()))
		id = ""
	}
	s.mu.Lock()
	s.queueID = id
	s.mu.Unlock()
	return nil
}

func (s *session) Logout() error {
	s.Reset()
	s.srv.metrics.SessionEnd() // go-smtp calls Logout once, from Close
	return nil
}

// Data is never called in LMTP mode (LMTPData is); it refuses, temporarily.
func (s *session) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	return reject(errInternal, "")
}

// LMTPData reads the message once, then delivers it to each accepted
// recipient and sets that recipient's reply. go-smtp writes the replies
// in RCPT order as they become available.
func (s *session) LMTPData(r io.Reader, sc smtp.StatusCollector) (err error) {
	s.mu.Lock()
	tx := s.tx
	s.tx = nil // ours now: a concurrent Reset (BDAT) must not release it
	s.mu.Unlock()
	if tx == nil {
		io.Copy(io.Discard, r)
		return reject(errNoMail, "")
	}
	defer s.end(tx)
	// Recipients that got no status (a panic, a bug) get this, never 250.
	fallback := reject(errInternal, tx.id)
	defer s.guard(&err, tx.id)
	start := time.Now()
	if !s.srv.beginData() {
		return reject(errShutdown, tx.id)
	}
	defer s.srv.endData()

	sp, err := s.receive(r)
	if err != nil {
		// Every recipient gets this reply (go-smtp) and its log line.
		for _, rc := range tx.rcpts {
			tx.agent.agent.Report(delivery.Outcome{ID: tx.id, QueueID: tx.queueID, Sender: tx.sender, Recipient: rc.addr,
				Err: err, Start: start})
		}
		return reject(err, tx.id)
	}
	defer sp.Close()
	p, err := parse(sp)
	if err != nil {
		s.srv.log.Error("cannot parse spooled message", slog.String("id", tx.id), slog.String("error", err.Error()))
		return reject(status.From(err), tx.id)
	}
	s.deliverAll(tx, sp, p, sc)
	return fallback
}

// receive reads the message from the client into a spool, within
// [lmtp] data_timeout.
func (s *session) receive(r io.Reader) (*spool, error) {
	if s.conn != nil {
		s.conn.beginData(s.srv.cfg.LMTP.DataTimeout.D())
		defer s.conn.endData()
	}
	return spoolData(r, spoolMemory(s.srv.cfg.LMTP.SpoolMemory), s.srv.cfg.LMTP.SpoolDir)
}

// spoolMemory bounds [lmtp] spool_memory to something sane per connection.
func spoolMemory(n config.Size) int64 {
	const limit = 1 << 30
	return min(max(int64(n), 0), limit)
}

// deliverAll delivers to the transaction's recipients, up to
// rcptParallelism at a time, started in RCPT order. A recipient named twice
// (same address up to case, same mailbox and folder) is delivered once and
// both RCPTs get that outcome.
func (s *session) deliverAll(tx *txn, sp *spool, p *message.Message, sc smtp.StatusCollector) {
	type group struct {
		r     rcpt
		addrs []string
		idx   []int // the RCPTs in tx.rcpts
	}
	var groups []*group
	seen := make(map[string]*group)
	for i, r := range tx.rcpts {
		if r.backend != nil {
			continue // forwarded below
		}
		k := strings.ToLower(r.addr) + "\x00" + r.target.Maildir + "\x00" + r.target.FolderDir
		if g := seen[k]; g != nil {
			g.addrs = append(g.addrs, r.addr)
			g.idx = append(g.idx, i)
			continue
		}
		g := &group{r: r, addrs: []string{r.addr}, idx: []int{i}}
		seen[k] = g
		groups = append(groups, g)
	}
	sem := make(chan struct{}, rcptParallelism)
	var wg sync.WaitGroup
	remote := groupRemote(tx)
	n := len(groups)
	for _, f := range remote {
		n += len(f.rcpts)
	}
	s.conn.expectReplies(n) // decided replies leave at once
	// Each backend gets its transaction at once, beside the local
	// deliveries: a slow backend delays only its own recipients' replies
	// (go-smtp still writes them in RCPT order).
	for _, f := range remote {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				for range f.rcpts {
					s.conn.replyDecided()
				}
			}()
			defer func() {
				if x := recover(); x != nil {
					s.srv.log.Error("panic forwarding to a backend", slog.String("id", tx.id), slog.Any("panic", x),
						slog.String("stack", string(debug.Stack())))
				}
			}()
			s.forward(tx, f, sp, p, sc)
		}()
	}
	for _, g := range groups {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.conn.replyDecided()
			defer func() { <-sem }()
			defer func() {
				// go-smtp's SetStatus panics on misuse; LMTPData's
				// fallback then answers the recipient.
				if x := recover(); x != nil {
					s.srv.log.Error("panic setting LMTP status", slog.String("id", tx.id), slog.Any("panic", x))
				}
			}()
			rep := s.deliverOne(tx, g.r, p)
			// The user is free again before the reply leaves: a
			// client that sends the next message on seeing it finds
			// the slot released.
			for _, i := range g.idx {
				s.srv.users.release(tx.rcpts[i].held)
				tx.rcpts[i].held = ""
			}
			for _, a := range g.addrs {
				sc.SetStatus(a, rep)
			}
		}()
	}
	wg.Wait() // SetStatus must not be called after LMTPData returns
}

// deliverOne delivers to one recipient and returns its reply. It logs the
// outcome, and a panic becomes this recipient's temporary failure.
func (s *session) deliverOne(tx *txn, r rcpt, p *message.Message) (rep *smtp.SMTPError) {
	start := time.Now()
	agent := tx.agent.agent
	var res delivery.Result
	var err error
	defer func() {
		if x := recover(); x != nil {
			err = errInternal.Wrap(fmt.Errorf("panic: %v\n%s", x, debug.Stack()))
		}
		agent.Report(delivery.Outcome{ID: tx.id, QueueID: tx.queueID, MessageID: p.Header.MessageID, Sender: tx.sender,
			Recipient: r.addr, Result: res, Err: err, Start: start, Target: r.target})
		if err != nil {
			rep = reply(err, tx.id)
		} else {
			rep = saved(tx.id)
		}
	}()
	req := delivery.Request{ID: tx.id, Sender: tx.sender, OrigRecipient: r.orig,
		Received: received(tx, s.remote, agent.Config().Hostname, r.addr, time.Now())}
	res, err = agent.Deliver(s.srv.ctx, r.target, req, p)
	return
}

// received is this delivery's trace field (RFC 5321 section 4.4):
//
//	Received: from <lhlo-name> (<remote>)
//		by <hostname> with LMTP id <id>
//		for <rcpt>; <date>
func received(tx *txn, remote, host, rcpt string, now time.Time) string {
	return fmt.Sprintf("Received: from %s (%s)\n\tby %s with LMTP id %s\n\tfor <%s>; %s\n",
		tx.helo, remote, host, tx.id, rcpt, now.Format(time.RFC1123Z))
}

// cleanHelo keeps the LHLO name to characters that are safe in a header
// comment context; anything else becomes '_'.
func cleanHelo(h string) string {
	if h == "" {
		return "unknown"
	}
	if len(h) > 255 {
		h = h[:255]
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		case strings.ContainsRune(".-_:[]", r):
			return r
		}
		return '_'
	}, h)
}

// remoteName is the client's address for Received: "[ip]" for TCP,
// "local" for a unix socket.
func remoteName(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return "[" + ta.IP.String() + "]"
	}
	return "local"
}
