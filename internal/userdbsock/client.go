package userdbsock

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"maildeliver/internal/lookup"
)

// Client asks a userdb socket. It dials once per lookup (deliver makes
// one), so it holds no connection and needs no Close.
type Client struct {
	Path string // the socket
	// Timeout bounds one lookup, from dialing to the answer; 0 =
	// DefaultTimeout. A context deadline that comes sooner wins.
	Timeout time.Duration
}

// Lookup asks the socket about address. The error is lookup.ErrNotFound
// for a "notfound" answer, wraps ErrUnavailable when the socket cannot be
// dialed or answers "busy", and is otherwise a temporary failure.
func (c *Client) Lookup(ctx context.Context, address string) (*lookup.User, error) {
	// As lookup.DB does: such an address cannot be stored in a text
	// column, and JSON could not carry it unchanged.
	if !utf8.ValidString(address) {
		return nil, lookup.ErrNotFound
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		if unavailable(err) {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return nil, fmt.Errorf("userdbsock: %w", err)
	}
	defer nc.Close()
	dl, _ := ctx.Deadline()
	nc.SetDeadline(dl)
	// A cancelled ctx interrupts the exchange.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(longAgo) })
	defer stop()

	req, err := json.Marshal(request{Address: address})
	if err != nil {
		return nil, fmt.Errorf("userdbsock: %w", err)
	}
	_, werr := nc.Write(append(req, '\n'))
	// Answers are a few hundred bytes: a small buffer that grows, up to
	// MaxLine, rather than MaxLine allocated for every deliver process.
	line, err := bufio.NewReaderSize(io.LimitReader(nc, MaxLine), 4<<10).ReadBytes('\n')
	if werr != nil {
		// A server that is busy may have answered and closed before the
		// request arrived: its answer is still there to read.
		if err == nil {
			if u, derr := decode(line); errors.Is(derr, ErrUnavailable) {
				return u, derr
			}
		}
		return nil, c.failed("sending the request", werr)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, c.failed("reading the answer", err)
	}
	return decode(line)
}

func (c *Client) failed(op string, err error) error {
	return fmt.Errorf("userdbsock: %s: %s: %w", c.Path, op, err)
}

// unavailable tells a socket nobody can be asked on (nothing was sent)
// from other failures: no such file, nobody listening (a stale socket),
// no permission, or a full listen queue.
func unavailable(err error) bool {
	for _, e := range []error{syscall.ENOENT, syscall.ECONNREFUSED, syscall.EACCES, syscall.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// decode reads one response line: exactly one of user, notfound, error.
func decode(line []byte) (*lookup.User, error) {
	var r response
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, fmt.Errorf("userdbsock: malformed answer: %w", err)
	}
	n := 0
	for _, set := range []bool{r.User != nil, r.NotFound, r.Error != ""} {
		if set {
			n++
		}
	}
	switch {
	case r.Busy:
		return nil, fmt.Errorf("%w: the server is busy (all its connections in use)", ErrUnavailable)
	case n != 1:
		return nil, fmt.Errorf("userdbsock: malformed answer: want exactly one of user, notfound, error")
	case r.User != nil:
		return r.User.user(), nil
	case r.NotFound:
		return nil, lookup.ErrNotFound
	}
	return nil, fmt.Errorf("userdbsock: server answered: %.200q", r.Error)
}

// Fallback is deliver's userdb with [userdb] socket set: it asks the
// socket, and only when the socket is unavailable (ErrUnavailable: lmtpd
// is not running, or this user may not connect) the SQL userdb, which it
// opens then and uses for the rest of the process. Any other failure of
// the socket is returned as is: temporary, never retried over SQL.
type Fallback struct {
	client  Client
	openSQL func() (lookup.Userdb, error)
	log     *slog.Logger

	mu    sync.Mutex
	sql   lookup.Userdb // once opened
	noSQL error         // openSQL's failure
}

// NewFallback returns a Fallback asking the socket at path within
// timeout, and openSQL's userdb when that socket is unavailable. log may
// be nil.
func NewFallback(path string, timeout time.Duration, openSQL func() (lookup.Userdb, error), log *slog.Logger) *Fallback {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Fallback{client: Client{Path: path, Timeout: timeout}, openSQL: openSQL, log: log}
}

// Lookup asks the socket, or the SQL userdb (see Fallback).
func (f *Fallback) Lookup(ctx context.Context, address string) (*lookup.User, error) {
	db, err := f.current()
	if err != nil {
		return nil, err
	}
	if db != nil {
		return db.Lookup(ctx, address)
	}
	u, err := f.client.Lookup(ctx, address)
	if !errors.Is(err, ErrUnavailable) {
		return u, err
	}
	f.log.Warn("userdb socket unavailable, asking the SQL userdb", slog.String("socket", f.client.Path),
		slog.String("error", err.Error()))
	if db, err = f.fallBack(); err != nil {
		return nil, err
	}
	return db.Lookup(ctx, address)
}

// current returns the SQL userdb once the socket was found unavailable.
func (f *Fallback) current() (lookup.Userdb, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sql, f.noSQL
}

func (f *Fallback) fallBack() (lookup.Userdb, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sql == nil && f.noSQL == nil {
		if f.sql, f.noSQL = f.openSQL(); f.noSQL != nil {
			f.sql = nil
			f.noSQL = fmt.Errorf("userdb socket unavailable, and the SQL userdb: %w", f.noSQL)
		}
	}
	return f.sql, f.noSQL
}

// Close closes the SQL userdb if it was opened.
func (f *Fallback) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sql == nil {
		return nil
	}
	return f.sql.Close()
}
