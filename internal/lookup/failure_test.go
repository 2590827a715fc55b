//go:build !maildeliver_nosql

package lookup

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"maildeliver/internal/config"
)

const secretPw = "S3cr3tPw_do_not_show"

// assertTemporary checks that err is a plain (temporary) error that shows
// no secret.
func assertTemporary(t *testing.T, what string, err error, connect string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error", what)
	case errors.Is(err, ErrNotFound):
		t.Errorf("%s: ErrNotFound, want a temporary error", what)
	case strings.Contains(err.Error(), secretPw):
		t.Errorf("%s: error shows the password: %v", what, err)
	case strings.Contains(err.Error(), connect):
		t.Errorf("%s: error shows the connect string: %v", what, err)
	case strings.ContainsAny(err.Error(), "\n\r"):
		t.Errorf("%s: error is not one line: %q", what, err)
	}
}

// TestDatabaseDown: Open succeeds, each lookup fails temporarily and
// promptly, and no error names the password. No server is needed.
func TestDatabaseDown(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.db")
	silent := silentServer(t)
	for _, tc := range []struct{ driver, connect string }{
		{"pgsql", "host=127.0.0.1 port=" + silent + " user=mailreader password=" + secretPw + " dbname=mails"},
		{"mysql", "host=127.0.0.1 port=" + silent + " dbname=mail user=mail_admin password=" + secretPw},
		{"pgsql", "host=127.0.0.1 port=1 user=mailreader password=" + secretPw + " dbname=mails"},
		{"pgsql", "host=/nonexistent user=mailreader password='" + secretPw + "' dbname=mails"},
		{"pgsql", "postgres://mailreader:" + secretPw + "@127.0.0.1:1/mails"},
		{"pgsql", "host=10.255.255.1 user=mailreader password=" + secretPw + " dbname=mails"}, // unroutable: hangs until the timeout
		{"mysql", "host=127.0.0.1 port=1 dbname=mail user=mail_admin password=" + secretPw},
		{"mysql", "host=/nonexistent.sock dbname=mail user=mail_admin password=" + secretPw},
		{"mysql", "mail_admin:" + secretPw + "@tcp(127.0.0.1:1)/mail"},
		{"mysql", "mail_admin:" + secretPw + "@tcp(10.255.255.1:3306)/mail"},
		{"sqlite", missing},
		{"sqlite", "file:" + missing + "?mode=ro"},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			const timeout = 700 * time.Millisecond
			db, err := Open(config.Userdb{Driver: tc.driver, Connect: tc.connect, UserQuery: userQuery, AliasQuery: aliasQuery,
				Timeout: config.Duration(timeout), MaxConnections: 1}, "+")
			if err != nil {
				t.Fatalf("Open must not need the database: %v", err)
			}
			defer db.Close()
			start := time.Now()
			_, err = db.Lookup(context.Background(), "bob@ex.org")
			assertTemporary(t, "Lookup", err, tc.connect)
			if d := time.Since(start); d > timeout+2*time.Second {
				t.Errorf("Lookup took %v with a timeout of %v", d, timeout)
			}
			assertTemporary(t, "Ping", db.Ping(context.Background()), tc.connect)
			// An address no database can hold is unknown without asking.
			for _, a := range []string{"nul\x00@ex.org", "bad\xff@ex.org"} {
				if _, err := db.Lookup(context.Background(), a); !errors.Is(err, ErrNotFound) {
					t.Errorf("%q: %v, want ErrNotFound", a, err)
				}
			}
		})
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a lookup created the SQLite file: %v", err)
	}
}

// TestSlowDatabase: a query still running at the timeout is abandoned,
// the error says so, and the same pool (of one connection) serves the next
// lookup.
func TestSlowDatabase(t *testing.T) {
	// Slow only for slow@ex.org.
	slow := map[string]string{
		"pgsql":  `SELECT '%u' AS home FROM pg_sleep(CASE WHEN '%n' = 'slow' THEN 30 ELSE 0 END)`,
		"mysql":  `SELECT SLEEP(IF('%n' = 'slow', 30, 0)) AS x, '%u' AS home`,
		"sqlite": `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE '%n' = 'slow') SELECT '%u' AS home FROM c WHERE x < 0 OR '%n' <> 'slow' LIMIT 1`,
	}
	allDBs(t, func(t *testing.T, tdb testDB) {
		tdb.exec(t, schema...)
		// Long enough that connecting (the first lookup, and the one after
		// a timeout killed the connection) fits on a loaded machine: the
		// test is about the slow query, not about connect speed.
		const timeout = 2 * time.Second
		cfg := testCfg(tdb, slow[tdb.driver], "")
		cfg.Timeout, cfg.MaxConnections = config.Duration(timeout), 1
		db := openCfg(t, cfg)
		ctx := context.Background()
		if u, err := db.Lookup(ctx, "fast@ex.org"); err != nil || u.Home != "fast@ex.org" {
			t.Fatalf("fast: %+v, %v", u, err)
		}
		for range 2 {
			start := time.Now()
			_, err := db.Lookup(ctx, "slow@ex.org")
			assertTemporary(t, "slow Lookup", err, tdb.connect)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timeout") {
				t.Errorf("slow Lookup: %v; want it to say timeout", err)
			}
			if d := time.Since(start); d > timeout+3*time.Second {
				t.Errorf("slow Lookup took %v with a timeout of %v", d, timeout)
			}
			if u, err := db.Lookup(ctx, "fast@ex.org"); err != nil || u.Home != "fast@ex.org" {
				t.Errorf("after a timeout: %+v, %v", u, err)
			}
		}
		// A caller's own cancellation is an error too, never "not found".
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := db.Lookup(cctx, "nobody@ex.org"); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("cancelled: %v", err)
		}
	})
}

// TestStaleConnections: the server dropping pooled connections between
// lookups costs no failed delivery.
func TestStaleConnections(t *testing.T) {
	t.Run("pgsql", func(t *testing.T) {
		tdb := pgTestDB(t)
		tdb.exec(t, schema...)
		db := open(t, tdb, userQuery, "")
		ctx := context.Background()
		// Two idle connections in the pool, both to be killed.
		pb := db.pool.backend.(*pgBackend)
		c1, err1 := pb.acquire(ctx)
		c2, err2 := pb.acquire(ctx)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		pb.release(c1, nil)
		pb.release(c2, nil)
		if _, err := db.Lookup(ctx, "bob@ex.org"); err != nil {
			t.Fatal(err)
		}
		c, err := pgx.Connect(ctx, pgAdmin)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var n int
		err = c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1`, tdb.name).Scan(&n)
		if err != nil || n != 2 {
			t.Fatalf("terminated %d: %v", n, err)
		}
		if _, err := db.Lookup(ctx, "bob@ex.org"); err != nil {
			t.Errorf("after the server dropped the connection: %v", err)
		}
	})
	t.Run("mysql", func(t *testing.T) {
		tdb := mysqlTestDB(t)
		tdb.exec(t, schema...)
		db := open(t, tdb, userQuery, "")
		ctx := context.Background()
		if _, err := db.Lookup(ctx, "bob@ex.org"); err != nil {
			t.Fatal(err)
		}
		admin, err := sql.Open("mysql", mysqlAdmin)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		rows, err := admin.QueryContext(ctx, `SELECT id FROM information_schema.processlist WHERE db = ?`, tdb.name)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) == 0 {
			t.Fatal("no pooled connection to kill")
		}
		for _, id := range ids {
			if _, err := admin.ExecContext(ctx, "KILL ?", id); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Lookup(ctx, "bob@ex.org"); err != nil {
			t.Errorf("after the server dropped the connection: %v", err)
		}
	})
}

// TestWrongCredentials: the server's refusal is temporary and the password
// stays out of the message.
func TestWrongCredentials(t *testing.T) {
	t.Run("pgsql", func(t *testing.T) {
		tdb := pgTestDB(t)
		tdb.connect = "host=127.0.0.1 port=5432 user=nosuchrole_md password=" + secretPw + " dbname=" + tdb.name
		db := open(t, tdb, userQuery, "")
		_, err := db.Lookup(context.Background(), "bob@ex.org")
		assertTemporary(t, "Lookup", err, tdb.connect)
	})
	t.Run("mysql", func(t *testing.T) {
		tdb := mysqlTestDB(t)
		tdb.exec(t, schema...)
		user := tdb.name // unique; dropped at the end
		mysqlExec(t, mysqlAdmin, "CREATE USER '"+user+"'@'%' IDENTIFIED BY '"+secretPw+"'",
			"GRANT SELECT ON "+tdb.name+".* TO '"+user+"'@'%'")
		t.Cleanup(func() { mysqlExec(t, mysqlAdmin, "DROP USER '"+user+"'@'%'") })
		ok := tdb
		ok.connect = "host=127.0.0.1 port=3306 user=" + user + " password=" + secretPw + " dbname=" + tdb.name
		if u, err := open(t, ok, userQuery, "").Lookup(context.Background(), "bob@ex.org"); err != nil || u.UID != 5000 {
			t.Errorf("right password: %+v, %v", u, err)
		}
		for _, bad := range []string{
			"host=127.0.0.1 port=3306 user=" + user + " password=" + secretPw + "x dbname=" + tdb.name,
			user + ":" + secretPw + "x@tcp(127.0.0.1:3306)/" + tdb.name,
		} {
			wrong := tdb
			wrong.connect = bad
			_, err := open(t, wrong, userQuery, "").Lookup(context.Background(), "bob@ex.org")
			assertTemporary(t, "wrong password", err, bad)
		}
	})
}

// TestConnectForms: every documented way to write connect reaches the
// server.
func TestConnectForms(t *testing.T) {
	t.Run("pgsql", func(t *testing.T) {
		tdb := pgTestDB(t)
		tdb.exec(t, schema...)
		for _, c := range []string{
			"host=/var/run/postgresql user=postgres dbname=" + tdb.name,
			"postgres://postgres@127.0.0.1:5432/" + tdb.name + "?sslmode=disable",
			"host = 127.0.0.1 port=5432 user=postgres dbname=" + tdb.name + " maxconns=5 password='it\\'s a secret'",
			"host=127.0.0.1 user=postgres dbname=" + tdb.name + " default_query_exec_mode=exec",
		} {
			testConnect(t, tdb, c)
		}
	})
	t.Run("mysql", func(t *testing.T) {
		tdb := mysqlTestDB(t)
		tdb.exec(t, schema...)
		cs := []string{
			"host=127.0.0.1 port=3306 user=root dbname=" + tdb.name + " maxconns=5 connect_timeout=5",
			"root@tcp(127.0.0.1:3306)/" + tdb.name,
		}
		if s := localSocket(); s != "" { // root over the socket: unix_socket auth
			cs = append(cs, "host="+s+" user=root dbname="+tdb.name, "host=localhost user=root dbname="+tdb.name,
				"root@unix("+s+")/"+tdb.name)
		}
		for _, c := range cs {
			testConnect(t, tdb, c)
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		tdb := sqliteTestDB(t)
		tdb.exec(t, schema...)
		testConnect(t, tdb, "file:"+tdb.connect)
		testConnect(t, tdb, "file:"+tdb.connect+"?mode=ro&_pragma=busy_timeout(100)")
	})
}

func testConnect(t *testing.T, tdb testDB, connect string) {
	t.Helper()
	tdb.connect = connect
	db := open(t, tdb, userQuery, "")
	if u, err := db.Lookup(context.Background(), "bob@ex.org"); err != nil || u.Home != "/home/bob" {
		t.Errorf("%s: %+v, %v", connect, u, err)
	}
	if err := db.Ping(context.Background()); err != nil {
		t.Errorf("%s: Ping: %v", connect, err)
	}
}

// TestReadOnly: the SQLite userdb cannot be written through a lookup.
func TestReadOnly(t *testing.T) {
	tdb := sqliteTestDB(t)
	tdb.exec(t, schema...)
	db := open(t, tdb, `DELETE FROM users WHERE userid = '%u' RETURNING home`, "")
	if _, err := db.Lookup(context.Background(), "bob@ex.org"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("write through a read-only userdb: %v", err)
	}
	tdb.exec(t, `SELECT 1 FROM users WHERE userid = 'bob@ex.org'`)
}

// silentServer accepts connections and never answers, like a database
// host that hangs; it returns the port.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
