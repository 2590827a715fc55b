package lmtp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/metrics"
)

// newMetrics prepares [metrics] (nil when listen is ""): the collectors
// every agent, userdb and session reports to, and the HTTP server of
// /metrics and /healthz.
func (s *Server) newMetrics() {
	if s.cfg.Metrics.Listen == "" {
		return
	}
	s.metrics = metrics.New()
	s.commit.Observe = s.metrics.GroupCommit
	s.metricsHTTP = &http.Server{
		Handler:           s.metrics.Handler(s.pingUserdb),
		ReadHeaderTimeout: 10 * time.Second,
	}
}

// observe connects a new agent's userdb to the metrics (the agent gets
// them from newAgent).
func (s *Server) observe(a *agentRef) {
	if s.metrics == nil {
		return
	}
	if o, ok := a.db.(interface{ SetObserver(lookup.Observer) }); ok {
		o.SetObserver(s.metrics)
	}
}

// Metrics returns the server's metrics, nil when [metrics] listen is "".
// Other services in lmtpd's process count through it (its methods are
// safe on nil) or register collectors of their own with its Registerer.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// listenMetrics opens [metrics] listen, when set.
func (s *Server) listenMetrics() (net.Listener, error) {
	if s.metricsHTTP == nil {
		return nil, nil
	}
	l, err := net.Listen("tcp", s.cfg.Metrics.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen [metrics] %s: %w", s.cfg.Metrics.Listen, err)
	}
	return l, nil
}

// MetricsAddr is where /metrics is served after Listen; nil when off.
func (s *Server) MetricsAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.metricsListener == nil {
		return nil
	}
	return s.metricsListener.Addr()
}

// serveMetrics serves HTTP on l until Shutdown; nil then.
func (s *Server) serveMetrics(l net.Listener) error {
	if err := s.metricsHTTP.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// closeMetrics ends the HTTP server (l is closed too, in case Serve never
// ran).
func (s *Server) closeMetrics(l net.Listener) {
	if s.metricsHTTP == nil {
		return
	}
	s.metricsHTTP.Close()
	if l != nil {
		l.Close()
	}
}

// pingUserdb is /healthz's check: the current userdb's Ping (connect and
// prepare the queries), its error with the connect string's secrets
// masked. A userdb without Ping (a test's) is taken as healthy.
func (s *Server) pingUserdb(ctx context.Context) error {
	a := s.pin()
	defer s.release(a)
	p, ok := a.db.(interface{ Ping(context.Context) error })
	if !ok {
		return nil
	}
	if err := p.Ping(ctx); err != nil {
		return errors.New(config.MaskText(err.Error(), a.agent.Config().Userdb.Connect))
	}
	return nil
}
