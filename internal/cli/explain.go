package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/lookup"
	"maildeliver/internal/status"
	"maildeliver/internal/trace"
)

// Explain is deliver -explain ADDRESS: it runs delivery's decisions for r
// (delivery.Agent.Explain) with a trace observer that prints each step as
// one "step: text" line on w, then a "result:" line with the reply and
// exit code a delivery would get. It returns that exit code: 0 when the
// message would be delivered.
func Explain(ctx context.Context, cfg *config.Config, db lookup.Userdb, r delivery.ExplainRequest, w io.Writer) int {
	agent := delivery.NewAgent(cfg, db, slog.New(slog.DiscardHandler))
	ctx = trace.With(ctx, func(step, text string) {
		fmt.Fprintf(w, "%s: %s\n", step, OneLine(text))
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
	fmt.Fprintf(w, "result: %d %s (exit %d)\n", st.Code, OneLine(st.DSN()), st.ExitCode())
	if st.Err != nil {
		// The administrator's: package lookup has cut the connect string out.
		fmt.Fprintf(w, "detail: %s\n", OneLine(config.MaskText(st.Err.Error(), cfg.Userdb.Connect)))
	}
	return st.ExitCode()
}
