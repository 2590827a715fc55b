// Package metrics owns lmtpd's Prometheus metrics and the HTTP endpoint
// that serves them ([metrics] listen): /metrics in Prometheus's text
// format and /healthz, which fails while the userdb is unreachable.
//
// The metrics, all prefixed maildeliver_:
//
//	deliveries_total{result,code}        one per delivery outcome logged (the "delivery"
//	                                     log line): result delivered|discarded|deferred|bounced,
//	                                     code the enhanced status code (2.0.0, 5.1.1, ...);
//	                                     recipients refused at RCPT count here too
//	delivery_duration_seconds{result}    histogram of the same outcomes
//	delivered_bytes_total                bytes written for delivered messages
//	quota_refusals_total{stage}          over-quota refusals (X.2.2): stage "delivery"
//	                                     (lmtpd, at RCPT or after DATA) or "policy"
//	                                     (a quota policy service, QuotaRefusal)
//	userdb_lookups_total{result}         found|unknown|error, cache hits included
//	userdb_errors_total                  lookups that failed (temporary: DB down, slow, ...)
//	userdb_cache_hits_total              lookups answered by [userdb] cache_ttl's cache
//	userdb_lookup_duration_seconds       histogram of lookup durations
//	lmtp_sessions_total                  LMTP sessions started (LHLO accepted)
//	lmtp_sessions_active                 LMTP sessions open now
//	group_commit_batch_size              histogram: deliveries covered by each fsync of new/
//	sieve_actions_total{action}          Sieve actions decided, one per action of a recipient's
//	                                     plan: keep (the implicit one too), fileinto, discard,
//	                                     redirect, reject (reject and ereject), vacation_sent,
//	                                     vacation_suppressed (an RFC 3834/5230 rule or the
//	                                     once-per-period record stopped it)
//	sieve_script_errors_total{script}    scripts that did not compile or failed at run time:
//	                                     user (the message was kept) or global
//	sieve_send_failures_total{kind}      redirects and vacation replies that could not be sent
//	                                     (submission_host or sendmail_path failed): redirect|vacation
//	proxy_forwards_total{result,code}    recipients forwarded to a backend ([lmtp] proxy):
//	                                     result delivered|deferred|bounced, code the relayed reply's
//
// Labels are few and bounded (a result, an enhanced code, a stage):
// never an address or a queue id. The per-delivery cost is a few atomic
// additions; the counter of the common outcome (delivered, 2.0.0) is kept
// resolved so it takes no label lookup.
//
// Every method is safe on a nil *Metrics and does nothing there, so
// callers need not know whether [metrics] listen is set.
package metrics

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"maildeliver/internal/lookup"
)

const namespace = "maildeliver"

// Metrics holds lmtpd's collectors in their own registry.
type Metrics struct {
	reg *prometheus.Registry

	deliveries    *prometheus.CounterVec
	delivered     prometheus.Counter // deliveries{delivered,2.0.0}
	duration      *prometheus.HistogramVec
	durationOK    prometheus.Observer // duration{delivered}
	bytes         prometheus.Counter
	quotaRefusals *prometheus.CounterVec
	quotaDelivery prometheus.Counter // quota_refusals{delivery}

	lookups        *prometheus.CounterVec
	lookupFound    prometheus.Counter
	lookupUnknown  prometheus.Counter
	lookupError    prometheus.Counter
	userdbErrors   prometheus.Counter
	cacheHits      prometheus.Counter
	lookupDuration prometheus.Histogram

	sessions       prometheus.Counter
	sessionsActive prometheus.Gauge
	batch          prometheus.Histogram

	// Sieve: every label value resolved up front (no allocation per
	// delivery; the series show at 0 from the start).
	sieveActions      map[string]prometheus.Counter
	sieveScriptUser   prometheus.Counter
	sieveScriptGlobal prometheus.Counter
	sieveSendFailures map[string]prometheus.Counter
	forwards          *prometheus.CounterVec
}

// SieveActions are the action label values of sieve_actions_total.
var SieveActions = []string{"keep", "fileinto", "discard", "redirect", "reject", "vacation_sent", "vacation_suppressed"}

// New returns Metrics registered in a new registry, with Go's runtime
// and process collectors beside them.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := factory{m.reg}
	m.deliveries = f.counterVec("deliveries_total", "Delivery outcomes, one per recipient, by result and enhanced status code.", "result", "code")
	m.delivered = m.deliveries.WithLabelValues("delivered", "2.0.0")
	// Deliveries take milliseconds (an fsync or two); a slow disk or a
	// quota lock wait takes seconds.
	m.duration = f.histogramVec("delivery_duration_seconds", "Time from the start of a recipient's delivery (or RCPT) to its outcome.",
		prometheus.ExponentialBuckets(0.001, 2.5, 12), "result")
	m.durationOK = m.duration.WithLabelValues("delivered")
	m.bytes = f.counter("delivered_bytes_total", "Bytes written into maildirs by delivered messages, prepended header fields included.")
	m.quotaRefusals = f.counterVec("quota_refusals_total", "Recipients refused for being over quota (X.2.2), by stage: delivery (lmtpd) or policy (quota policy service).", "stage")
	m.quotaDelivery = m.quotaRefusals.WithLabelValues("delivery")
	m.lookups = f.counterVec("userdb_lookups_total", "Userdb lookups by result: found, unknown, error.", "result")
	m.lookupFound = m.lookups.WithLabelValues("found")
	m.lookupUnknown = m.lookups.WithLabelValues("unknown")
	m.lookupError = m.lookups.WithLabelValues("error")
	m.userdbErrors = f.counter("userdb_errors_total", "Userdb lookups that failed (database down, slow, query error): each a temporary failure.")
	m.cacheHits = f.counter("userdb_cache_hits_total", "Userdb lookups answered from the lookup cache ([userdb] cache_ttl, negative_cache_ttl).")
	m.lookupDuration = f.histogram("userdb_lookup_duration_seconds", "Userdb lookup durations, cache hits included.",
		prometheus.ExponentialBuckets(0.0001, 3, 11))
	m.sessions = f.counter("lmtp_sessions_total", "LMTP sessions started.")
	m.sessionsActive = f.gauge("lmtp_sessions_active", "LMTP sessions open now.")
	m.batch = f.histogram("group_commit_batch_size", "Deliveries covered by each fsync of a maildir's new/ directory (group commit).",
		[]float64{1, 2, 4, 8, 16, 32, 64, 128})
	actions := f.counterVec("sieve_actions_total", "Sieve actions decided for recipients, by action.", "action")
	m.sieveActions = map[string]prometheus.Counter{}
	for _, a := range SieveActions {
		m.sieveActions[a] = actions.WithLabelValues(a)
	}
	scriptErrors := f.counterVec("sieve_script_errors_total", "Sieve scripts that did not compile or failed at run time, by script: user (the message was kept) or global.", "script")
	m.sieveScriptUser, m.sieveScriptGlobal = scriptErrors.WithLabelValues("user"), scriptErrors.WithLabelValues("global")
	sendFailures := f.counterVec("sieve_send_failures_total", "Sieve redirects and vacation replies that could not be sent, by kind.", "kind")
	m.sieveSendFailures = map[string]prometheus.Counter{
		"redirect": sendFailures.WithLabelValues("redirect"), "vacation": sendFailures.WithLabelValues("vacation")}
	m.forwards = f.counterVec("proxy_forwards_total", "Recipients forwarded to a backend in proxy mode, by result and enhanced status code.", "result", "code")
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registerer is where other parts of lmtpd (a quota policy service)
// register collectors of their own, served on the same /metrics. Their
// names should start with maildeliver_.
func (m *Metrics) Registerer() prometheus.Registerer {
	if m == nil {
		return prometheus.NewRegistry() // registered into nothing served
	}
	return m.reg
}

// Gatherer is what /metrics serves.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// ObserveDelivery records one delivery outcome (delivery.Observer).
func (m *Metrics) ObserveDelivery(result, code string, d time.Duration, size int64) {
	if m == nil {
		return
	}
	if result == "delivered" && code == "2.0.0" {
		m.delivered.Inc()
		m.durationOK.Observe(d.Seconds())
		m.bytes.Add(float64(size))
		return
	}
	m.deliveries.WithLabelValues(result, code).Inc()
	m.duration.WithLabelValues(result).Observe(d.Seconds())
	if len(code) == 5 && code[1:] == ".2.2" {
		m.quotaDelivery.Inc()
	}
}

// ObserveForward counts one recipient forwarded to a backend (proxy mode)
// and its outcome there.
func (m *Metrics) ObserveForward(result, code string) {
	if m == nil {
		return
	}
	m.forwards.WithLabelValues(result, code).Inc()
}

// QuotaRefusal counts an over-quota refusal at stage (e.g. "policy" for
// a quota policy service's reject or defer answer).
func (m *Metrics) QuotaRefusal(stage string) {
	if m == nil {
		return
	}
	m.quotaRefusals.WithLabelValues(stage).Inc()
}

// ObserveLookup records one userdb lookup (lookup.Observer).
func (m *Metrics) ObserveLookup(d time.Duration, cached bool, err error) {
	if m == nil {
		return
	}
	m.lookupDuration.Observe(d.Seconds())
	if cached {
		m.cacheHits.Inc()
	}
	switch {
	case err == nil:
		m.lookupFound.Inc()
	case errors.Is(err, lookup.ErrNotFound):
		m.lookupUnknown.Inc()
	default:
		m.lookupError.Inc()
		m.userdbErrors.Inc()
	}
}

// SessionStart and SessionEnd count LMTP sessions.
func (m *Metrics) SessionStart() {
	if m == nil {
		return
	}
	m.sessions.Inc()
	m.sessionsActive.Inc()
}

// SessionEnd: see SessionStart.
func (m *Metrics) SessionEnd() {
	if m == nil {
		return
	}
	m.sessionsActive.Dec()
}

// GroupCommit records how many deliveries one fsync of new/ covered
// (maildir.GroupSync's Observe).
func (m *Metrics) GroupCommit(batch int) {
	if m == nil {
		return
	}
	m.batch.Observe(float64(batch))
}

// SieveAction counts one action of a Sieve plan (see SieveActions).
func (m *Metrics) SieveAction(action string) {
	if m == nil {
		return
	}
	if c, ok := m.sieveActions[action]; ok {
		c.Inc()
	}
}

// SieveScriptError counts a script that failed: a global one or the
// user's.
func (m *Metrics) SieveScriptError(global bool) {
	if m == nil {
		return
	}
	if global {
		m.sieveScriptGlobal.Inc()
		return
	}
	m.sieveScriptUser.Inc()
}

// SieveSendFailure counts a redirect or vacation reply ("redirect",
// "vacation") that could not be sent.
func (m *Metrics) SieveSendFailure(kind string) {
	if m == nil {
		return
	}
	if c, ok := m.sieveSendFailures[kind]; ok {
		c.Inc()
	}
}

// factory makes and registers collectors under namespace.
type factory struct{ reg prometheus.Registerer }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
