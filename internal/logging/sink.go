package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// dropped counts lines no target took, over the process (tests read it).
var dropped atomic.Int64

// Dropped returns how many log lines this process could write nowhere.
func Dropped() int64 { return dropped.Load() }

// redialEvery spaces attempts to reach syslog after it failed.
const redialEvery = time.Minute

// sink is the io.Writer under the handler: each record is exactly one
// Write (one syslog message, one O_APPEND write), serialised across
// goroutines. A record its target refuses goes to syslog, and when that
// fails too it is dropped and counted. Its Write never fails: slog would
// only discard the error, and a caller must never see one.
type sink struct {
	mu              sync.Mutex
	primary         io.Writer // nil: the target could not be opened
	primaryIsSyslog bool
	tag             string
	fallback        io.WriteCloser // syslog, once dialed
	nextDial        time.Time      // when to try syslog again after a failure
	closers         []io.Closer
	lost            int64 // dropped since the last line that got through
}

// newSink opens o's target. openErr is a target that exists in the
// configuration but cannot be opened now (its lines go to syslog); err
// is a malformed target.
func newSink(o Options) (s *sink, openErr, err error) {
	s = &sink{tag: o.Tag}
	switch {
	case o.Target == "syslog":
		w, err := dialSyslog(o.Tag)
		if err != nil {
			return s, err, nil // dropped and counted until syslog comes back
		}
		s.primary, s.primaryIsSyslog, s.fallback = w, true, w
		s.closers = append(s.closers, w)
	case o.Target == "stderr":
		s.primary = os.Stderr
	case strings.HasPrefix(o.Target, "file:"):
		f, err := os.OpenFile(strings.TrimPrefix(o.Target, "file:"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return s, fmt.Errorf("log file: %w", err), nil
		}
		s.primary = f
		s.closers = append(s.closers, f)
	case o.Target == "auto", o.Target == "":
		s.auto(o)
	default:
		return nil, nil, fmt.Errorf("log target %q: want auto, syslog, stderr or file:PATH", o.Target)
	}
	return s, nil, nil
}

// auto resolves target "auto" (see the package doc).
func (s *sink) auto(o Options) {
	if _, err := os.Stat("/dev/log"); err == nil || syslogAddr != "" {
		if w, err := dialSyslog(o.Tag); err == nil {
			s.primary, s.primaryIsSyslog, s.fallback = w, true, w
			s.closers = append(s.closers, w)
			return
		}
	}
	if !o.StderrIsOutput || isTerminal(os.Stderr) {
		s.primary = os.Stderr
		return
	}
	s.primary = io.Discard
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.primary != nil && s.write(s.primary, p) {
		return len(p), nil
	}
	if !s.primaryIsSyslog && s.fallback == nil && !time.Now().Before(s.nextDial) {
		if w, err := dialSyslog(s.tag); err == nil {
			s.fallback = w
			s.closers = append(s.closers, w)
		} else {
			s.nextDial = time.Now().Add(redialEvery)
		}
	}
	if s.fallback != nil && s.fallback != s.primary && s.write(s.fallback, p) {
		return len(p), nil
	}
	s.lost++
	dropped.Add(1)
	return len(p), nil
}

// write writes p to w, preceded by a note of the lines lost before it.
func (s *sink) write(w io.Writer, p []byte) bool {
	if s.lost > 0 {
		note := fmt.Sprintf("level=WARN msg=\"log lines dropped: no log target could take them\" dropped=%d\n", s.lost)
		if _, err := w.Write([]byte(note)); err != nil {
			return false
		}
		s.lost = 0
	}
	_, err := w.Write(p)
	return err == nil
}

// Close closes the log file and syslog connections.
func (s *sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, c := range s.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.closers = nil
	return first
}
