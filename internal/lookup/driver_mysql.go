//go:build !maildeliver_nosql

package lookup

import (
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"maildeliver/internal/logging"
)

// init registers MySQL and MariaDB: go-sql-driver/mysql under database/sql.
// The driver's own logger (used where no connection's config is at hand)
// writes to stderr; ours goes to the configured log.
func init() {
	openers["mysql"] = openMySQL
	mysql.SetLogger(mysqlLogger{&redactor{}})
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
	// would put into a bounce before deliver's DSN line.
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
	var tlsOpt mysqlTLS
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
		tc, err := tlsOpt.config(mc.Net, host)
		if err != nil {
			return nil, err
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

// mysqlLogger sends the driver's rare complaints ("packets.go:58
// unexpected EOF"), redacted, to the configured log (logging.Library):
// slog's default would print them on stderr (issue 17 item 5).
type mysqlLogger struct{ red *redactor }

func (l mysqlLogger) Print(v ...any) {
	logging.Library().Warn("userdb mysql driver", slog.String("detail", l.red.clean(fmt.Sprint(v...))))
}

// mysqlTLS is the ssl_* keys of a MySQL connect string.
type mysqlTLS struct {
	ca, cert, key string
	noVerify, set bool
}

// config is the TLS configuration the keys ask for; the server name is
// host for a TCP connection.
func (o mysqlTLS) config(network, host string) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: o.noVerify}
	if network == "tcp" {
		tc.ServerName = host
	}
	if o.ca != "" {
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return nil, fmt.Errorf("ssl_ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl_ca %s: no PEM certificate", o.ca)
		}
	}
	if o.cert != "" || o.key != "" {
		c, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return nil, fmt.Errorf("ssl_cert/ssl_key: %w", err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return tc, nil
}
