// Package logging builds the slog logger both binaries use, from [log]:
//
//	target = "auto"     syslog (facility mail) when /dev/log exists; else
//	                    stderr for lmtpd, and for deliver stderr only when it
//	                    is a terminal (under Postfix's pipe(8) stderr is the
//	                    bounce text, which must stay one DSN line)
//	target = "syslog"   syslog, facility mail
//	target = "stderr"   stderr
//	target = "file:/var/log/maildeliver.log"  appended, one write per line
//
// Lines are slog's key=value text, one per delivery outcome.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Options selects where logs go.
type Options struct {
	Target string // auto | syslog | stderr | file:PATH
	Level  string // debug | info | warn | error
	Tag    string // program name for syslog
	// StderrIsOutput marks deliver: its stderr carries the DSN line, so in
	// auto mode logs go there only when a person is watching.
	StderrIsOutput bool
}

// New returns a logger and a closer for it.
func New(o Options) (*slog.Logger, io.Closer, error) {
	w, closer, err := writer(o)
	if err != nil {
		return nil, nil, err
	}
	_, toSyslog := w.(*syslog.Writer)
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.Level)); err != nil {
		lvl = slog.LevelInfo
	}
	h := slog.NewTextHandler(&lineWriter{w: w}, &slog.HandlerOptions{
		Level: lvl,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			// syslog adds its own time stamp; every other target keeps ours
			// ("auto" may have resolved to stderr)
			if toSyslog && a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	})
	return slog.New(h), closer, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

func writer(o Options) (io.Writer, io.Closer, error) {
	switch {
	case o.Target == "syslog":
		return dialSyslog(o.Tag)
	case o.Target == "stderr":
		return os.Stderr, nopCloser{}, nil
	case strings.HasPrefix(o.Target, "file:"):
		f, err := os.OpenFile(strings.TrimPrefix(o.Target, "file:"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("log file: %w", err)
		}
		return f, f, nil
	case o.Target == "auto", o.Target == "":
		if _, err := os.Stat("/dev/log"); err == nil {
			if w, c, err := dialSyslog(o.Tag); err == nil {
				return w, c, nil
			}
		}
		if !o.StderrIsOutput || isTerminal(os.Stderr) {
			return os.Stderr, nopCloser{}, nil
		}
		return io.Discard, nopCloser{}, nil
	}
	return nil, nil, fmt.Errorf("log target %q: want auto, syslog, stderr or file:PATH", o.Target)
}

func dialSyslog(tag string) (io.Writer, io.Closer, error) {
	w, err := syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, tag)
	if err != nil {
		return nil, nil, fmt.Errorf("syslog: %w", err)
	}
	return w, w, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// lineWriter makes each record exactly one Write (one syslog message, one
// O_APPEND write), serialised across goroutines.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
