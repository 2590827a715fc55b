package userdbsock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/status"
)

// Open is deliver's userdb: the SQL userdb or, with [userdb] socket set, lmtpd's
// answers on that socket: then the SQL userdb is opened only if nobody can
// be asked there, which spares each message a database connection.
func Open(cfg *config.Config, log *slog.Logger) (lookup.Userdb, error) {
	openSQL := func() (lookup.Userdb, error) {
		db, err := lookup.Open(cfg.Userdb, cfg.Mail.RecipientDelimiter)
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	if cfg.Userdb.Socket == "" {
		return openSQL()
	}
	// lmtpd's lookup has [userdb] timeout; wait a little longer, so that
	// its answer rather than our clock reports a slow database.
	timeout := cfg.Userdb.Timeout.D() + time.Second
	return NewFallback(cfg.Userdb.Socket, timeout, openSQL, log), nil
}

// Check is deliver's -check of its userdb: the configuration, the SQL
// userdb when this binary has its driver, and lmtpd's userdb socket when
// one is set. It returns the exit code.
func Check(cfg *config.Config, stdout, stderr io.Writer) int {
	withSQL := lookup.Builtin(cfg.Userdb.Driver)
	if withSQL || cfg.Userdb.Socket == "" {
		// Without the driver and without a socket this fails, as it must.
		if code := lookup.Check(cfg, stdout, stderr); code != status.ExitOK || cfg.Userdb.Socket == "" {
			return code
		}
	} else {
		lookup.PrintConfig(cfg, stdout)
		fmt.Fprintf(stdout, "# userdb: driver %s not built in (-tags maildeliver_nosql): deliver asks the socket only\n",
			cfg.Userdb.Driver)
	}
	return checkSocket(cfg, withSQL, stdout, stderr)
}

// checkSocket asks lmtpd's userdb socket about a made-up address, as the
// user -check runs as: run as the pipe user, it shows whether deliver will
// be answered there or open the SQL userdb itself. An unavailable socket
// is a warning when deliver can fall back to SQL and a failure otherwise;
// an error answer fails the check: every delivery would be deferred.
func checkSocket(cfg *config.Config, withSQL bool, stdout, stderr io.Writer) int {
	c := Client{Path: cfg.Userdb.Socket, Timeout: cfg.Userdb.Timeout.D() + time.Second}
	_, err := c.Lookup(context.Background(), "maildeliver-check@invalid")
	switch {
	case err == nil || errors.Is(err, lookup.ErrNotFound):
		fmt.Fprintf(stdout, "# userdb socket %s: ok\n", cfg.Userdb.Socket)
	case errors.Is(err, ErrUnavailable) && !withSQL:
		return status.Fail(stderr, status.Temp(fmt.Sprintf("userdb socket unavailable to uid %d and no SQL driver built in: %s",
			os.Geteuid(), status.OneLine(err.Error()))))
	case errors.Is(err, ErrUnavailable):
		fmt.Fprintf(stdout, "# userdb socket: unavailable to uid %d, deliver asks the SQL userdb itself (%s)\n",
			os.Geteuid(), status.OneLine(err.Error()))
	default:
		return status.Fail(stderr, status.Temp("userdb socket: "+status.OneLine(config.MaskText(err.Error(), cfg.Userdb.Connect))))
	}
	return status.ExitOK
}
