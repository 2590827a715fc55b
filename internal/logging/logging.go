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
//
// Logging never causes a deferral: a log file that cannot be opened (the
// pipe user may not write it) or written (disk full) sends its lines to
// syslog instead, and when syslog cannot be reached either they are
// dropped and counted; the count is logged with the next line that gets
// through. Describe tells -check whether the target can be written.
//
// The logger New builds last is also the process's Library logger, where
// libraries' own complaints go (the MySQL driver's): into the configured
// log, never to deliver's stderr.
package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

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

// library is the logger New built last.
var library atomic.Pointer[slog.Logger]

// Library returns the logger for libraries' messages: the one New built
// last, or slog's default before New was called (-check, tests).
func Library() *slog.Logger {
	if l := library.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// New returns a logger and a closer for it. Its only error is a target
// that is not one of the forms above: a target that cannot be opened is
// replaced by syslog (see the package doc) and said so in the log.
func New(o Options) (*slog.Logger, io.Closer, error) {
	s, openErr, err := newSink(o)
	if err != nil {
		return nil, nil, err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.Level)); err != nil {
		lvl = slog.LevelInfo
	}
	h := slog.NewTextHandler(s, &slog.HandlerOptions{
		Level: lvl,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			// syslog adds its own time stamp; every other target keeps ours
			// ("auto" may have resolved to stderr)
			if s.primaryIsSyslog && a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	})
	log := slog.New(h)
	if openErr != nil {
		log.Error("log target unusable: its lines go to syslog, or are dropped and counted without it", slog.String("target", o.Target),
			slog.String("error", openErr.Error()), slog.Int("uid", os.Geteuid()))
	}
	library.Store(log)
	return log, s, nil
}

// Describe is -check's line about the log target, as the user -check runs
// as: whether it can be written, and what happens when it cannot.
func Describe(o Options) string {
	path, ok := strings.CutPrefix(o.Target, "file:")
	if !ok {
		return fmt.Sprintf("# log: %s", o.Target)
	}
	if err := writable(path); err != nil {
		return fmt.Sprintf("# log: WARNING %s cannot be written by uid %d (%v): its lines go to syslog "+
			"instead, or are dropped and counted without syslog; deliveries are not affected",
			path, os.Geteuid(), err)
	}
	return fmt.Sprintf("# log: %s writable by uid %d", path, os.Geteuid())
}

// writable tells whether path can be appended to (or created), without
// creating it.
func writable(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return &os.PathError{Op: "create in", Path: dir, Err: err}
	}
	return nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// syslogAddr is where the fallback (and target syslog) connects; "" is
// the system's /dev/log. Tests point it at their own socket.
var syslogAddr = ""

func dialSyslog(tag string) (*syslog.Writer, error) {
	var w *syslog.Writer
	var err error
	if syslogAddr == "" {
		w, err = syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, tag)
	} else {
		w, err = syslog.Dial("unixgram", syslogAddr, syslog.LOG_MAIL|syslog.LOG_INFO, tag)
	}
	if err != nil {
		return nil, fmt.Errorf("syslog: %w", err)
	}
	return w, nil
}
