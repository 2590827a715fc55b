package lmtp

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"maildeliver/internal/config"
)

// scrape fetches /metrics and parses it with Prometheus's own text parser.
func (e *env) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	addr := e.srv.MetricsAddr()
	if addr == nil {
		e.t.Fatal("no metrics listener")
	}
	resp, err := (&http.Client{Timeout: ioTimeout}).Get("http://" + addr.String() + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		e.t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// metricValue returns the value of the sample of family name whose labels
// include labels ("k=v" pairs), the count for a histogram; -1 if absent.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func withMetrics(c *config.Config) {
	c.Metrics.Listen = "127.0.0.1:0"
	c.Userdb.CacheTTL = config.Duration(time.Hour)
}

// TestMetrics: after N deliveries, /metrics (parsed with Prometheus's text
// parser) counts exactly those deliveries, their bytes, the refusal, the
// lookups and cache hits, the sessions and the group-commit batches.
func TestMetrics(t *testing.T) {
	e := newEnv(t, envOptions{config: withMetrics})
	a := e.raw("unix")
	a.send("LHLO a.test\r\n")
	a.expect("250-")
	b := e.raw("tcp")
	b.send("LHLO b.test\r\n")
	b.expect("250-")
	fams := e.scrape()
	if v := metricValue(fams, "maildeliver_lmtp_sessions_active"); v != 2 {
		t.Errorf("sessions_active %v, want 2", v)
	}

	const n = 7
	for i := range n {
		a.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n")
		a.expect("250 ")
		a.expect("250 ")
		a.expect("354 ")
		a.send(msg("m"+strconv.Itoa(i), strings.Repeat("x", i*100)) + ".\r\n")
		savedID(t, a.reply(), "alice@domain.org")
	}
	b.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<nobody@domain.org>\r\nRSET\r\n")
	b.expect("250 ")
	b.expect("550 5.1.1")
	b.expect("250 ")

	var bytes int64
	for _, f := range e.files("alice@domain.org", "new") {
		fi, err := os.Stat(filepath.Join(e.users["alice@domain.org"].maildir, "new", f))
		if err != nil {
			t.Fatal(err)
		}
		bytes += fi.Size()
	}
	fams = e.scrape()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"maildeliver_deliveries_total", []string{"result=delivered", "code=2.0.0"}, n},
		{"maildeliver_deliveries_total", []string{"result=bounced", "code=5.1.1"}, 1},
		{"maildeliver_delivery_duration_seconds", []string{"result=delivered"}, n},
		{"maildeliver_delivered_bytes_total", nil, float64(bytes)},
		{"maildeliver_userdb_lookups_total", []string{"result=found"}, n},
		{"maildeliver_userdb_lookups_total", []string{"result=unknown"}, 1},
		{"maildeliver_userdb_lookups_total", []string{"result=error"}, 0},
		{"maildeliver_userdb_errors_total", nil, 0},
		{"maildeliver_userdb_cache_hits_total", nil, n - 1}, // cache_ttl: alice is asked once
		{"maildeliver_userdb_lookup_duration_seconds", nil, n + 1},
		{"maildeliver_lmtp_sessions_total", nil, 2},
		{"maildeliver_lmtp_sessions_active", nil, 2},
		{"maildeliver_group_commit_batch_size", nil, n}, // one at a time: one fsync each
		{"maildeliver_quota_refusals_total", []string{"stage=delivery"}, 0},
	} {
		if got := metricValue(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if h := fams["maildeliver_group_commit_batch_size"].GetMetric()[0].GetHistogram(); h.GetSampleSum() != n {
		t.Errorf("group commit batches sum to %v, want %d", h.GetSampleSum(), n)
	}
	if len(e.files("alice@domain.org", "new")) != n {
		t.Errorf("%d files, want %d", len(e.files("alice@domain.org", "new")), n)
	}
}

// TestMetricsQuota: a recipient over quota at RCPT (SIZE) and after DATA
// counts as a quota refusal, by its code.
func TestMetricsQuota(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *config.Config) {
		withMetrics(c)
		c.Quota.Default = "1k"
	}})
	c := e.raw("unix")
	c.send("LHLO a.test\r\nMAIL FROM:<s@example.net> SIZE=5000\r\nRCPT TO:<alice@domain.org>\r\nRSET\r\n")
	c.expect("250-")
	c.expect("250 ")
	c.expect("552 5.2.2")
	c.expect("250 ")
	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	c.send(msg("big", strings.Repeat("y", 3000)) + ".\r\n")
	c.expect("552 5.2.2")
	fams := e.scrape()
	if v := metricValue(fams, "maildeliver_quota_refusals_total", "stage=delivery"); v != 2 {
		t.Errorf("quota refusals %v, want 2", v)
	}
	if v := metricValue(fams, "maildeliver_deliveries_total", "result=bounced", "code=5.2.2"); v != 2 {
		t.Errorf("deliveries{bounced,5.2.2} %v, want 2", v)
	}
}

// healthz returns /healthz's status code and body.
func (e *env) healthz() (int, string) {
	e.t.Helper()
	resp, err := (&http.Client{Timeout: ioTimeout}).Get("http://" + e.srv.MetricsAddr().String() + "/healthz")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitHealth polls /healthz until it answers want (the result is cached
// for two seconds, so a change shows within that); it fails the test after
// ioTimeout.
func (e *env) waitHealth(want int) string {
	e.t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		code, body := e.healthz()
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("/healthz still %d %q, want %d", code, body, want)
		}
		time.Sleep(50 * time.Millisecond) // polling, not synchronisation
	}
}

// TestHealthz: /healthz is 200 while the userdb answers, 503 while its
// PostgreSQL is down (a real cluster, stopped), 200 again once it is back.
// The error shown does not include the password.
func TestHealthz(t *testing.T) {
	e := newEnv(t, envOptions{noStart: true, config: withMetrics})
	pg := newPGCluster(t, e.dir)
	ctx := context.Background()
	db, err := pgx.Connect(ctx, pg.connect())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE users (userid TEXT PRIMARY KEY, uid INTEGER, gid INTEGER, home TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close(ctx)
	e.cfg.Userdb = config.Userdb{Driver: "pgsql", Connect: pg.connect() + " password=hunter2",
		UserQuery: "SELECT home, uid, gid FROM users WHERE userid = '%u'",
		Timeout:   config.Duration(3 * time.Second), MaxConnections: 2}
	e.start(nil)

	if code, body := e.healthz(); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz with the userdb up: %d %q", code, body)
	}
	pg.stop()
	body := e.waitHealth(http.StatusServiceUnavailable)
	if !strings.Contains(body, "userdb unreachable") || strings.Contains(body, "hunter2") {
		t.Errorf("/healthz body %q", body)
	}
	pg.start()
	e.waitHealth(http.StatusOK)
}

// TestHealthzClosedPort: a pgsql userdb nobody listens for is unhealthy
// from the first check; without [metrics] listen nothing listens.
func TestHealthzClosedPort(t *testing.T) {
	e := newEnv(t, envOptions{noStart: true, config: withMetrics})
	e.cfg.Userdb = config.Userdb{Driver: "pgsql", Connect: "host=127.0.0.1 port=1 dbname=x user=x",
		UserQuery: "SELECT home FROM users WHERE userid = '%u'", Timeout: config.Duration(3 * time.Second),
		MaxConnections: 1}
	e.start(nil)
	if code, body := e.healthz(); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz with a closed port: %d %q", code, body)
	}
	off := newEnv(t, envOptions{})
	if off.srv.MetricsAddr() != nil || off.srv.Metrics() != nil {
		t.Errorf("metrics on without [metrics] listen")
	}
}
