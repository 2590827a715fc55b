package lookup

import (
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// pool is a connection pool that has not connected yet, with what must
// never appear in an error text.
type pool struct {
	backend
	dialect dialect
	redact  *redactor
}

// opener parses a connect string and prepares a backend of at most size
// connections, without connecting.
type opener func(connect string, size int, timeout time.Duration, red *redactor) (backend, error)

// openers holds the drivers built in, registered by driver_*.go. A build
// with -tags maildeliver_nosql has none: a pipe-mode deliver that only asks
// lmtpd's userdb socket, without the start-up cost of linking three SQL
// drivers into a process that runs once per message.
var openers = map[string]opener{}

// Builtin reports whether driver is built into this binary: every driver
// unless it was built with -tags maildeliver_nosql.
func Builtin(driver string) bool { return openers[driver] != nil }

// dialects maps [userdb] driver to the SQL flavour of its queries.
var dialects = map[string]dialect{"pgsql": dialectPostgres, "mysql": dialectMySQL, "sqlite": dialectSQLite}

// openPool parses connect for driver and prepares a pool of at most size
// connections. It does not connect: a database that is down must not keep
// deliver from starting.
func openPool(driver, connect string, size int, timeout time.Duration) (*pool, error) {
	p := &pool{redact: newRedactor(connect)}
	if _, known := dialects[driver]; !known {
		return nil, fmt.Errorf("unknown driver %q: want pgsql, mysql or sqlite", driver)
	}
	open := openers[driver]
	if open == nil {
		return nil, fmt.Errorf("driver %q is not built into this binary (built with -tags maildeliver_nosql: set [userdb] socket to ask lmtpd)", driver)
	}
	var err error
	p.backend, err = open(connect, size, timeout, p.redact)
	if err != nil {
		return nil, fmt.Errorf("%s connect string: %s", driver, p.redact.clean(err.Error()))
	}
	p.dialect = dialects[driver]
	return p, nil
}

func sized(db *sql.DB, size int) *sql.DB {
	db.SetMaxOpenConns(size)
	db.SetMaxIdleConns(size)
	db.SetConnMaxIdleTime(maxIdle)
	return db
}

// kv is one key=value of a Dovecot/libpq connect string.
type kv struct{ key, value string }

// parseKV reads "key=value key='quoted value' ...". A value starting with
// ' runs to the next unescaped ' (\' and \\ inside), as libpq and Dovecot
// 2.3 accept. libpq also honours backslashes in unquoted values
// (bareEscapes); Dovecot's MySQL driver takes them literally. Messages
// never quote values: one of them is the password.
func parseKV(s string, bareEscapes bool) ([]kv, error) {
	var kvs []kv
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return kvs, nil
		}
		k := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		key := s[k:i]
		skip()
		if i >= len(s) || s[i] != '=' || key == "" {
			return nil, fmt.Errorf("want key=value, got %q without =", key)
		}
		i++
		skip()
		var v strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				v.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("value of %q: unterminated quote", key)
			}
			i++
		} else {
			for ; i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r'; i++ {
				if bareEscapes && s[i] == '\\' && i+1 < len(s) {
					i++
				}
				v.WriteByte(s[i])
			}
		}
		kvs = append(kvs, kv{key, v.String()})
	}
}

// formatKV writes kvs back in libpq syntax, every value quoted.
func formatKV(kvs []kv) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		v := strings.ReplaceAll(kv.value, `\`, `\\`)
		parts[i] = kv.key + "='" + strings.ReplaceAll(v, `'`, `\'`) + "'"
	}
	return strings.Join(parts, " ")
}

// dropDovecotKeys removes keys Dovecot's SQL pool reads itself; libpq and
// MySQL would reject them. The pool size is [userdb] max_connections.
func dropDovecotKeys(kvs []kv) []kv {
	return slices.DeleteFunc(kvs, func(x kv) bool { return x.key == "maxconns" })
}

// redactor keeps secrets out of error texts: the connect string as a
// whole and every password found in it.
type redactor struct{ secrets []string }

func newRedactor(connect string) *redactor {
	r := &redactor{}
	r.add(connect)
	return r
}

func (r *redactor) add(s string) {
	if s == "" || slices.Contains(r.secrets, s) {
		return
	}
	r.secrets = append(r.secrets, s)
	// Longest first, so the connect string goes before the password in it.
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
}

var passwordKV = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|"[^"]*"|\S+)`)
})

func (r *redactor) clean(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "********")
	}
	return passwordKV().ReplaceAllString(s, "${1}********")
}
