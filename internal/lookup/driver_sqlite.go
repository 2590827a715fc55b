//go:build !maildeliver_nosql

package lookup

import (
	"database/sql"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers database/sql driver "sqlite"
)

// init registers SQLite: modernc.org/sqlite (pure Go) under database/sql.
func init() { openers["sqlite"] = openSQLite }

func openSQLite(connect string, size int, timeout time.Duration, _ *redactor) (backend, error) {
	db, err := sql.Open("sqlite", sqliteDSN(connect, timeout))
	if err != nil {
		return nil, err
	}
	return sqlBackend{sized(db, size)}, nil
}

// sqliteDSN turns a path or a file: URI into a modernc.org/sqlite DSN,
// read-only (the database is never created by a lookup) and waiting
// rather than failing while a writer holds the lock.
func sqliteDSN(connect string, timeout time.Duration) string {
	dsn := connect
	if !strings.HasPrefix(dsn, "file:") {
		dsn = "file:" + (&url.URL{Path: connect}).EscapedPath()
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	if !strings.Contains(dsn, "mode=") {
		dsn += sep + "mode=ro"
		sep = "&"
	}
	if !strings.Contains(dsn, "busy_timeout") {
		dsn += sep + "_pragma=busy_timeout(" + strconv.FormatInt(timeout.Milliseconds(), 10) + ")"
	}
	return dsn
}
