package lookup

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// backend runs compiled queries on one driver. Both implementations
// connect lazily, on the first query.
type backend interface {
	// first returns the column names and the first row of the query's
	// result, or ErrNotFound when there is no row.
	first(ctx context.Context, text string, args []any) ([]string, []any, error)
	// check connects and has the server prepare each query, so that
	// -check finds a typo in a table name without a real address.
	check(ctx context.Context, texts []string) error
	close() error
}

// sqlBackend is database/sql (mysql, sqlite), which pools by itself.
type sqlBackend struct{ db *sql.DB }

func (b sqlBackend) first(ctx context.Context, text string, args []any) ([]string, []any, error) {
	rows, err := b.db.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
		return nil, nil, ErrNotFound
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, nil, err
	}
	return cols, vals, nil
}

func (b sqlBackend) check(ctx context.Context, texts []string) error {
	if err := b.db.PingContext(ctx); err != nil {
		return err
	}
	for _, t := range texts {
		st, err := b.db.PrepareContext(ctx, t)
		if err != nil {
			return err
		}
		st.Close()
	}
	return nil
}

func (b sqlBackend) close() error { return b.db.Close() }

// pgBackend is a small pool of pgx connections. pgx's own pool (pgxpool,
// and database/sql's stdlib adapter built on it) needs a module this
// project does not carry; a lookup agent needs little more than this.
type pgBackend struct {
	cfg   *pgx.ConnConfig
	slots chan struct{} // one token per open or opening connection

	mu     sync.Mutex
	idle   []idleConn
	closed bool
}

type idleConn struct {
	c     *pgx.Conn
	since time.Time
}

// maxIdle bounds how long an unused connection is kept: servers and
// firewalls drop idle sessions, and the first lookup after that would fail.
const maxIdle = 5 * time.Minute

var errClosed = errors.New("userdb closed")

func newPgBackend(cfg *pgx.ConnConfig, size int) *pgBackend {
	return &pgBackend{cfg: cfg, slots: make(chan struct{}, size)}
}

// pooled is a connection taken from the pool. A reused one came from the
// idle list and may have gone stale since.
type pooled struct {
	*pgx.Conn
	reused bool
}

func (b *pgBackend) acquire(ctx context.Context) (pooled, error) {
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return pooled{}, ctx.Err()
	}
	var stale []*pgx.Conn
	b.mu.Lock()
	closed := b.closed
	var got *pgx.Conn
	for !closed && got == nil && len(b.idle) > 0 {
		ic := b.idle[len(b.idle)-1]
		b.idle = b.idle[:len(b.idle)-1]
		if ic.c.IsClosed() || time.Since(ic.since) > maxIdle {
			stale = append(stale, ic.c)
			continue
		}
		got = ic.c
	}
	b.mu.Unlock()
	for _, c := range stale {
		closeConn(c)
	}
	switch {
	case closed:
		<-b.slots
		return pooled{}, errClosed
	case got != nil:
		return pooled{got, true}, nil
	}
	c, err := pgx.ConnectConfig(ctx, b.cfg)
	if err != nil {
		<-b.slots
		return pooled{}, err
	}
	return pooled{c, false}, nil
}

// release returns p to the idle list after a use that ended with err, or
// closes it when that may have broken it. It reports whether p was kept.
func (b *pgBackend) release(p pooled, err error) bool {
	defer func() { <-b.slots }()
	keep := healthyAfter(p.Conn, err)
	b.mu.Lock()
	if keep && !b.closed {
		b.idle = append(b.idle, idleConn{p.Conn, time.Now()})
		b.mu.Unlock()
		return true
	}
	b.mu.Unlock()
	closeConn(p.Conn)
	return keep
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.Close(ctx)
}

// healthyAfter reports whether c can be reused after a query that returned
// err: an ordinary SQL error leaves it usable; a FATAL one (the server
// terminating the session) or any client-side failure does not.
func healthyAfter(c *pgx.Conn, err error) bool {
	if err == nil || errors.Is(err, ErrNotFound) {
		return !c.IsClosed()
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Severity != "FATAL" && pe.Severity != "PANIC" && !c.IsClosed()
}

func (b *pgBackend) first(ctx context.Context, text string, args []any) ([]string, []any, error) {
	for attempt := 0; ; attempt++ {
		p, err := b.acquire(ctx)
		if err != nil {
			return nil, nil, err
		}
		cols, vals, err := pgFirst(ctx, p.Conn, text, args)
		kept := b.release(p, err)
		// A connection the server dropped while idle fails at the
		// first use; a read-only SELECT is safe to try once more, on a
		// new connection.
		if !kept && err != nil && p.reused && attempt == 0 && ctx.Err() == nil {
			b.dropIdle() // after a server restart, all of them are dead
			continue
		}
		return cols, vals, err
	}
}

func pgFirst(ctx context.Context, c *pgx.Conn, text string, args []any) ([]string, []any, error) {
	rows, err := c.Query(ctx, text, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
		return nil, nil, ErrNotFound
	}
	vals, err := rows.Values()
	if err != nil {
		return nil, nil, err
	}
	fds := rows.FieldDescriptions()
	cols := make([]string, len(fds))
	for i, fd := range fds {
		cols[i] = fd.Name
	}
	return cols, vals, nil
}

func (b *pgBackend) check(ctx context.Context, texts []string) error {
	p, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	err = p.Ping(ctx)
	for _, t := range texts {
		if err != nil {
			break
		}
		_, err = p.PgConn().Prepare(ctx, "", t, nil)
	}
	b.release(p, err)
	return err
}

func (b *pgBackend) close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.dropIdle()
	return nil
}

func (b *pgBackend) dropIdle() {
	b.mu.Lock()
	idle := b.idle
	b.idle = nil
	b.mu.Unlock()
	for _, ic := range idle {
		closeConn(ic.c)
	}
}
