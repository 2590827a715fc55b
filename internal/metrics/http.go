package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Health timing: a check runs at most every healthTTL (a scraper or a
// load balancer polling every second costs the database one ping per
// healthTTL) and waits at most healthTimeout for the userdb.
const (
	healthTTL     = 2 * time.Second
	healthTimeout = 2 * time.Second
)

// Handler serves /metrics and /healthz. ping checks the userdb (lmtpd:
// the current userdb's Ping); /healthz answers 200 "ok" while it
// succeeds and 503 with the error while it fails.
func (m *Metrics) Handler(ping func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.Handle("/healthz", &health{ping: ping, now: time.Now})
	return mux
}

// health caches the userdb check for healthTTL; concurrent requests
// share one check.
type health struct {
	ping func(context.Context) error
	now  func() time.Time

	mu  sync.Mutex
	at  time.Time // when err was found; zero before the first check
	err error
}

func (h *health) check(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.at.IsZero() && h.now().Sub(h.at) < healthTTL {
		return h.err
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	h.err = h.ping(ctx)
	h.at = h.now()
	return h.err
}

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The context is not the request's: a client that goes away must not
	// leave a cancelled result cached for the others.
	if err := h.check(context.WithoutCancel(r.Context())); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("userdb unreachable: " + err.Error() + "\n"))
		return
	}
	w.Write([]byte("ok\n"))
}
