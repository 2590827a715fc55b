package lookup

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/testdb"
)

// TestCheckSaysWhatIsWrong runs -check's userdb test against the real
// PostgreSQL and MariaDB: a refused login shows the server's words (MySQL's
// "Access denied for user 'root'@'…'" was mangled by the secret masking,
// which took "lookup:" for a DSN user), a query the server refuses is a
// configuration error naming the query, not "userdb unreachable", and the
// password never shows.
func TestCheckSaysWhatIsWrong(t *testing.T) {
	pg := testdb.Postgres(t)
	pg.Exec(t, "CREATE TABLE users (userid VARCHAR(128), home VARCHAR(128))")
	my := testdb.MySQL(t)
	my.Exec(t, "CREATE TABLE users (email VARCHAR(128), home VARCHAR(128))")
	const secret = "Sekr1t@pass:word"
	for _, tc := range []struct {
		name, driver, connect, userQuery, aliasQuery string
		exit                                         int
		want                                         []string // in the one output line
	}{
		{"mysql login refused, DSN form", "mysql", "root:" + secret + "@tcp(127.0.0.1:3306)/" + my.Name,
			"SELECT home FROM users WHERE email = '%u'", "", 75,
			[]string{"4.3.0 userdb unreachable (cannot connect or log in): ", "Access denied for user 'root'@'"}},
		{"mysql login refused, key=value form", "mysql", "host=127.0.0.1 port=3306 dbname=" + my.Name + " user=root password='" + secret + "'",
			"SELECT home FROM users WHERE email = '%u'", "", 75,
			[]string{"4.3.0 userdb unreachable", "Access denied for user 'root'@'"}},
		{"mysql unknown table", "mysql", my.Connect, "SELECT home FROM userz WHERE email = '%u'", "", 75,
			[]string{"4.3.5 configuration error: userdb answered, but refused a query: lookup: user_query: ", "userz' doesn't exist"}},
		{"mysql alias_query unknown column", "mysql", my.Connect, "SELECT home FROM users WHERE email = '%u'",
			"SELECT target FROM users WHERE email = '%u'", 75,
			[]string{"4.3.5 ", "alias_query: ", "target"}},
		{"pgsql unknown role", "pgsql", "host=127.0.0.1 dbname=" + pg.Name + " user=nosuchrole_md password='" + secret + "'",
			"SELECT home FROM users WHERE userid = '%u'", "", 75,
			[]string{"4.3.0 userdb unreachable", `role "nosuchrole_md" does not exist`}},
		{"pgsql unknown relation", "pgsql", pg.Connect, "SELECT home FROM userz WHERE userid = '%u'", "", 75,
			[]string{"4.3.5 configuration error: userdb answered, but refused a query: lookup: user_query: ", `relation "userz" does not exist`}},
		{"pgsql nothing listens", "pgsql", "host=127.0.0.1 port=1 dbname=x user=x password='" + secret + "'",
			"SELECT home FROM users WHERE userid = '%u'", "", 75, []string{"4.3.0 userdb unreachable"}},
		{"pgsql ok", "pgsql", pg.Connect, "SELECT home FROM users WHERE userid = '%u'", "", 0, nil},
		{"mysql ok", "mysql", my.Connect, "SELECT home FROM users WHERE email = '%u'", "", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Defaults()
			cfg.Userdb.Driver, cfg.Userdb.Connect = tc.driver, tc.connect
			cfg.Userdb.UserQuery, cfg.Userdb.AliasQuery = tc.userQuery, tc.aliasQuery
			cfg.Userdb.Timeout = config.Duration(5 * time.Second)
			var stdout, stderr bytes.Buffer
			if got := Check(cfg, &stdout, &stderr); got != tc.exit {
				t.Errorf("exit %d, want %d (%q)", got, tc.exit, stderr.String())
			}
			out := stderr.String()
			if tc.exit == 0 {
				if out != "" || !strings.Contains(stdout.String(), "# userdb: ok") {
					t.Errorf("stdout %q stderr %q", stdout.String(), out)
				}
				return
			}
			if strings.Count(out, "\n") != 1 {
				t.Errorf("want one line, got %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
			for _, leak := range []string{"Sekr1t", "pass:word"} {
				if strings.Contains(out+stdout.String(), leak) {
					t.Errorf("secret in output: %q", out)
				}
			}
		})
	}
}
