//go:build !maildeliver_nosql

package lookup

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// init registers PostgreSQL: pgx, with a small pool of its own (pgBackend).
func init() {
	openers["pgsql"] = openPostgres
	driverInt = pgInt
}

// pgInt converts what pgx returns for a numeric column (pgtype.Numeric).
func pgInt(v any) (int64, bool, error) {
	x, ok := v.(interface{ Int64Value() (pgtype.Int8, error) })
	if !ok {
		return 0, false, nil
	}
	i, err := x.Int64Value()
	if err != nil || !i.Valid {
		return 0, true, fmt.Errorf("%v is not an integer", v)
	}
	return i.Int64, true, nil
}

func openPostgres(connect string, size int, timeout time.Duration, red *redactor) (backend, error) {
	cs := connect
	if !strings.HasPrefix(cs, "postgres://") && !strings.HasPrefix(cs, "postgresql://") {
		kvs, err := parseKV(connect, true)
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			if kv.key == "password" {
				red.add(kv.value)
			}
		}
		cs = formatKV(dropDovecotKeys(kvs))
	}
	pc, err := pgx.ParseConfig(cs)
	if err != nil {
		// ParseConfigError quotes the whole (partly redacted) connect
		// string; keep only its reason.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			msg := pe.Error()
			if k := strings.LastIndex(msg, "`: "); k >= 0 {
				msg = msg[k+3:]
			}
			return nil, errors.New(msg)
		}
		return nil, err
	}
	red.add(pc.Password) // may come from PGPASSWORD or a passfile
	if !execModeGiven(connect) {
		pc.DefaultQueryExecMode = defaultPgExecMode
	}
	if pc.ConnectTimeout == 0 || pc.ConnectTimeout > timeout {
		pc.ConnectTimeout = timeout
	}
	return newPgBackend(pc, size), nil
}

// defaultPgExecMode is how lookups run unless the connect string names
// pgx's default_query_exec_mode: "exec", the extended protocol with the
// unnamed statement, Parse/Bind/Execute/Sync in one round trip, which is
// what libpq's PQexecParams (Dovecot's pgsql driver) sends. pgx's own
// default, "cache_statement", keeps named prepared statements on the
// server connection; behind PgBouncer in pool_mode=transaction (before
// PgBouncer 1.21's max_prepared_statements, e.g. Debian 12's 1.18) the
// next transaction may run on another server connection, where the name
// does not exist ("prepared statement ... does not exist") or belongs to
// another client ("already exists"): every such lookup fails (deferred
// mail). TestPgBouncerTransactionPool shows both against a real
// PgBouncer. The cost of exec is the server parsing the query on each
// lookup: microseconds for a userdb query.
var defaultPgExecMode = pgx.QueryExecModeExec

// execModeGiven reports whether connect sets default_query_exec_mode
// (key=value or a URL parameter): then pgx's parsing of it applies.
func execModeGiven(connect string) bool {
	if u, err := url.Parse(connect); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.Query().Has("default_query_exec_mode")
	}
	kvs, err := parseKV(connect, true)
	if err != nil {
		return false
	}
	for _, kv := range kvs {
		if kv.key == "default_query_exec_mode" {
			return true
		}
	}
	return false
}

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
