package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"maildeliver/internal/lookup"
)

// A nil *Metrics ([metrics] listen = "") takes every call and does nothing.
func TestNil(t *testing.T) {
	var m *Metrics
	m.ObserveDelivery("delivered", "2.0.0", time.Millisecond, 10)
	m.ObserveLookup(time.Millisecond, true, nil)
	m.SessionStart()
	m.SessionEnd()
	m.GroupCommit(3)
	m.QuotaRefusal("policy")
	m.SieveAction("keep")
	m.SieveScriptError(true)
	m.SieveSendFailure("redirect")
	if m.Registerer() == nil {
		t.Error("nil Registerer")
	}
}

func TestObserve(t *testing.T) {
	m := New()
	m.ObserveDelivery("delivered", "2.0.0", time.Millisecond, 100)
	m.ObserveDelivery("delivered", "2.0.0", time.Millisecond, 50)
	m.ObserveDelivery("deferred", "4.2.2", time.Millisecond, 0)
	m.ObserveDelivery("bounced", "5.2.2", time.Millisecond, 0)
	m.ObserveDelivery("deferred", "4.3.0", time.Millisecond, 0)
	m.QuotaRefusal("policy")
	m.ObserveLookup(time.Millisecond, false, nil)
	m.ObserveLookup(time.Millisecond, true, lookup.ErrNotFound)
	m.ObserveLookup(time.Millisecond, false, errors.New("connect: refused"))
	m.SieveAction("fileinto")
	m.SieveAction("fileinto")
	m.SieveAction("vacation_suppressed")
	m.SieveAction("no such action") // ignored
	m.SieveScriptError(false)
	m.SieveSendFailure("redirect")
	for _, c := range []struct {
		got, want float64
		what      string
	}{
		{testutil.ToFloat64(m.delivered), 2, "delivered"},
		{testutil.ToFloat64(m.bytes), 150, "bytes"},
		{testutil.ToFloat64(m.deliveries.WithLabelValues("deferred", "4.3.0")), 1, "deferred 4.3.0"},
		{testutil.ToFloat64(m.quotaRefusals.WithLabelValues("delivery")), 2, "quota refusals at delivery"},
		{testutil.ToFloat64(m.quotaRefusals.WithLabelValues("policy")), 1, "quota refusals by policy"},
		{testutil.ToFloat64(m.lookupFound), 1, "found"},
		{testutil.ToFloat64(m.lookupUnknown), 1, "unknown"},
		{testutil.ToFloat64(m.userdbErrors), 1, "userdb errors"},
		{testutil.ToFloat64(m.cacheHits), 1, "cache hits"},
		{testutil.ToFloat64(m.sieveActions["fileinto"]), 2, "sieve fileinto"},
		{testutil.ToFloat64(m.sieveActions["vacation_suppressed"]), 1, "sieve vacation suppressed"},
		{testutil.ToFloat64(m.sieveScriptUser), 1, "sieve user script errors"},
		{testutil.ToFloat64(m.sieveScriptGlobal), 0, "sieve global script errors"},
		{testutil.ToFloat64(m.sieveSendFailures["redirect"]), 1, "sieve redirect send failures"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

// The common outcome costs no allocation.
func TestDeliveredAllocs(t *testing.T) {
	m := New()
	if n := testing.AllocsPerRun(100, func() { m.ObserveDelivery("delivered", "2.0.0", time.Millisecond, 100) }); n != 0 {
		t.Errorf("%v allocations per delivery", n)
	}
	if n := testing.AllocsPerRun(100, func() { m.ObserveLookup(time.Millisecond, true, nil) }); n != 0 {
		t.Errorf("%v allocations per lookup", n)
	}
	// A Sieve delivery's counting: an action, a failed script, a failed send.
	if n := testing.AllocsPerRun(100, func() {
		for _, a := range SieveActions {
			m.SieveAction(a)
		}
		m.SieveScriptError(false)
		m.SieveScriptError(true)
		m.SieveSendFailure("vacation")
	}); n != 0 {
		t.Errorf("%v allocations per Sieve delivery", n)
	}
}

// /healthz caches the check: a failing userdb is asked once per healthTTL,
// whatever the number of requests.
func TestHealthCache(t *testing.T) {
	now := time.Unix(1000, 0)
	calls := 0
	h := &health{now: func() time.Time { return now }, ping: func(context.Context) error {
		calls++
		return errors.New("connect: refused")
	}}
	get := func() (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
		return w.Code, w.Body.String()
	}
	for range 5 {
		if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "refused") {
			t.Fatalf("%d %q", code, body)
		}
	}
	if calls != 1 {
		t.Errorf("%d pings for 5 requests within the TTL", calls)
	}
	now = now.Add(healthTTL)
	h.ping = func(context.Context) error { calls++; return nil }
	if code, _ := get(); code != http.StatusOK || calls != 2 {
		t.Errorf("after the TTL: %d, %d pings", code, calls)
	}
}
