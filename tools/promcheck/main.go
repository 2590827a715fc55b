// Command promcheck fetches a Prometheus /metrics page, parses it with
// Prometheus's own text parser (github.com/prometheus/common/expfmt) and
// prints one sample per line, sorted, for shell scripts to compare:
//
//	promcheck http://127.0.0.1:9317/metrics
//	maildeliver_deliveries_total{code="2.0.0",result="delivered"} 12
//	maildeliver_delivery_duration_seconds_count{result="delivered"} 12
//
// Counters and gauges print their value; histograms their _count and
// _sum; summaries too. A page that does not parse is exit status 1. The
// e2e suite uses it to compare lmtpd's counters with the deliveries.
package main

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: promcheck URL")
		os.Exit(2)
	}
	lines, err := scrape(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "promcheck:", err)
		os.Exit(1)
	}
	fmt.Print(strings.Join(lines, ""))
}

func scrape(url string) ([]string, error) {
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	var out []string
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			out = append(out, samples(name, m)...)
		}
	}
	sort.Strings(out)
	return out, nil
}

// samples formats one metric's values, labels sorted by name.
func samples(name string, m *dto.Metric) []string {
	var ls []string
	for _, l := range m.GetLabel() {
		ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
	}
	sort.Strings(ls)
	labels := ""
	if len(ls) > 0 {
		labels = "{" + strings.Join(ls, ",") + "}"
	}
	line := func(suffix string, v float64) string {
		return name + suffix + labels + " " + strconv.FormatFloat(v, 'f', -1, 64) + "\n"
	}
	switch {
	case m.Counter != nil:
		return []string{line("", m.Counter.GetValue())}
	case m.Gauge != nil:
		return []string{line("", m.Gauge.GetValue())}
	case m.Untyped != nil:
		return []string{line("", m.Untyped.GetValue())}
	case m.Histogram != nil:
		return []string{line("_count", float64(m.Histogram.GetSampleCount())), line("_sum", m.Histogram.GetSampleSum())}
	case m.Summary != nil:
		return []string{line("_count", float64(m.Summary.GetSampleCount())), line("_sum", m.Summary.GetSampleSum())}
	}
	return nil
}
