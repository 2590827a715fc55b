//go:build !maildeliver_nosql

package lookup

import (
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"maildeliver/internal/config"
)

func TestUserFromRow(t *testing.T) {
	absent := User{UID: NoID, GID: NoID, QuotaBytes: -1, QuotaMessages: -1}
	for _, tc := range []struct {
		name string
		cols []string
		vals []any
		want User
	}{
		{"no known column", []string{"email"}, []any{[]byte("a@b")}, absent},
		{"all NULL", []string{"home", "uid", "gid", "mail", "quota_rule", "quota_bytes", "quota_messages"},
			[]any{nil, nil, nil, nil, nil, nil, nil}, absent},
		{"pgx types", []string{"home", "uid", "gid"}, []any{"/home/a", int32(1001), int64(1002)},
			User{Home: "/home/a", UID: 1001, GID: 1002, QuotaBytes: -1, QuotaMessages: -1}},
		{"mysql bytes", []string{"HOME", "Uid", "GID", "Mail"}, []any{[]byte("/h"), []byte("5000"), []byte(" 5000 "), []byte("maildir:/m")},
			User{Home: "/h", Mail: "maildir:/m", UID: 5000, GID: 5000, QuotaBytes: -1, QuotaMessages: -1}},
		{"unsigned and float", []string{"uid", "gid"}, []any{uint64(7), float64(8)},
			User{UID: 7, GID: 8, QuotaBytes: -1, QuotaMessages: -1}},
		{"numeric", []string{"uid", "quota_bytes"}, []any{pgtype.Numeric{Int: big.NewInt(1001), Valid: true}, "1000.00"},
			User{UID: 1001, GID: NoID, QuotaBytes: 1000, QuotaMessages: -1}},
		{"quota", []string{"quota_rule", "quota_bytes", "quota_messages"}, []any{"*:storage=1G", "2G", int64(100)},
			User{UID: NoID, GID: NoID, QuotaRule: "*:storage=1G", QuotaBytes: 2 << 30, QuotaMessages: 100}},
		{"negative quota is absent", []string{"quota_bytes", "quota_messages"}, []any{int64(-5), "-1"}, absent},
		{"empty quota text is absent", []string{"quota_bytes"}, []any{[]byte("")}, absent},
		{"userdb_ prefix", []string{"userdb_home", "userdb_uid"}, []any{"/p", int64(3000)},
			User{Home: "/p", UID: 3000, GID: NoID, QuotaBytes: -1, QuotaMessages: -1}},
		{"first duplicate wins", []string{"home", "home"}, []any{"/first", "/second"},
			User{Home: "/first", UID: NoID, GID: NoID, QuotaBytes: -1, QuotaMessages: -1}},
		{"NULL duplicate skipped", []string{"home", "home"}, []any{nil, "/second"},
			User{Home: "/second", UID: NoID, GID: NoID, QuotaBytes: -1, QuotaMessages: -1}},
		{"user column", []string{"User", "home"}, []any{[]byte(" bob@ex.org "), "/h"},
			User{Address: "bob@ex.org", Home: "/h", UID: NoID, GID: NoID, QuotaBytes: -1, QuotaMessages: -1}},
		{"other columns ignored", []string{"password", "created"}, []any{"x", time.Now()}, absent},
		{"dovecot 2.4 quota", []string{"quota_storage_size", "quota_message_count", "quota_storage_grace"},
			[]any{[]byte("1G"), int64(5000), " 10M "},
			User{UID: NoID, GID: NoID, QuotaBytes: 1 << 30, QuotaMessages: 5000, QuotaGrace: "10M"}},
		{"dovecot 2.4 unlimited", []string{"quota_storage_size", "quota_message_count"}, []any{"unlimited", "Unlimited"},
			User{UID: NoID, GID: NoID, QuotaBytes: 0, QuotaMessages: 0}},
		{"2.3 column first wins over 2.4", []string{"quota_bytes", "quota_storage_size"}, []any{int64(100), "1G"},
			User{UID: NoID, GID: NoID, QuotaBytes: 100, QuotaMessages: -1}},
		{"sieve column", []string{"userdb_sieve", "home"}, []any{[]byte(" /srv/sieve/bob.sieve "), "/h"},
			User{Home: "/h", Sieve: "/srv/sieve/bob.sieve", UID: NoID, GID: NoID, QuotaBytes: -1, QuotaMessages: -1}},
		{"userdb_ prefixed 2.4", []string{"userdb_quota_storage_size"}, []any{int64(2048)},
			User{UID: NoID, GID: NoID, QuotaBytes: 2048, QuotaMessages: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := userFromRow(tc.cols, tc.vals)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*u, tc.want) {
				t.Errorf("got %+v\nwant %+v", *u, tc.want)
			}
		})
	}
}

func TestUserFromRowErrors(t *testing.T) {
	for _, tc := range []struct {
		col string
		val any
	}{
		{"uid", "abc"},
		{"uid", []byte("12x")},
		{"gid", "1.5"},
		{"uid", int64(-1)},
		{"uid", int64(1 << 32)},
		{"uid", uint64(1 << 63)},
		{"uid", true},
		{"uid", time.Now()},
		{"home", time.Now()},
		{"home", true},
		{"quota_messages", "1G"},
		{"quota_bytes", "lots"},
		{"quota_storage_size", "1 parsec"},
		{"quota_message_count", "1G"},
		{"quota_storage_grace", "lots"},
		{"uid", pgtype.Numeric{Int: big.NewInt(15), Exp: -1, Valid: true}},
	} {
		if u, err := userFromRow([]string{tc.col}, []any{tc.val}); err == nil {
			t.Errorf("%s = %#v: got %+v, want an error", tc.col, tc.val, u)
		}
	}
}

func TestParseKV(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bare bool
		want []kv
	}{
		{"host=/run/postgresql dbname=mails user=mailreader password=secret", true,
			[]kv{{"host", "/run/postgresql"}, {"dbname", "mails"}, {"user", "mailreader"}, {"password", "secret"}}},
		{"  host = localhost\tpassword='a b\\'c\\\\' ", true, []kv{{"host", "localhost"}, {"password", `a b'c\`}}},
		{`password=a\ b`, true, []kv{{"password", "a b"}}},
		{`password=a\b`, false, []kv{{"password", `a\b`}}},
		{"password=", false, []kv{{"password", ""}}},
		{"", false, nil},
	} {
		got, err := parseKV(tc.in, tc.bare)
		if err != nil {
			t.Errorf("parseKV(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseKV(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if tc.bare {
			again, err := parseKV(formatKV(got), true)
			if err != nil || !reflect.DeepEqual(again, got) && len(got) > 0 {
				t.Errorf("formatKV round trip of %q: %q, %v", tc.in, again, err)
			}
		}
	}
	for _, bad := range []string{"host", "=x", "password='unterminated secretvalue"} {
		_, err := parseKV(bad, true)
		if err == nil {
			t.Errorf("parseKV(%q): no error", bad)
		} else if strings.Contains(err.Error(), "secretvalue") {
			t.Errorf("parseKV(%q): error shows the value: %v", bad, err)
		}
	}
}

func TestMySQLFromKV(t *testing.T) {
	kvs := func(s string) []kv {
		k, err := parseKV(s, false)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	mc, err := mysqlFromKV(kvs("host=127.0.0.1 dbname=mail user=mail_admin password=password-for-mail_admin port=3307 connect_timeout=3"))
	if err != nil {
		t.Fatal(err)
	}
	if mc.Net != "tcp" || mc.Addr != "127.0.0.1:3307" || mc.DBName != "mail" || mc.User != "mail_admin" ||
		mc.Passwd != "password-for-mail_admin" || mc.Timeout != 3*time.Second {
		t.Errorf("tcp: %+v", mc)
	}
	if mc, err = mysqlFromKV(kvs("host=/var/run/mysqld/mysqld.sock user=u")); err != nil || mc.Net != "unix" || mc.Addr != "/var/run/mysqld/mysqld.sock" {
		t.Errorf("unix: %+v %v", mc, err)
	}
	if mc, err = mysqlFromKV(kvs("host=::1 user=u")); err != nil || mc.Addr != "[::1]:3306" {
		t.Errorf("ipv6: %+v %v", mc, err)
	}
	for _, bad := range []string{"host=a host=b", "port=x", "port=0", "bogus=1 password=Secret99", "connect_timeout=soon"} {
		if _, err := mysqlFromKV(kvs(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		} else if strings.Contains(err.Error(), "Secret99") {
			t.Errorf("%q: error shows the password: %v", bad, err)
		}
	}
}

func TestSQLiteDSN(t *testing.T) {
	for in, want := range map[string]string{
		"/var/lib/maildeliver/users.db":     "file:/var/lib/maildeliver/users.db?mode=ro&_pragma=busy_timeout(5000)",
		"/tmp/a b?c#d.db":                   "file:/tmp/a%20b%3Fc%23d.db?mode=ro&_pragma=busy_timeout(5000)",
		"file:/x.db":                        "file:/x.db?mode=ro&_pragma=busy_timeout(5000)",
		"file:/x.db?mode=rw":                "file:/x.db?mode=rw&_pragma=busy_timeout(5000)",
		"file:x.db?_pragma=busy_timeout(1)": "file:x.db?_pragma=busy_timeout(1)&mode=ro",
	} {
		if got := sqliteDSN(in, 5*time.Second); got != want {
			t.Errorf("sqliteDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactor(t *testing.T) {
	connect := "host=db user=u password=hunter2!"
	r := newRedactor(connect)
	r.add("hunter2!")
	for in, want := range map[string]string{
		"cannot parse " + connect:         "cannot parse ********",
		"auth failed for hunter2!":        "auth failed for ********",
		"dsn password = 'other pw' there": "dsn password = ******** there",
		"nothing secret":                  "nothing secret",
	} {
		if got := r.clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	const pw = "Sup3rSecretPw"
	base := config.Userdb{Driver: "pgsql", Connect: "host=127.0.0.1", UserQuery: "SELECT 1 FROM t WHERE a='%u'",
		Timeout: config.Duration(time.Second), MaxConnections: 1}
	for _, tc := range []struct {
		name string
		edit func(*config.Userdb)
		want string
	}{
		{"driver", func(c *config.Userdb) { c.Driver = "oracle" }, "unknown driver"},
		{"user_query", func(c *config.Userdb) { c.UserQuery = "SELECT 1 WHERE a='%x'" }, "user_query"},
		{"alias_query", func(c *config.Userdb) { c.AliasQuery = "SELECT b FROM a WHERE a=$1" }, "alias_query"},
		{"pg connect", func(c *config.Userdb) { c.Connect = "host=x password=" + pw + " port=notaport" }, "pgsql connect string"},
		{"pg connect quote", func(c *config.Userdb) { c.Connect = "host=x password='" + pw }, "pgsql connect string"},
		{"pg uri", func(c *config.Userdb) { c.Connect = "postgres://u:" + pw + "@h:notaport/db" }, "pgsql connect string"},
		{"mysql key", func(c *config.Userdb) { c.Driver, c.Connect = "mysql", "host=x password="+pw+" colour=blue" }, "unsupported key"},
		{"mysql dsn", func(c *config.Userdb) { c.Driver, c.Connect = "mysql", "u:"+pw+"@tcp(h:1)/db?badparam=%zz" }, "mysql connect string"},
	} {
		cfg := base
		tc.edit(&cfg)
		db, err := Open(cfg, "+")
		if err == nil {
			db.Close()
			t.Errorf("%s: Open succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q in it", tc.name, err, tc.want)
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), cfg.Connect) {
			t.Errorf("%s: error shows a secret: %v", tc.name, err)
		}
		if errors.Is(err, ErrNotFound) {
			t.Errorf("%s: ErrNotFound from Open", tc.name)
		}
	}
}
