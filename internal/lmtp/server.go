// Package lmtp owns lmtpd's side of the conversation with Postfix: the LMTP
// server (RFC 2033) on top of github.com/emersion/go-smtp, its listeners
// (unix socket, TCP, sockets passed by systemd), connection limits and
// timeouts, spooling of each message, and turning delivery outcomes into
// LMTP replies. Where a message becomes a file is package delivery's
// business; this package calls it once per recipient.
//
// A transaction:
//
//	XFORWARD     (optional, Postfix's lmtp_send_xforward_command) IDENT= is
//	             Postfix's queue id, logged as queue_id= for every recipient
//	MAIL FROM    sender checked; the transaction pins the current delivery
//	             agent (a SIGHUP reload affects new transactions only)
//	RCPT TO      recipient resolved in the userdb at once: 550 5.1.1 unknown,
//	             451 4.3.0 userdb down; with MAIL SIZE=, the quota is checked
//	             (552 5.2.2 / 452 4.2.2); past max_recipients 452 4.5.3;
//	             past [lmtp] user_concurrency_limit 451 4.3.0. With
//	             [lmtp] proxy = true the row may send the recipient to
//	             another LMTP server instead (proxy.go, package lmtpproxy)
//	DATA / BDAT  the message is read once from the network into a spool
//	             (memory, then an unnamed file); over max_message_size
//	             552 5.3.4; the header section is parsed once; then each
//	             accepted recipient gets its own delivery (own Return-Path,
//	             Delivered-To, Received; loop check; written as its owner)
//	             and its own reply, in RCPT order: "250 2.0.0 <rcpt> saved
//	             as <id>" or that recipient's failure; forwarded recipients
//	             go to their backend, one transaction per backend, and get
//	             its reply relayed through package status.
//
// Every error handed to go-smtp goes through reply, the one place that
// maps a *status.Error to an LMTP reply; a temporary condition is never
// answered with a 5xx, and internal error text never reaches the client.
//
// Shutdown stops accepting, ends idle connections (421), lets transactions
// in flight finish until the deadline, then closes what is left: a
// recipient is only ever answered 250 once its file is durable.
//
// With [userdb] socket set, the server also answers deliver's userdb
// lookups there (package userdbsock) from the current agent's userdb: its
// pool and cache, and after a reload the new userdb. Shutdown closes that
// socket first, so deliver falls back to SQL while lmtpd drains.
package lmtp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/lookup"
	"maildeliver/internal/maildir"
	"maildeliver/internal/metrics"
	"maildeliver/internal/quotastatus"
	"maildeliver/internal/userdbsock"
)

// maxLineLength bounds a command line and a line of DATA. RFC 5321 allows
// 1000 octets; Postfix's LMTP client folds longer lines (smtp_line_length_limit),
// so 64 KiB is generous, and keeps a hostile client from growing a buffer
// without bound.
const maxLineLength = 64 << 10

// rcptParallelism bounds concurrent deliveries within one transaction.
const rcptParallelism = 4

// Options are New's optional parameters.
type Options struct {
	Log *slog.Logger // nil: discard
	// OpenUserdb opens the userdb of a configuration; nil means
	// lookup.Open. Tests use it to plant failures.
	OpenUserdb func(*config.Config) (lookup.Userdb, error)
	// Decider, if set, gives each configuration's agent its plan decider
	// (sievedeliver.Option: Sieve when [sieve] enabled is true); it is
	// called again on every reload.
	Decider func(*config.Config, *slog.Logger) delivery.Option
}

// Server is one lmtpd: its listeners, connections and current delivery
// agent.
type Server struct {
	cfg  *config.Config // as started: [lmtp] does not change on reload
	log  *slog.Logger
	open func(*config.Config) (lookup.Userdb, error)
	// decider is Options.Decider, nil: the core's default plan.
	decider func(*config.Config, *slog.Logger) delivery.Option
	smtp    *smtp.Server
	// commit is every agent's directory sync (delivery.WithCommit):
	// concurrent deliveries into one new/ share its fsyncs (group commit),
	// across reloads too.
	commit *maildir.GroupSync
	// ctx is cancelled when Shutdown gives up waiting: lookups and
	// deliveries not yet begun are abandoned.
	ctx    context.Context
	cancel context.CancelFunc
	// userdb answers lookups on [userdb] socket; nil when it is not set.
	userdb *userdbsock.Server
	// quotaStatus answers Postfix's check_policy_service on [quota_status]
	// listen; nil when it is not set.
	quotaStatus *quotastatus.Server
	// metrics and metricsHTTP serve [metrics] listen; nil when it is "".
	metrics     *metrics.Metrics
	metricsHTTP *http.Server
	// proxy is [lmtp] proxy = true's router and backend pool; nil when off.
	proxy *proxyMode
	// users is [lmtp] user_concurrency_limit.
	users *userLimit

	mu        sync.Mutex
	agent     *agentRef
	listeners []*listener
	conns     map[*conn]struct{}
	draining  bool
	stopped   bool // after the shutdown deadline: no new data phase
	inflight  int  // data phases running (LMTPData)
	idle      chan struct{}

	userdbListener      net.Listener // [userdb] socket after Listen; guarded by mu
	quotaStatusListener net.Listener // [quota_status] listen after Listen; guarded by mu
	metricsListener     net.Listener // [metrics] listen after Listen; guarded by mu
}

// agentRef is a delivery agent with its userdb, counted by the
// transactions that use it, so a reload can close the old userdb once the
// last of them ends.
type agentRef struct {
	agent   *delivery.Agent
	db      lookup.Userdb
	refs    int  // guarded by Server.mu
	retired bool // guarded by Server.mu
}

// New prepares a server for cfg: it opens the userdb (without connecting)
// and configures go-smtp. Call Listen, then Serve.
func New(cfg *config.Config, opt Options) (*Server, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, log: log, open: opt.OpenUserdb, decider: opt.Decider, commit: maildir.NewGroupSync(),
		conns: make(map[*conn]struct{}), users: &userLimit{max: cfg.LMTP.UserConcurrencyLimit}}
	s.newMetrics()
	if s.open == nil {
		s.open = func(c *config.Config) (lookup.Userdb, error) {
			return lookup.Open(c.Userdb, c.Mail.RecipientDelimiter)
		}
	}
	a, err := s.newAgent(cfg)
	if err != nil {
		return nil, err
	}
	s.agent = a
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.Userdb.Socket != "" {
		s.userdb = userdbsock.NewServer(currentUserdb{s}, userdbsock.ServerOptions{
			Timeout: cfg.Userdb.Timeout.D(), Log: log})
	}
	s.newQuotaStatus(cfg)
	s.newProxy(cfg)

	srv := smtp.NewServer(backend{s})
	srv.LMTP = true
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = int64(cfg.LMTP.MaxMessageSize) // 0 = unlimited
	// Counted by the session, which answers with status.TooManyRecipients.
	srv.MaxRecipients = 0
	srv.MaxLineLength = maxLineLength
	srv.ReadTimeout = cfg.LMTP.CommandTimeout.D()
	srv.WriteTimeout = cfg.LMTP.CommandTimeout.D()
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = cfg.LMTP.DSN // ORCPT -> X-Original-To; see origRecipient
	srv.ErrorLog = smtpLog{log}
	s.smtp = srv
	return s, nil
}

func (s *Server) newAgent(cfg *config.Config) (*agentRef, error) {
	db, err := s.open(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: userdb: %v", ErrConfig, err)
	}
	opts := []delivery.Option{delivery.WithCommit(s.commit)}
	if s.metrics != nil {
		opts = append(opts, delivery.WithObserver(s.metrics))
	}
	if s.decider != nil {
		opts = append(opts, s.decider(cfg, s.log))
	}
	ref := &agentRef{agent: delivery.NewAgent(cfg, db, s.log, opts...), db: db}
	s.observe(ref)
	return ref, nil
}

// Serve accepts connections on every listener until Shutdown. It returns
// nil after Shutdown, or the first listener's failure.
func (s *Server) Serve() error {
	s.mu.Lock()
	ls, udb, qsl, ml := s.listeners, s.userdbListener, s.quotaStatusListener, s.metricsListener
	s.mu.Unlock()
	if len(ls) == 0 {
		return errors.New("lmtp: Serve without listeners")
	}
	errc := make(chan error, len(ls)+2)
	for _, l := range ls {
		go func() { errc <- s.smtp.Serve(l) }()
	}
	n := len(ls)
	if udb != nil {
		n++
		go func() { errc <- s.userdb.Serve(udb) }()
	}
	if qsl != nil {
		n++
		go func() { errc <- s.quotaStatus.Serve(qsl) }()
	}
	if ml != nil {
		n++
		go func() { errc <- s.serveMetrics(ml) }()
	}
	for range n {
		if err := <-errc; err != nil && !s.isDraining() {
			return fmt.Errorf("lmtp: accept: %w", err)
		}
	}
	return nil
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// Shutdown stops accepting, wakes idle connections (go-smtp answers them
// 421 and closes), and waits for transactions in flight until ctx is done.
// Then it closes the remaining connections (a transaction cut off there
// gets no 250), cancels what deliveries still wait for (a quota lock, a
// lookup) and waits up to inflightGrace for deliveries already writing to
// finish, so no tmp file is left behind. It returns ctx's error if it had
// to cut.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	for c := range s.conns {
		c.drain()
	}
	ls, udb, qsl, ml := s.listeners, s.userdbListener, s.quotaStatusListener, s.metricsListener
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	var qsErr error
	if s.quotaStatus != nil {
		if qsl != nil {
			qsl.Close() // in case Serve never ran
		}
		// Answers in progress are given (bounded by [quota_status]
		// timeout); Postfix then finds no service and applies its
		// default action (see README: default_action=DUNNO).
		qsErr = s.quotaStatus.Shutdown(ctx)
	}
	// /metrics and /healthz stay up while transactions drain.
	defer s.closeMetrics(ml)
	var userdbErr error
	if s.userdb != nil {
		if udb != nil {
			udb.Close() // in case Serve never ran
		}
		// Lookups in progress are answered (they take milliseconds);
		// new ones find no socket, and deliver asks SQL.
		userdbErr = s.userdb.Shutdown(ctx)
	}
	err := s.smtp.Shutdown(ctx) // waits for every connection to end
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		s.mu.Lock()
		s.stopped = true
		for c := range s.conns {
			c.Conn.Close()
		}
		s.mu.Unlock()
		s.cancel()
		s.log.Warn("shutdown timeout: closed connections with transactions in flight")
	}
	if !s.waitInflight(inflightGrace) {
		s.log.Error("shutdown: deliveries still writing after the shutdown deadline; exiting without them",
			slog.Duration("grace", inflightGrace))
	}
	s.cancel()
	s.proxy.close()
	s.mu.Lock()
	a := s.agent
	a.retired = true
	last := a.refs == 0
	s.mu.Unlock()
	if last {
		a.db.Close()
	}
	return cmp.Or(err, userdbErr, qsErr)
}

// Reload makes cfg's userdb and [mail]/[quota] settings apply to new
// transactions; transactions already started finish with the old ones,
// whose userdb is closed after the last of them. [lmtp] settings (listen,
// limits, timeouts) and logging need a restart.
func (s *Server) Reload(cfg *config.Config) error {
	a, err := s.newAgent(cfg)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(cfg.LMTP, s.cfg.LMTP) || cfg.Log != s.cfg.Log || cfg.Metrics != s.cfg.Metrics {
		s.log.Warn("reload: [lmtp], [log] and [metrics] changes take effect at the next restart")
	}
	if cfg.Userdb.Socket != s.cfg.Userdb.Socket || cfg.Userdb.SocketMode != s.cfg.Userdb.SocketMode ||
		cfg.Userdb.SocketGroup != s.cfg.Userdb.SocketGroup {
		s.log.Warn("reload: [userdb] socket, socket_mode and socket_group changes take effect at the next restart")
	}
	if cfg.QuotaStatus != s.cfg.QuotaStatus {
		s.log.Warn("reload: [quota_status] changes take effect at the next restart")
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		a.db.Close()
		return errors.New("lmtp: reload during shutdown")
	}
	old := s.agent
	s.agent = a
	old.retired = true
	last := old.refs == 0
	s.mu.Unlock()
	if last {
		old.db.Close()
	}
	return nil
}

// pin pins the current agent for one userdb socket lookup. Unlike
// acquire it works while draining: Shutdown lets the lookups in progress
// finish before it retires the last agent.
func (s *Server) pin() *agentRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agent.refs++
	return s.agent
}

// acquire pins the current agent for one transaction.
func (s *Server) acquire() (*agentRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return nil, errShutdown
	}
	s.agent.refs++
	return s.agent, nil
}

func (s *Server) release(a *agentRef) {
	s.mu.Lock()
	a.refs--
	last := a.retired && a.refs == 0
	s.mu.Unlock()
	if last {
		a.db.Close()
	}
}

// beginData counts a data phase; false after the shutdown deadline.
func (s *Server) beginData() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.inflight++
	return true
}

func (s *Server) endData() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	if s.inflight == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// inflightGrace bounds the wait for data phases after the shutdown
// deadline. By then their context is cancelled, so lock waits and lookups
// have ended and only disk I/O remains (a file being written, an fsync);
// a delivery stuck longer (a hung file system, a FUSE mount in a maildir)
// must not keep lmtpd from exiting. Its recipients were not answered.
const inflightGrace = 5 * time.Second

// waitInflight waits until no data phase runs, at most for d; false when
// some still run.
func (s *Server) waitInflight(d time.Duration) bool {
	s.mu.Lock()
	if s.inflight == 0 {
		s.mu.Unlock()
		return true
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	ch := s.idle
	s.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// smtpLog receives go-smtp's own messages (connection errors, recovered
// panics).
type smtpLog struct{ log *slog.Logger }

func (l smtpLog) Printf(format string, v ...any) {
	l.log.Warn("lmtp connection", slog.String("detail", fmt.Sprintf(format, v...)))
}

func (l smtpLog) Println(v ...any) {
	l.log.Warn("lmtp connection", slog.String("detail", fmt.Sprintln(v...)))
}
