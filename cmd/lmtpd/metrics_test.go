package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestDaemonMetrics: with [metrics] listen, the daemon names the URL in
// its start-up line, serves /healthz and /metrics, and counts the
// delivery; a [metrics] listen that cannot be opened is a listen failure
// (75, one line).
func TestDaemonMetrics(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	cfg, _ := setup(t, strconv.Quote("unix:"+sock), "[metrics]\nlisten = \"127.0.0.1:0\"\n")
	d := startDaemon(t, exec.Command(os.Args[0], "-c", cfg))
	d.waitState("READY=1")
	m := d.stderr.waitMatch(regexp.MustCompile(`metrics=(http://127\.0\.0\.1:[0-9]+)/metrics`))
	if m == nil {
		t.Fatalf("no metrics URL in the start-up line:\n%s", d.stderr.String())
	}
	deliver(t, "unix", sock, "counted")
	get := func(path string) (int, string) {
		resp, err := (&http.Client{Timeout: ioTimeout}).Get(m[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get("/metrics"); code != http.StatusOK ||
		!strings.Contains(body, `maildeliver_deliveries_total{code="2.0.0",result="delivered"} 1`+"\n") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg2, _ := setup(t, strconv.Quote("unix:"+filepath.Join(t.TempDir(), "lmtp.sock")),
		"[metrics]\nlisten = "+strconv.Quote(busy.Addr().String())+"\n")
	code, _, errOut := runLmtpd("-c", cfg2)
	if code != 75 {
		t.Errorf("metrics port taken: exit %d, want 75", code)
	}
	oneStatusLine(t, errOut, "4.3.5 cannot listen: listen [metrics] ")
}
