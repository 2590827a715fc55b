package lookup

import (
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "modernc.org/sqlite" // registers driver "sqlite"
)

// pool is a connection pool that has not connected yet, with what must
// never appear in an error text.
type pool struct {
	backend
	dialect dialect
	redact  *redactor
}

// dialects maps [userdb] driver to the SQL flavour of its queries.
var dialects = map[string]dialect{"pgsql": dialectPostgres, "mysql": dialectMySQL, "sqlite": dialectSQLite}

// openPool parses connect for driver and prepares a pool of at most size
// connections. It does not connect: a database that is down must not keep
// deliver from starting.
func openPool(driver, connect string, size int, timeout time.Duration) (*pool, error) {
	p := &pool{redact: newRedactor(connect)}
	var err error
	switch driver {
	case "pgsql":
		p.backend, err = openPostgres(connect, size, timeout, p.redact)
	case "mysql":
		p.backend, err = openMySQL(connect, size, timeout, p.redact)
	case "sqlite":
		var db *sql.DB
		if db, err = sql.Open("sqlite", sqliteDSN(connect, timeout)); err == nil {
			p.backend = sqlBackend{sized(db, size)}
		}
	default:
		return nil, fmt.Errorf("unknown driver %q: want pgsql, mysql or sqlite", driver)
	}
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
	if pc.ConnectTimeout == 0 || pc.ConnectTimeout > timeout {
		pc.ConnectTimeout = timeout
	}
	return newPgBackend(pc, size), nil
}

func openMySQL(connect string, size int, timeout time.Duration, red *redactor) (backend, error) {
	var mc *mysql.Config
	if kvForm().MatchString(connect) {
		kvs, err := parseKV(connect, false)
		if err != nil {
			return nil, err
		}
		if mc, err = mysqlFromKV(dropDovecotKeys(kvs)); err != nil {
			return nil, err
		}
	} else {
		var err error
		if mc, err = mysql.ParseDSN(connect); err != nil {
			return nil, err
		}
	}
	red.add(mc.Passwd)
	if mc.Timeout == 0 || mc.Timeout > timeout {
		mc.Timeout = timeout
	}
	// The driver's default logger writes to stderr, which Postfix's pipe
	// would put into a bounce.
	mc.Logger = mysqlLogger{red}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, err
	}
	return sqlBackend{sized(sql.OpenDB(conn), size)}, nil
}

// kvForm tells Dovecot's "host=... dbname=..." from a go-sql-driver DSN
// ("user:pass@tcp(host)/db"), whose first token never has a bare key=.
var kvForm = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*[A-Za-z_]+\s*=`) })

// mysqlSockets are where libmysqlclient, which Dovecot uses, looks when
// host is "localhost": it then talks over the socket, not TCP.
var mysqlSockets = []string{"/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock", "/tmp/mysql.sock"}

func mysqlFromKV(kvs []kv) (*mysql.Config, error) {
	mc := mysql.NewConfig()
	host, port := "localhost", "3306"
	var tlsOpt struct {
		ca, cert, key string
		noVerify, set bool
	}
	seen := map[string]bool{}
	for _, kv := range kvs {
		if seen[kv.key] {
			return nil, fmt.Errorf("key %q given twice (several hosts are not supported)", kv.key)
		}
		seen[kv.key] = true
		switch kv.key {
		case "host":
			host = kv.value
		case "port":
			if n, err := strconv.Atoi(kv.value); err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("bad port")
			}
			port = kv.value
		case "dbname":
			mc.DBName = kv.value
		case "user":
			mc.User = kv.value
		case "password":
			mc.Passwd = kv.value
		case "connect_timeout", "read_timeout", "write_timeout":
			n, err := strconv.Atoi(kv.value)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s: want seconds", kv.key)
			}
			d := time.Duration(n) * time.Second
			switch kv.key {
			case "connect_timeout":
				mc.Timeout = d
			case "read_timeout":
				mc.ReadTimeout = d
			default:
				mc.WriteTimeout = d
			}
		case "ssl_ca":
			tlsOpt.ca, tlsOpt.set = kv.value, true
		case "ssl_cert":
			tlsOpt.cert, tlsOpt.set = kv.value, true
		case "ssl_key":
			tlsOpt.key, tlsOpt.set = kv.value, true
		case "ssl_verify_server_cert":
			tlsOpt.noVerify = kv.value == "no" || kv.value == "0"
		default:
			return nil, fmt.Errorf("unsupported key %q (known: host port dbname user password connect_timeout read_timeout write_timeout ssl_ca ssl_cert ssl_key ssl_verify_server_cert)", kv.key)
		}
	}
	switch {
	case strings.HasPrefix(host, "/"):
		mc.Net, mc.Addr = "unix", host
	case host == "localhost" && localSocket() != "":
		mc.Net, mc.Addr = "unix", localSocket()
	default:
		if host == "localhost" { // MySQL usually listens on 127.0.0.1 only, not ::1
			host = "127.0.0.1"
		}
		mc.Net, mc.Addr = "tcp", net.JoinHostPort(host, port)
	}
	if tlsOpt.set {
		tc := &tls.Config{InsecureSkipVerify: tlsOpt.noVerify}
		if mc.Net == "tcp" {
			tc.ServerName = host
		}
		if tlsOpt.ca != "" {
			pem, err := os.ReadFile(tlsOpt.ca)
			if err != nil {
				return nil, fmt.Errorf("ssl_ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ssl_ca %s: no PEM certificate", tlsOpt.ca)
			}
		}
		if tlsOpt.cert != "" || tlsOpt.key != "" {
			c, err := tls.LoadX509KeyPair(tlsOpt.cert, tlsOpt.key)
			if err != nil {
				return nil, fmt.Errorf("ssl_cert/ssl_key: %w", err)
			}
			tc.Certificates = []tls.Certificate{c}
		}
		mc.TLS = tc
	}
	return mc, nil
}

func localSocket() string {
	for _, p := range mysqlSockets {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return p
		}
	}
	return ""
}

// mysqlLogger sends the driver's rare complaints to slog, redacted.
type mysqlLogger struct{ red *redactor }

func (l mysqlLogger) Print(v ...any) {
	slog.Warn("userdb mysql driver", "msg", l.red.clean(fmt.Sprint(v...)))
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
