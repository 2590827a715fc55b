// Command lmtpd is maildeliver's LMTP server (RFC 2033): Postfix hands it
// mail for virtual users (virtual_transport = lmtp:unix:private/lmtp), and
// it delivers each recipient into its Maildir with one reply per
// recipient. See package lmtp for the protocol side and dist/ for the
// systemd units and the Postfix settings. With [userdb] socket set, it
// also answers deliver's userdb lookups there (package userdbsock), so that
// deliver needs no database connection of its own.
//
//	lmtpd [-c CONFIG]          serve until SIGTERM/SIGINT; SIGHUP reloads
//	lmtpd [-c CONFIG] -check   validate, print the effective config, ping the userdb
//
// Exit status: 0 after a clean shutdown or a good -check; 75 (EX_TEMPFAIL)
// with one line on stderr starting with an enhanced status code otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"

	"maildeliver/internal/cli"
	"maildeliver/internal/config"
	"maildeliver/internal/lmtp"
	"maildeliver/internal/logging"
	"maildeliver/internal/privilege"
	"maildeliver/internal/status"
)

const usage = `usage: lmtpd [-c CONFIG]
       lmtpd [-c CONFIG] -check

Serves LMTP where [lmtp] listen says and delivers into Maildirs.
  -c CONFIG   configuration file (default ` + config.DefaultPath + `)
  -check      validate the configuration, print it (secrets masked), test the userdb
  -version   print the version and build information
  -h, -help   this text

Signals: SIGTERM/SIGINT shut down gracefully ([lmtp] shutdown_timeout);
SIGHUP re-reads the configuration: the userdb and [mail]/[quota] apply to
new transactions, [lmtp], [log] and [metrics] changes need a restart.
`

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sigs))
}

type options struct {
	config         string
	check, version bool
}

// run is lmtpd's whole life; it returns the exit code.
func run(args []string, stdout, stderr io.Writer, sigs <-chan os.Signal) (code int) {
	defer func() {
		if p := recover(); p != nil {
			code = cli.Fail(stderr, status.Temp("lmtpd: internal error: "+cli.OneLine(fmt.Sprint(p))))
		}
	}()
	opt, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return status.ExitOK
	}
	if opt.version {
		fmt.Fprint(stdout, cli.Version("lmtpd"))
		return status.ExitOK
	}
	if err != nil {
		return cli.Fail(stderr, status.Usage("usage: "+cli.OneLine(err.Error())))
	}
	cfg, err := config.Load(opt.config)
	if err != nil {
		return cli.Fail(stderr, status.Usage("configuration error: "+cli.OneLine(err.Error())))
	}
	if opt.check {
		return check(cfg, stdout, stderr)
	}
	log, closer, err := logging.New(logging.Options{Target: cfg.Log.Target, Level: cfg.Log.Level,
		Tag: "maildeliver/lmtpd"})
	if err != nil {
		return cli.Fail(stderr, status.Usage("configuration error: "+cli.OneLine(err.Error())))
	}
	defer closer.Close()
	srv, err := lmtp.New(cfg, lmtp.Options{Log: log})
	if err != nil {
		return cli.Fail(stderr, status.Usage("configuration error: "+cli.OneLine(err.Error())))
	}
	if err := srv.Listen(); err != nil {
		srv.Shutdown(context.Background())
		return cli.Fail(stderr, status.Usage("cannot listen: "+cli.OneLine(err.Error())))
	}
	// Sockets bound and owned: root needs nothing more than switching a
	// thread's file-system identity (package privilege).
	if err := privilege.DropCapabilities(); err != nil {
		log.Warn("lmtpd keeps all of root's capabilities", slog.String("error", err.Error()))
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	var addrs []string
	for _, a := range srv.Addrs() {
		addrs = append(addrs, a.Network()+":"+a.String())
	}
	metrics := ""
	if a := srv.MetricsAddr(); a != nil {
		metrics = "http://" + a.String() + "/metrics"
	}
	log.Info("lmtpd started", slog.String("listen", strings.Join(addrs, " ")),
		slog.String("userdb_socket", cfg.Userdb.Socket), slog.String("metrics", metrics), slog.Int("pid", os.Getpid()))
	notify(log, daemon.SdNotifyReady)

	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(srv, opt.config, log)
				continue
			}
			log.Info("lmtpd stopping", slog.String("signal", sig.String()))
			return stop(srv, cfg, log, nil)
		case err := <-served:
			log.Error("lmtpd: listener failed", slog.String("error", err.Error()))
			return stop(srv, cfg, log, err)
		}
	}
}

// stop shuts the server down within [lmtp] shutdown_timeout.
func stop(srv *lmtp.Server, cfg *config.Config, log *slog.Logger, cause error) int {
	notify(log, daemon.SdNotifyStopping)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.LMTP.ShutdownTimeout.D())
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("lmtpd: shutdown cut transactions in flight", slog.String("error", err.Error()))
	}
	log.Info("lmtpd stopped")
	if cause != nil {
		return status.ExitTempFail
	}
	return status.ExitOK
}

// reload re-reads the configuration on SIGHUP; a bad file keeps the
// running configuration.
func reload(srv *lmtp.Server, path string, log *slog.Logger) {
	notify(log, daemon.SdNotifyReloading+"\n"+daemon.SdNotifyMonotonicUsec())
	defer notify(log, daemon.SdNotifyReady)
	cfg, err := config.Load(path)
	if err == nil {
		err = srv.Reload(cfg)
	}
	if err != nil {
		log.Error("reload failed, keeping the running configuration", slog.String("error", err.Error()))
		return
	}
	log.Info("configuration reloaded", slog.String("config", path))
}

// notify tells systemd (Type=notify) about our state; without
// NOTIFY_SOCKET it does nothing.
func notify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("sd_notify failed", slog.String("error", err.Error()))
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("lmtpd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.config, "c", config.DefaultPath, "")
	fs.BoolVar(&o.check, "check", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, nil
}

// check validates the configuration (including the socket groups),
// prints it and pings the userdb.
func check(cfg *config.Config, stdout, stderr io.Writer) int {
	for _, l := range cfg.LMTP.Listen {
		if strings.HasPrefix(l, "unix:") {
			if _, err := lmtp.GroupID(cfg.LMTP.SocketGroup); err != nil {
				return cli.Fail(stderr, status.Usage("configuration error: "+cli.OneLine(err.Error())))
			}
			break
		}
	}
	if cfg.Userdb.Socket != "" {
		if _, err := lmtp.GroupID(cfg.Userdb.SocketGroup); err != nil {
			return cli.Fail(stderr, status.Usage("configuration error: userdb: "+cli.OneLine(err.Error())))
		}
	}
	if strings.HasPrefix(cfg.QuotaStatus.Listen, "unix:") {
		if _, err := lmtp.GroupID(cfg.QuotaStatus.SocketGroup); err != nil {
			return cli.Fail(stderr, status.Usage("configuration error: quota_status: "+cli.OneLine(err.Error())))
		}
	}
	return cli.Check(cfg, stdout, stderr)
}
