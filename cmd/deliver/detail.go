package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"maildeliver/internal/status"
)

// detail keeps the attributes of the delivery's log line so that an
// administrator running deliver at a terminal sees, after the one DSN
// line, what the log says: the maildir, the uid/gid, the underlying error.
// Postfix's pipe(8) reads stderr as the bounce text, and then (no
// terminal) nothing is kept and nothing but the DSN line is printed.
type detail struct {
	slog.Handler // the configured log

	mu    *sync.Mutex
	attrs *[]slog.Attr // of the last "delivery" record
}

// withDetail returns log, and a detail that prints nothing, when stderr
// is not a terminal; else a logger that also keeps the delivery record.
func withDetail(log *slog.Logger, stderr io.Writer) (*slog.Logger, detail) {
	if !isTerminal(stderr) {
		return log, detail{}
	}
	d := detail{Handler: log.Handler(), mu: new(sync.Mutex), attrs: new([]slog.Attr)}
	return slog.New(d), d
}

// isTerminal: w is a terminal (an administrator at a shell, not Postfix).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Enabled: the delivery record is kept whatever [log] level lets through.
func (d detail) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || d.Handler.Enabled(ctx, l)
}

func (d detail) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "delivery" && r.Level >= slog.LevelWarn {
		var attrs []slog.Attr
		r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
		d.mu.Lock()
		*d.attrs = attrs
		d.mu.Unlock()
	}
	if !d.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return d.Handler.Handle(ctx, r)
}

func (d detail) WithAttrs(as []slog.Attr) slog.Handler {
	return detail{Handler: d.Handler.WithAttrs(as), mu: d.mu, attrs: d.attrs}
}

func (d detail) WithGroup(name string) slog.Handler {
	return detail{Handler: d.Handler.WithGroup(name), mu: d.mu, attrs: d.attrs}
}

// print writes the kept attributes, one "  key: value" line each, leaving
// out what the DSN line already says (code, reason) and the empty ones.
func (d detail) print(w io.Writer) {
	if d.attrs == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range *d.attrs {
		v := status.OneLine(a.Value.String())
		if a.Key == "code" || a.Key == "reason" || v == "" {
			continue
		}
		fmt.Fprintf(w, "  %-9s %s\n", a.Key+":", v)
	}
}
