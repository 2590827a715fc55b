package lmtp

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"maildeliver/internal/config"
	"maildeliver/internal/lmtpproxy"
	"maildeliver/internal/lookup"
	"maildeliver/internal/status"
)

// Check is lmtpd -check: it validates the configuration (including the
// socket groups), prints it and pings the userdb; it returns the exit code.
func Check(cfg *config.Config, stdout, stderr io.Writer) int {
	for _, l := range cfg.LMTP.Listen {
		if strings.HasPrefix(l, "unix:") {
			if _, err := GroupID(cfg.LMTP.SocketGroup); err != nil {
				return status.Fail(stderr, status.Usage("configuration error: "+status.OneLine(err.Error())))
			}
			break
		}
	}
	if cfg.Userdb.Socket != "" {
		if _, err := GroupID(cfg.Userdb.SocketGroup); err != nil {
			return status.Fail(stderr, status.Usage("configuration error: userdb: "+status.OneLine(err.Error())))
		}
	}
	if strings.HasPrefix(cfg.QuotaStatus.Listen, "unix:") {
		if _, err := GroupID(cfg.QuotaStatus.SocketGroup); err != nil {
			return status.Fail(stderr, status.Usage("configuration error: quota_status: "+status.OneLine(err.Error())))
		}
	}
	code := lookup.Check(cfg, stdout, stderr)
	if code == status.ExitOK {
		fmt.Fprintln(stdout, lmtpproxy.Describe(cfg.LMTP))
	}
	return code
}

// Started is what lmtpd's start-up line says about the running server:
// every listener as network:address, the userdb socket and the metrics
// URL ("" when off).
func (s *Server) Started() []any {
	var addrs []string
	for _, a := range s.Addrs() {
		addrs = append(addrs, a.Network()+":"+a.String())
	}
	metrics := ""
	if a := s.MetricsAddr(); a != nil {
		metrics = "http://" + a.String() + "/metrics"
	}
	return []any{slog.String("listen", strings.Join(addrs, " ")),
		slog.String("userdb_socket", s.cfg.Userdb.Socket), slog.String("metrics", metrics)}
}
