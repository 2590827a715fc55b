package lookup

import (
	"cmp"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"maildeliver/internal/config"
	"maildeliver/internal/trace"
)

// maxAliasHops bounds alias_query resolution (Postfix's
// virtual_alias_recursion_limit has a default of 1000; a userdb chain
// longer than a few hops is a configuration error).
const maxAliasHops = 8

// defaultTimeout applies when cfg.Timeout is not set (config.Validate
// rejects that, but Open must not build a lookup without a deadline).
const defaultTimeout = 5 * time.Second

// Userdb answers who a recipient is. It is the one userdb interface of
// the project: *DB (SQL), userdbsock's Fallback (lmtpd's socket first),
// lmtpd's current userdb (a reload switches it), and the tests' fakes.
// Lookup returns ErrNotFound (wrapped) for an unknown address; Close
// releases what the userdb holds (a pool, a socket's SQL fallback).
type Userdb interface {
	Lookup(ctx context.Context, address string) (*User, error)
	Close() error
}

// DB is an SQL userdb: a pool and the rewritten queries. It is safe for
// concurrent use.
type DB struct {
	pool    *pool
	user    *compiled
	alias   *compiled // nil without alias_query
	delim   string
	timeout time.Duration
	cache   *cache // nil when both TTLs are 0
	obs     Observer
}

// Observer is told about every Lookup (lmtpd's metrics): how long it
// took, whether the cache answered, and its error (nil, ErrNotFound or a
// failure). It must be cheap: it runs on every lookup.
type Observer interface {
	ObserveLookup(d time.Duration, cached bool, err error)
}

// SetObserver sets o as the DB's Observer. Call it before the first
// Lookup; it is not synchronised with lookups.
func (db *DB) SetObserver(o Observer) { db.obs = o }

// Open validates the queries (variable syntax, driver) and prepares a
// pool. It does not connect, so a database that is down makes each
// Lookup fail (temporarily) instead of Open. delimiter is
// [mail] recipient_delimiter: a set of characters, any of which starts
// the detail; "" disables detail handling.
func Open(cfg config.Userdb, delimiter string) (*DB, error) {
	d, ok := dialects[cfg.Driver]
	if !ok {
		return nil, fmt.Errorf("lookup: unknown driver %q: want pgsql, mysql or sqlite", cfg.Driver)
	}
	user, err := compile(cfg.UserQuery, d)
	if err != nil {
		return nil, fmt.Errorf("lookup: user_query: %w", err)
	}
	db := &DB{user: user, delim: delimiter, timeout: cfg.Timeout.D()}
	if strings.TrimSpace(cfg.AliasQuery) != "" {
		if db.alias, err = compile(cfg.AliasQuery, d); err != nil {
			return nil, fmt.Errorf("lookup: alias_query: %w", err)
		}
	}
	if db.timeout <= 0 {
		db.timeout = defaultTimeout
	}
	db.cache = newCache(cfg.CacheTTL.D(), cfg.NegativeCacheTTL.D())
	if db.pool, err = openPool(cfg.Driver, cfg.Connect, max(cfg.MaxConnections, 1), db.timeout); err != nil {
		return nil, fmt.Errorf("lookup: %w", err)
	}
	return db, nil
}

// Close releases the pool's connections.
func (db *DB) Close() error { return db.pool.close() }

// ErrQuery marks a Ping failure where the database answered and refused a
// query (a wrong table or column, a syntax error): a mistake in the
// configuration, which -check must not call an unreachable database.
var ErrQuery = errors.New("query refused by the database")

// Ping connects and has the server prepare user_query and alias_query, so
// that -check reports a wrong table or column without a real address. A
// failure to connect or log in is reported as such ("connect: ..."); a
// query the server refuses once connected wraps ErrQuery and names the
// query ("user_query: relation ... does not exist").
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	if err := db.pool.check(ctx, nil); err != nil {
		return db.fail("connect", err)
	}
	for _, q := range []struct {
		name string
		c    *compiled
	}{{"user_query", db.user}, {"alias_query", db.alias}} {
		if q.c == nil {
			continue
		}
		err := db.pool.check(ctx, []string{q.c.text})
		if err == nil {
			continue
		}
		e := db.fail(q.name, err).(*dbError)
		// Connected a moment ago: unless the clock ran out or the
		// connection broke, the server refused this query's text.
		var ne net.Error
		if ctx.Err() == nil && !errors.Is(err, driver.ErrBadConn) && !errors.As(err, &ne) {
			e.kind = ErrQuery
		}
		return e
	}
	return nil
}

// Lookup finds the user for address: as given, then without the detail,
// then through alias_query (see the package doc). The error is ErrNotFound
// only when the database answered that there is no such user; any other
// error is temporary.
func (db *DB) Lookup(ctx context.Context, address string) (*User, error) {
	// Such an address cannot be stored in a text column; asking would
	// only earn an encoding error, i.e. a needless deferral.
	if !utf8.ValidString(address) || strings.IndexByte(address, 0) >= 0 {
		return nil, ErrNotFound
	}
	start := time.Now()
	if e, hit := db.cache.get(address); hit {
		trace.Step(ctx, "userdb", "<%s> answered from the cache ([userdb] cache_ttl)", address)
		u, err := e.answer()
		if db.obs != nil {
			db.obs.ObserveLookup(time.Since(start), true, err)
		}
		return u, err
	}
	lctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	u, err := db.resolve(lctx, address)
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound) && lctx.Err() != nil:
		// Never call "unknown" what a cut-short answer said.
		err = db.fail("user_query", lctx.Err())
	case lctx.Err() != nil && ctx.Err() == nil:
		// Drivers word an interrupted query in many ways; say it plainly.
		err = &timeoutError{timeout: db.timeout, err: err}
	}
	db.cache.put(address, u, err)
	if db.obs != nil {
		db.obs.ObserveLookup(time.Since(start), false, err)
	}
	return u, err
}

// timeoutError is a lookup cut short by [userdb] timeout.
type timeoutError struct {
	timeout time.Duration
	err     error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%v (no answer within userdb timeout %v)", e.err, e.timeout)
}

func (e *timeoutError) Unwrap() []error { return []error{e.err, context.DeadlineExceeded} }

// resolve follows the lookup order with a visited set. An address aliased
// to itself ends the chain as not found (Postfix's idiom for "this address
// is final"; user_query has just said there is no such user). A longer
// cycle, like a chain over maxAliasHops, is a mistake in the alias table:
// a temporary error that names the chain, so mail is deferred, not
// bounced, while the administrator fixes it.
func (db *DB) resolve(ctx context.Context, address string) (*User, error) {
	seen := map[string]bool{}
	chain := []string{address}
	cur, carried := address, ""
	for hop := 0; ; hop++ {
		if seen[cur] {
			return nil, fmt.Errorf("lookup: alias_query: alias cycle %s: fix the alias table (mail is deferred meanwhile)",
				strings.Join(chain, " -> "))
		}
		seen[cur] = true
		base, detail := splitDetail(cur, db.delim)
		u, err := db.queryUser(ctx, cur)
		if err == nil {
			u.Address, u.Detail = cmp.Or(u.Address, cur), carried
			return u, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if base != "" {
			u, err = db.queryUser(ctx, base)
			if err == nil {
				u.Address, u.Detail = cmp.Or(u.Address, base), detail
				return u, nil
			}
			if !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
		if db.alias == nil {
			return nil, ErrNotFound
		}
		if hop == maxAliasHops {
			return nil, fmt.Errorf("lookup: alias_query: more than %d hops from <%s>", maxAliasHops, address)
		}
		from := cur
		target, err := db.queryAlias(ctx, cur)
		if errors.Is(err, ErrNotFound) && base != "" {
			// Like Postfix, an alias of user@domain also takes
			// user+detail@domain, and the detail goes along.
			from = base
			if target, err = db.queryAlias(ctx, base); err == nil && carried == "" {
				carried = detail
			}
		}
		if err != nil {
			return nil, err
		}
		if target == from {
			trace.Step(ctx, "alias", "<%s> is aliased to itself: final, and no user", from)
			return nil, ErrNotFound // aliased to itself: final, and no user
		}
		trace.Step(ctx, "alias", "<%s> -> <%s>", from, target)
		cur = target
		chain = append(chain, cur)
	}
}

// splitDetail returns address without its detail, and the detail: the
// local part is cut at the first byte that is in delim. base is "" when
// there is no detail to strip (or stripping would leave an empty local
// part).
func splitDetail(address, delim string) (base, detail string) {
	if delim == "" {
		return "", ""
	}
	local, domain := splitAddress(address)
	i := strings.IndexAny(local, delim)
	if i <= 0 {
		return "", ""
	}
	base = local[:i]
	if strings.Contains(address, "@") {
		base += "@" + domain
	}
	return base, local[i+1:]
}

func (db *DB) queryUser(ctx context.Context, address string) (*User, error) {
	args := db.user.args(address)
	cols, vals, err := db.pool.first(ctx, db.user.text, args)
	traceQuery(ctx, "user_query", db.user, args, cols, vals, err)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, db.fail("user_query", err)
	}
	u, err := userFromRow(cols, vals)
	if err != nil {
		return nil, fmt.Errorf("lookup: user_query for <%s>: %w", address, err)
	}
	return u, nil
}

// queryAlias returns the first column of the first row: the next address.
// An empty or NULL target ends the chain.
func (db *DB) queryAlias(ctx context.Context, address string) (string, error) {
	args := db.alias.args(address)
	cols, vals, err := db.pool.first(ctx, db.alias.text, args)
	traceQuery(ctx, "alias_query", db.alias, args, cols, vals, err)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return "", err
		}
		return "", db.fail("alias_query", err)
	}
	if len(vals) == 0 || vals[0] == nil {
		return "", ErrNotFound
	}
	t, err := asString(vals[0])
	if err != nil {
		return "", fmt.Errorf("lookup: alias_query for <%s>: %w", address, err)
	}
	if t = strings.TrimSpace(t); t == "" {
		return "", ErrNotFound
	}
	return t, nil
}

// userFromRow reads the known columns by name, case-insensitively, with or
// without Dovecot's "userdb_" prefix (as a prefetch password_query names
// them). The first of duplicate columns wins; other columns are ignored.
// Address is set only from a "user" column; the caller fills it in.
func userFromRow(cols []string, vals []any) (*User, error) {
	u := &User{UID: NoID, GID: NoID, QuotaBytes: -1, QuotaMessages: -1}
	seen := map[string]bool{}
	for i, col := range cols {
		name := strings.TrimPrefix(strings.ToLower(col), "userdb_")
		shown := name
		if alias, ok := quota24[name]; ok {
			name = alias
		}
		if seen[name] || vals[i] == nil {
			continue
		}
		seen[name] = true
		v := vals[i]
		var err error
		switch name {
		case "user":
			// Dovecot's userdb may rename the user: the canonical
			// address, e.g. as stored, when the query matched '%Lu'.
			var a string
			if a, err = asString(v); err == nil {
				u.Address = strings.TrimSpace(a)
			}
		case "home":
			u.Home, err = asString(v)
		case "mail":
			u.Mail, err = asString(v)
		case "quota_rule":
			u.QuotaRule, err = asString(v)
		case "sieve":
			if u.Sieve, err = asString(v); err == nil {
				u.Sieve = strings.TrimSpace(u.Sieve)
			}
		case "host", "port", "proxy", "proxy_maybe":
			var x string
			if b, ok := v.(bool); ok { // a boolean proxy / proxy_maybe column
				x = strconv.FormatBool(b)
			} else if x, err = asString(v); err != nil {
				break
			}
			x = strings.TrimSpace(x)
			switch name {
			case "host":
				u.Host = x
			case "port":
				u.Port = x
			case "proxy":
				u.Proxy = x
			default:
				u.ProxyMaybe = x
			}
		case "quota_storage_grace":
			if u.QuotaGrace, err = asString(v); err == nil {
				u.QuotaGrace = strings.TrimSpace(u.QuotaGrace)
				_, err = config.ParseGrace(u.QuotaGrace)
			}
		case "uid", "gid":
			var id int64
			if id, err = asInt(v); err == nil && (id < 0 || id > math.MaxUint32-1) {
				err = fmt.Errorf("%d is not a valid id", id)
			}
			if name == "uid" {
				u.UID = id
			} else {
				u.GID = id
			}
		case "quota_bytes":
			u.QuotaBytes, err = asQuota(v, true)
		case "quota_messages":
			u.QuotaMessages, err = asQuota(v, false)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", shown, err)
		}
	}
	return u, nil
}

// quota24 maps Dovecot 2.4's quota fields to the 2.3 columns with the same
// meaning (2.4 sizes are bytes unless a unit is given, as quota_bytes).
var quota24 = map[string]string{"quota_storage_size": "quota_bytes", "quota_message_count": "quota_messages"}

// asString accepts what drivers return for text: string or []byte (MySQL),
// and numbers.
func asString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case int64, int32, int16, int8, int, uint64, uint32, uint16, uint8, uint:
		return fmt.Sprint(x), nil
	}
	return "", fmt.Errorf("unsupported type %T", v)
}

// driverInt converts a driver's own numeric type (pgx's pgtype.Numeric);
// ok is false for a value it does not know. Set by driver_pgsql.go.
var driverInt func(v any) (i int64, ok bool, err error)

// asInt accepts integers of any width, integral floats, numeric types that
// can say their int64 value (PostgreSQL numeric), and decimal text
// (MySQL, SQLite text affinity).
func asInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d out of range", x)
		}
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("%v is not an integer", x)
		}
		return int64(x), nil
	case float32:
		return asInt(float64(x))
	case string:
		return parseInt(x)
	case []byte:
		return parseInt(string(x))
	}
	if driverInt != nil {
		if i, ok, err := driverInt(v); ok {
			return i, err
		}
	}
	return 0, fmt.Errorf("unsupported type %T", v)
}

func parseInt(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n, nil
	}
	// "1000.00" from a DECIMAL column.
	if f, err := strconv.ParseFloat(t, 64); err == nil && f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
		return int64(f), nil
	}
	return 0, fmt.Errorf("%q is not a number", s)
}

// asQuota reads a quota column; a negative value means "no value" (-1) so
// that [quota] default applies. quota_bytes text may carry a unit ("1G").
func asQuota(v any, size bool) (int64, error) {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return -1, nil
	}
	if s, ok := v.(string); ok && strings.EqualFold(strings.TrimSpace(s), "unlimited") {
		return 0, nil // Dovecot 2.4's word for no limit
	}
	n, err := asInt(v)
	if s, ok := v.(string); ok && err != nil && size {
		n, err = config.ParseSize(s)
	}
	if err != nil {
		return 0, err
	}
	return max(n, -1), nil
}

// fail wraps a driver error for the caller: temporary, and with the
// connect string and password cut out of its text (pgx names the host and
// user; a parse error might quote anything).
func (db *DB) fail(op string, err error) error {
	msg := db.pool.redact.clean(err.Error())
	// pgx lists one line per connection attempt; a log line is one line.
	msg = strings.Join(strings.FieldsFunc(msg, func(r rune) bool { return r == '\n' || r == '\t' }), "; ")
	return &dbError{op: op, msg: msg, err: err}
}

// dbError is a failure to get an answer from the database. Unwrap lets
// callers test for context.DeadlineExceeded; only Error is meant to be
// shown (logged).
type dbError struct {
	op, msg string
	err     error
	kind    error // ErrQuery, or nil
}

func (e *dbError) Error() string { return "lookup: " + e.op + ": " + e.msg }
func (e *dbError) Unwrap() []error {
	if e.kind != nil {
		return []error{e.err, e.kind}
	}
	return []error{e.err}
}
