package dovecotconf_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/testdb"
)

// The four setups of the end-to-end suite (e2e/conf/<setup>), each with
// the Dovecot configuration the suite writes for its own Dovecot. Read
// through [userdb] dovecot_config, they must give the driver and query the
// setups' maildeliver.toml carried before dovecot_config existed (pasted
// here, as they were), and every lookup against the real database must
// give the same user as that [userdb].
var setups = []struct {
	name     string
	open     func(t testing.TB) *testdb.DB
	toml     string // the [userdb] the setup's maildeliver.toml had (connect from testdb)
	query    string // the query dovecot_config must yield
	want     map[string]string
	sqlAlone bool // the setup's dovecot-sql.conf.ext has a user_query of its own
}{
	{
		name: "pg", open: testdb.Postgres, sqlAlone: true,
		toml: `driver = "pgsql"
user_query = "SELECT '@MAILROOT@/home/'||home AS home, uid, gid FROM users WHERE userid = '%u'"
alias_query = "SELECT userid FROM virtual WHERE address = '%u'"`,
		query: `SELECT '@MAILROOT@/home/'||home AS home, uid, gid FROM users WHERE userid = '%u'`,
		want:  map[string]string{"user@domain.org": "user@domain.org", "user+lists@foo.org": "user@foo.org", "foo@foo.org": "user@foo.org", "josé@domain.org": "josé@domain.org", "nobody@domain.org": ""},
	},
	{
		name: "sqlite", open: func(t testing.TB) *testdb.DB { return testdb.SQLite(t, t.TempDir()) }, sqlAlone: true,
		toml: `driver = "sqlite"
user_query = "SELECT '@MAILROOT@/home/'||home AS home, uid, gid FROM users WHERE userid = '%u'"
alias_query = "SELECT userid FROM virtual WHERE address = '%u'"`,
		query: `SELECT '@MAILROOT@/home/'||home AS home, uid, gid FROM users WHERE userid = '%u'`,
		want:  map[string]string{"user2@domain.org": "user2@domain.org", "misrouted@foo.org": "misrouted@foo.org", "foo+x@foo.org": "user@foo.org", "nobody@domain.org": ""},
	},
	{
		name: "my002", open: testdb.MySQL,
		toml: `driver = "mysql"
user_query = "SELECT email FROM users WHERE email = '%u'"
alias_query = "SELECT destination FROM forwardings WHERE source = '%u'"`,
		query: `SELECT email as user, password FROM users WHERE email='%u';`,
		want:  map[string]string{"sales@centos.bz": "sales@centos.bz", "info@shuame.org": "info@shuame.org", "webmaster@shuame.org": "info@shuame.org", "sales+x@centos.bz": "sales@centos.bz", "nobody@centos.bz": ""},
	},
	{
		name: "my004", open: testdb.MySQL,
		toml: `driver = "mysql"
user_query = "SELECT name FROM emails WHERE name = '%u'"`,
		query: `SELECT name AS user, password FROM emails WHERE name = '%u'`,
		want:  map[string]string{"info@hoge.com": "info@hoge.com", "info@fuga.com": "info@fuga.com", "admin+spam@hoge.com": "admin@hoge.com", "admin@fuga.com": "", "nobody@hoge.com": ""},
	},
}

func TestE2ESetupsThroughDovecotConfig(t *testing.T) {
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			db := s.open(t)
			conf := filepath.Join("..", "..", "e2e", "conf", s.name)
			load(t, db, filepath.Join(conf, "schema.sql"), filepath.Join(conf, "data.sql"))
			dir := t.TempDir()
			vars := map[string]string{"DB": db.Name, "SQLITE_DB": db.Connect, "MAILROOT": "/srv/mail",
				"DC_SQL": filepath.Join(dir, "dovecot-sql.conf.ext")}
			render(t, filepath.Join(conf, "dovecot-sql.conf.ext"), vars["DC_SQL"], vars)
			render(t, filepath.Join(conf, "dovecot.conf"), filepath.Join(dir, "dovecot.conf"), vars)

			old := parseTOML(t, fmt.Sprintf("[userdb]\nconnect = %q\n%s\n", db.Connect, s.toml), vars)
			alias := ""
			if old.Userdb.AliasQuery != "" {
				alias = fmt.Sprintf("alias_query = %q\n", old.Userdb.AliasQuery)
			}
			files := []string{"dovecot.conf"}
			if s.sqlAlone {
				files = append(files, "dovecot-sql.conf.ext")
			}
			for _, f := range files {
				cfg := parseTOML(t, fmt.Sprintf("[userdb]\ndovecot_config = %q\n%s", filepath.Join(dir, f), alias), vars)
				if cfg.Userdb.Driver != old.Userdb.Driver || cfg.Userdb.UserQuery != expand(s.query, vars) {
					t.Errorf("%s: driver %q query %q; want %q, %q", f, cfg.Userdb.Driver, cfg.Userdb.UserQuery, old.Userdb.Driver, expand(s.query, vars))
				}
				same(t, f, old, cfg, s.want)
			}
			if !s.sqlAlone {
				_, err := config.Parse([]byte(fmt.Sprintf("[userdb]\ndovecot_config = %q\n", vars["DC_SQL"])), "t.toml")
				if err == nil || !strings.Contains(err.Error(), "no user_query") {
					t.Errorf("the sql file alone: %v, want no user_query", err)
				}
			}
		})
	}
}

// same looks every address up through both configurations: the same
// answer, and the user want says.
func same(t *testing.T, file string, old, cfg *config.Config, want map[string]string) {
	t.Helper()
	a, err := lookup.Open(old.Userdb, "+")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := lookup.Open(cfg.Userdb, "+")
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	defer b.Close()
	ctx := context.Background()
	for addr, user := range want {
		ua, errA := a.Lookup(ctx, addr)
		ub, errB := b.Lookup(ctx, addr)
		if user == "" {
			if !errors.Is(errA, lookup.ErrNotFound) || !errors.Is(errB, lookup.ErrNotFound) {
				t.Errorf("%s: %s: %v / %v, want not found", file, addr, errA, errB)
			}
			continue
		}
		if errA != nil || errB != nil {
			t.Errorf("%s: %s: %v / %v", file, addr, errA, errB)
			continue
		}
		if *ua != *ub || ub.Address != user {
			t.Errorf("%s: %s: toml %+v, dovecot_config %+v; want user %s", file, addr, *ua, *ub, user)
		}
	}
}

var placeholder = regexp.MustCompile(`@([A-Z_]+)@`)

func expand(s string, vars map[string]string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := vars[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// render fills in an e2e template; every @NAME@ must be known.
func render(t *testing.T, src, dst string, vars map[string]string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	out := expand(string(data), vars)
	if m := placeholder.FindString(out); m != "" {
		t.Fatalf("%s: %s has no test value", src, m)
	}
	if err := os.WriteFile(dst, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

func parseTOML(t *testing.T, text string, vars map[string]string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(expand(text, vars)), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// load runs the setup's schema and data files.
func load(t *testing.T, db *testdb.DB, files ...string) {
	t.Helper()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		db.Exec(t, string(data))
	}
}

// A Dovecot 2.4 dovecot.conf for each database, written as the 2.4
// documentation shows (sql_driver, pgsql/mysql named list filters,
// sqlite_path, userdb sql { query }), looked up against the real servers.
func TestV24Lookup(t *testing.T) {
	pgQuery := `SELECT '/srv/mail/home/'||home AS home, uid, gid \
    FROM users WHERE userid = '%{user}'`
	for _, tc := range []struct {
		setup string
		open  func(t testing.TB) *testdb.DB
		conf  func(db *testdb.DB) string
		addr  string
		want  lookup.User
	}{
		{"pg", testdb.Postgres, func(db *testdb.DB) string {
			return fmt.Sprintf("sql_driver = pgsql\npgsql %s {\n  parameters {\n    dbname = %s\n    user = postgres\n  }\n}\nuserdb sql {\n  query = %s\n}\n", testdb.PGSocketDir, db.Name, pgQuery)
		}, "user+x@foo.org", lookup.User{Address: "user@foo.org", Detail: "x", Home: "/srv/mail/home/foo.org/mails/user", UID: 1002, GID: 1002, QuotaBytes: -1, QuotaMessages: -1}},
		{"sqlite", func(t testing.TB) *testdb.DB { return testdb.SQLite(t, t.TempDir()) }, func(db *testdb.DB) string {
			return fmt.Sprintf("sql_driver = sqlite\nsqlite_path = %s\nuserdb sql {\n  query = %s\n}\n", db.Connect, pgQuery)
		}, "user2@domain.org", lookup.User{Address: "user2@domain.org", Home: "/srv/mail/home/domain.org/mails/user2", UID: 1001, GID: 1001, QuotaBytes: -1, QuotaMessages: -1}},
		{"my002", testdb.MySQL, func(db *testdb.DB) string {
			return fmt.Sprintf("sql_driver = mysql\nmysql 127.0.0.1 {\n  port = 3306\n  dbname = %s\n  user = root\n  read_timeout = 10s\n}\n"+
				"passdb sql {\n  query = SELECT email AS user, password FROM users WHERE email = '%%{user}'\n}\nuserdb static {\n}\n", db.Name)
		}, "sales@centos.bz", lookup.User{Address: "sales@centos.bz", UID: lookup.NoID, GID: lookup.NoID, QuotaBytes: -1, QuotaMessages: -1}},
	} {
		t.Run(tc.setup, func(t *testing.T) {
			db := tc.open(t)
			conf := filepath.Join("..", "..", "e2e", "conf", tc.setup)
			load(t, db, filepath.Join(conf, "schema.sql"), filepath.Join(conf, "data.sql"))
			path := filepath.Join(t.TempDir(), "dovecot.conf")
			os.WriteFile(path, []byte("dovecot_config_version = 2.4.1\n"+tc.conf(db)), 0o644)
			cfg := parseTOML(t, fmt.Sprintf("[userdb]\ndovecot_config = %q\n", path), nil)
			ldb, err := lookup.Open(cfg.Userdb, "+")
			if err != nil {
				t.Fatalf("%v (connect %q)", err, cfg.Userdb.Connect)
			}
			defer ldb.Close()
			u, err := ldb.Lookup(context.Background(), tc.addr)
			if err != nil || *u != tc.want {
				t.Errorf("Lookup(%s) = %+v, %v; want %+v (connect %q)", tc.addr, u, err, tc.want, cfg.Userdb.Connect)
			}
			if _, err := ldb.Lookup(context.Background(), "nobody@domain.org"); !errors.Is(err, lookup.ErrNotFound) {
				t.Errorf("nobody: %v", err)
			}
		})
	}
}
