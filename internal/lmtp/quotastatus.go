package lmtp

import (
	"context"
	"fmt"
	"net"
	"os"

	"maildeliver/internal/config"
	"maildeliver/internal/quotastatus"
)

// The quota policy service ([quota_status] listen) runs in lmtpd's
// process rather than in a binary of its own: it needs exactly what
// delivery needs (the userdb with its pool and cache, the right to read
// every maildir, the [quota] settings), lmtpd already has all of it, and
// a SIGHUP reload switches both at once. One service to run, one
// configuration, and the answers cannot drift from the deliveries.

// newQuotaStatus makes the policy server when [quota_status] listen is set.
func (s *Server) newQuotaStatus(cfg *config.Config) {
	q := cfg.QuotaStatus
	if q.Listen == "" {
		return
	}
	s.quotaStatus = quotastatus.New(currentPolicy{s}, quotastatus.Options{
		Timeout: q.Timeout.D(), IdleTimeout: q.IdleTimeout.D(), MaxConns: q.MaxConnections, Log: s.log})
}

// listenQuotaStatus opens [quota_status] listen: a unix socket made like
// the LMTP one (stale socket replaced, socket_mode, socket_group), or TCP.
func (s *Server) listenQuotaStatus() (net.Listener, error) {
	if s.quotaStatus == nil {
		return nil, nil
	}
	q := s.cfg.QuotaStatus
	network, addr, err := config.ParseListen(q.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	var l net.Listener
	if network == "unix" {
		l, err = listenUnix(addr, os.FileMode(q.SocketMode), q.SocketGroup)
	} else {
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("listen [quota_status] %s: %w", q.Listen, err)
	}
	return l, nil
}

// QuotaStatusAddr is the policy service's address after Listen, nil when
// it is off.
func (s *Server) QuotaStatusAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quotaStatusListener == nil {
		return nil
	}
	return s.quotaStatusListener.Addr()
}

// currentPolicy answers with the current agent (after a reload, the new
// userdb and [quota] settings), pinned until the answer.
type currentPolicy struct{ s *Server }

func (p currentPolicy) QuotaStatus(ctx context.Context, rcpt string, size int64) error {
	a := p.s.pin()
	defer p.s.release(a)
	err := a.agent.QuotaStatus(ctx, rcpt, size)
	if quotastatus.Decide(err) != quotastatus.ActionDunno {
		p.s.metrics.QuotaRefusal("policy") // the answer the server gives is this refusal
	}
	return err
}
