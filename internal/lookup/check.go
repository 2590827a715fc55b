package lookup

import (
	"context"
	"errors"
	"fmt"
	"io"

	"maildeliver/internal/config"
	"maildeliver/internal/logging"
	"maildeliver/internal/status"
)

// PrintConfig prints the effective configuration, secrets masked, and
// whether the log target can be written by this user: the first part of
// -check. An unwritable log is a warning: it never defers mail.
func PrintConfig(cfg *config.Config, w io.Writer) {
	fmt.Fprintf(w, "# effective configuration (secrets masked)\n%s", cfg.Effective())
	fmt.Fprintln(w, logging.Describe(logging.Options{Target: cfg.Log.Target}))
}

// Check prints the effective configuration (secrets masked) and tests the
// userdb: the queries are prepared by the server, so a wrong table or
// column shows here. It returns the exit code of -check.
func Check(cfg *config.Config, stdout, stderr io.Writer) int {
	PrintConfig(cfg, stdout)
	db, err := Open(cfg.Userdb, cfg.Mail.RecipientDelimiter)
	if err != nil {
		return status.Fail(stderr, status.Usage("configuration error: userdb: "+status.OneLine(err.Error())))
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Userdb.Timeout.D())
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		// The lookup error has no secret in it already; MaskText is a
		// second guard that leaves the database's own words readable.
		detail := status.OneLine(config.MaskText(err.Error(), cfg.Userdb.Connect))
		if errors.Is(err, ErrQuery) {
			return status.Fail(stderr, status.Usage("configuration error: userdb answered, but refused a query: "+detail))
		}
		return status.Fail(stderr, status.Temp("userdb unreachable (cannot connect or log in): "+detail))
	}
	fmt.Fprintln(stdout, "# userdb: ok")
	return status.ExitOK
}
