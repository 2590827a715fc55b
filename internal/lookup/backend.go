package lookup

import (
	"context"
	"database/sql"
	"errors"
	"time"
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

// maxIdle bounds how long an unused connection is kept: servers and
// firewalls drop idle sessions, and the first lookup after that would fail.
const maxIdle = 5 * time.Minute

var errClosed = errors.New("userdb closed")
