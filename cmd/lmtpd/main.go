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
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"

	"maildeliver/internal/config"
	"maildeliver/internal/lmtp"
	"maildeliver/internal/logging"
	"maildeliver/internal/privilege"
	"maildeliver/internal/sievedeliver"
	"maildeliver/internal/status"
	"maildeliver/internal/version"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sigs))
}

// run is lmtpd's whole life; it returns the exit code.
func run(args []string, stdout, stderr io.Writer, sigs <-chan os.Signal) (code int) {
	defer func() {
		if p := recover(); p != nil {
			code = status.Fail(stderr, status.Temp("lmtpd: internal error: "+status.OneLine(fmt.Sprint(p))))
		}
	}()
	opt, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return status.ExitOK
	}
	if opt.version {
		fmt.Fprint(stdout, version.String("lmtpd"))
		return status.ExitOK
	}
	if err != nil {
		return status.Fail(stderr, status.Usage("usage: "+status.OneLine(err.Error())))
	}
	cfg, err := config.Load(opt.config)
	if err != nil {
		return status.Fail(stderr, status.Usage("configuration error: "+status.OneLine(err.Error())))
	}
	if opt.check {
		if code := lmtp.Check(cfg, stdout, stderr); code != status.ExitOK {
			return code
		}
		return sievedeliver.Check(cfg, stdout, stderr)
	}
	log, closer, err := logging.New(logging.Options{Target: cfg.Log.Target, Level: cfg.Log.Level,
		Tag: "maildeliver/lmtpd"})
	if err != nil {
		return status.Fail(stderr, status.Usage("configuration error: "+status.OneLine(err.Error())))
	}
	defer closer.Close()
	srv, err := lmtp.New(cfg, lmtp.Options{Log: log, Decider: sievedeliver.Option})
	if err != nil {
		return status.Fail(stderr, status.Usage("configuration error: "+status.OneLine(err.Error())))
	}
	if err := srv.Listen(); err != nil {
		srv.Shutdown(context.Background())
		return status.Fail(stderr, status.Usage("cannot listen: "+status.OneLine(err.Error())))
	}
	// Sockets bound and owned: root needs nothing more than switching a
	// thread's file-system identity (package privilege).
	if err := privilege.DropCapabilities(); err != nil {
		log.Warn("lmtpd keeps all of root's capabilities", slog.String("error", err.Error()))
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	log.Info("lmtpd started", append(srv.Started(), slog.Int("pid", os.Getpid()))...)
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
