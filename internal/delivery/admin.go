package delivery

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/status"
	"maildeliver/internal/trace"
)

// The administrator's dry runs of deliver: -check -d and -explain. They
// print what a delivery would decide and return the exit code it would get.

// CheckAddress is the dry run of -check -d ADDRESS: everything a delivery
// to address would decide, nothing written. It canonicalises the address,
// looks it up in db (so a row with a non-numeric uid, a bad quota or a
// bad mail column shows here, not as a deferral of every message),
// expands the location and checks that the mailbox owner can write there.
// It prints what it found to stdout and one line per problem to stderr,
// and returns the exit code a delivery would get (75 for a problem that
// would defer it).
func CheckAddress(ctx context.Context, cfg *config.Config, db lookup.Userdb, address string, stdout, stderr io.Writer) int {
	agent := NewAgent(cfg, db, slog.New(slog.DiscardHandler))
	t, err := agent.Resolve(ctx, address, "")
	if err != nil {
		st := status.From(err)
		line := st.DSN()
		if st.Err != nil {
			// -check is the administrator's: the detail is the point
			// (package lookup has cut the connect string out of it).
			line += ": " + st.Err.Error()
		}
		fmt.Fprintln(stderr, status.OneLine(line))
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
		fmt.Fprintln(stderr, status.OneLine(status.Temp(fmt.Sprintf("<%s>: %s", address, p)).DSN()))
	}
	if len(problems) > 0 {
		return status.ExitTempFail
	}
	fmt.Fprintf(stdout, "# <%s>: ok\n", address)
	return status.ExitOK
}

// ExplainTo is deliver -explain ADDRESS: it runs delivery's decisions for r
// (Agent.Explain) with a trace observer that prints each step as
// one "step: text" line on w, then a "result:" line with the reply and
// exit code a delivery would get. It returns that exit code: 0 when the
// message would be delivered. opts are the delivery's (its Decider).
func ExplainTo(ctx context.Context, cfg *config.Config, db lookup.Userdb, r ExplainRequest, w io.Writer, opts ...Option) int {
	agent := NewAgent(cfg, db, slog.New(slog.DiscardHandler), opts...)
	ctx = trace.With(ctx, func(step, text string) {
		fmt.Fprintf(w, "%s: %s\n", step, status.OneLine(text))
	})
	t, err := agent.Explain(ctx, r)
	if err == nil {
		folder := t.Folder
		if folder == "" {
			folder = "INBOX"
		}
		fmt.Fprintf(w, "result: %d 2.0.0 would deliver to %s of %s (exit %d)\n", status.CodeOK, folder, t.Maildir, status.ExitOK)
		return status.ExitOK
	}
	st := status.From(err)
	fmt.Fprintf(w, "result: %d %s (exit %d)\n", st.Code, status.OneLine(st.DSN()), st.ExitCode())
	if st.Err != nil {
		// The administrator's: package lookup has cut the connect string out.
		fmt.Fprintf(w, "detail: %s\n", status.OneLine(config.MaskText(st.Err.Error(), cfg.Userdb.Connect)))
	}
	return st.ExitCode()
}
