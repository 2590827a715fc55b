package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestMtailRecipe runs the README's mtail program (the way deliver's
// deliveries reach the metrics lmtpd serves) on deliver's real log lines:
// its counters must equal the deliveries made and the bytes on disk.
func TestMtailRecipe(t *testing.T) {
	requireRoot(t)
	mtail, err := exec.LookPath("mtail")
	if err != nil {
		t.Fatal("mtail is not installed (Debian package mtail; scripts/install-deps.sh installs it)")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- mtail: maildeliver.mtail -->\n```\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no mtail program")
	}
	progs := t.TempDir()
	if err := os.WriteFile(filepath.Join(progs, "maildeliver.mtail"), m[1], 0o644); err != nil {
		t.Fatal(err)
	}

	e := sqliteEnv(t, "")
	const n = 5
	for i := range n {
		body := testMsg + strings.Repeat("line "+strconv.Itoa(i)+"\n", i*50)
		checkOutcome(t, e.deliver(body, "-q", "Q"+strconv.Itoa(i), "-f", "a@b", "-d", "user@domain.org"), 0, "")
	}
	checkOutcome(t, e.deliver(testMsg, "-f", "a@b", "-d", "nobody@domain.org"), 67, "5.1.1 ")
	var bytes int64
	newDir := filepath.Join(e.dir, "home/domain.org/mails/user/Maildir/new")
	ents, err := os.ReadDir(newDir)
	if err != nil || len(ents) != n {
		t.Fatalf("%d files in new/ (%v), want %d", len(ents), err, n)
	}
	for _, ent := range ents {
		fi, err := ent.Info()
		if err != nil {
			t.Fatal(err)
		}
		bytes += fi.Size()
	}

	cmd := exec.Command(mtail, "--one_shot", "--progs", progs, "--logs", e.log, "--logtostderr")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mtail: %v\n%s", err, out)
	}
	got := mtailValues(t, out)
	for key, want := range map[string]float64{
		"maildeliver_deliveries_total{delivered,2.0.0}":          n,
		"maildeliver_deliveries_total{bounced,5.1.1}":            1,
		"maildeliver_delivered_bytes_total{}":                    float64(bytes),
		"maildeliver_delivery_duration_seconds{delivered}#count": n,
		"maildeliver_delivery_duration_seconds{bounced}#count":   1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}
}

// mtailValues flattens mtail --one_shot's JSON into "name{labels}" ->
// value, with "#count" for a histogram's count.
func mtailValues(t *testing.T, out []byte) map[string]float64 {
	var dump map[string][]struct {
		LabelValues []struct {
			Labels []string
			Value  struct {
				Value float64
				Count float64
			}
		}
	}
	if err := json.Unmarshal(out, &dump); err != nil {
		t.Fatalf("mtail output: %v\n%s", err, out)
	}
	vals := map[string]float64{}
	for name, ms := range dump {
		for _, m := range ms {
			for _, lv := range m.LabelValues {
				k := name + "{" + strings.Join(lv.Labels, ",") + "}"
				vals[k] = lv.Value.Value
				vals[k+"#count"] = lv.Value.Count
			}
		}
	}
	return vals
}
