// Package cli holds what the mains of deliver and lmtpd share: the single
// status line they print on failure (Postfix reads deliver's as the bounce
// text) and the userdb part of -check.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"maildeliver/internal/config"
	"maildeliver/internal/logging"
	"maildeliver/internal/lookup"
	"maildeliver/internal/status"
)

// OneLine flattens s to one bounded line.
func OneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == 0 {
			return ' '
		}
		return r
	}, s)
	if len(s) > 400 {
		s = s[:400]
	}
	return s
}

// Fail prints st's one DSN line to w and returns its exit code: never 0,
// 75 (with a 4.x.x line) for a nil, zero or inconsistent st.
func Fail(w io.Writer, st *status.Error) int {
	fmt.Fprintln(w, OneLine(st.DSN()))
	return st.ExitCode()
}

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
	db, err := lookup.Open(cfg.Userdb, cfg.Mail.RecipientDelimiter)
	if err != nil {
		return Fail(stderr, status.Usage("configuration error: userdb: "+OneLine(err.Error())))
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Userdb.Timeout.D())
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		// The lookup error has no secret in it already; MaskText is a
		// second guard that leaves the database's own words readable.
		detail := OneLine(config.MaskText(err.Error(), cfg.Userdb.Connect))
		if errors.Is(err, lookup.ErrQuery) {
			return Fail(stderr, status.Usage("configuration error: userdb answered, but refused a query: "+detail))
		}
		return Fail(stderr, status.Temp("userdb unreachable (cannot connect or log in): "+detail))
	}
	fmt.Fprintln(stdout, "# userdb: ok")
	return status.ExitOK
}
