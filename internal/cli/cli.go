// Package cli holds what the mains of deliver and lmtpd share: the single
// status line they print on failure (Postfix reads deliver's as the bounce
// text) and the userdb part of -check.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
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

// CheckAddress is the dry run of -check -d ADDRESS: everything a delivery
// to address would decide, nothing written. It canonicalises the address,
// looks it up in db (so a row with a non-numeric uid, a bad quota or a
// bad mail column shows here, not as a deferral of every message),
// expands the location and checks that the mailbox owner can write there.
// It prints what it found to stdout and one line per problem to stderr,
// and returns the exit code a delivery would get (75 for a problem that
// would defer it).
func CheckAddress(ctx context.Context, cfg *config.Config, db lookup.Userdb, address string, stdout, stderr io.Writer) int {
	agent := delivery.NewAgent(cfg, db, slog.New(slog.DiscardHandler))
	t, err := agent.Resolve(ctx, address, "")
	if err != nil {
		st := status.From(err)
		line := st.DSN()
		if st.Err != nil {
			// -check is the administrator's: the detail is the point
			// (package lookup has cut the connect string out of it).
			line += ": " + st.Err.Error()
		}
		fmt.Fprintln(stderr, OneLine(line))
		return st.Exit
	}
	folder := t.Folder
	if folder == "" {
		folder = "INBOX"
	}
	fmt.Fprintf(stdout, "# <%s>: user %s, maildir %s (layout %s), folder %s, uid %d gid %d, quota %s\n",
		address, t.Recipient, t.Maildir, t.Mailbox.Naming.Layout, folder, t.UID, t.GID, t.Quota)
	problems := agent.CheckMailbox(ctx, t)
	for _, p := range problems {
		fmt.Fprintln(stderr, OneLine(status.Temp(fmt.Sprintf("<%s>: %s", address, p)).DSN()))
	}
	if len(problems) > 0 {
		return status.ExitTempFail
	}
	fmt.Fprintf(stdout, "# <%s>: ok\n", address)
	return status.ExitOK
}
