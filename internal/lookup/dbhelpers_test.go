package lookup

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"maildeliver/internal/config"
)

// The integration tests use the real servers of the test machine; CI
// installs them. Without them the tests fail, loudly, unless
// MAILDELIVER_SKIP_DB=1 says that is intended.
const (
	pgAdmin    = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
	mysqlAdmin = "root@tcp(127.0.0.1:3306)/"
	skipEnv    = "MAILDELIVER_SKIP_DB"
)

func needDB(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv(skipEnv) == "1" {
		t.Skipf("%s unreachable and %s=1: %v", what, skipEnv, err)
	}
	t.Fatalf("%s is needed for this test and unreachable: %v\n"+
		"(start it, or set %s=1 to skip the database tests)", what, err, skipEnv)
}

func randomName(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "mdtest_" + hex.EncodeToString(b)
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testDB is one throwaway database: how to reach it as a userdb, and how
// to run setup SQL as its administrator.
type testDB struct {
	driver  string
	connect string
	name    string
	exec    func(t *testing.T, stmts ...string)
}

// pgTestDB creates a PostgreSQL database dropped when the test ends.
func pgTestDB(t *testing.T) testDB {
	t.Helper()
	ctx := ctx5(t)
	admin, err := pgx.Connect(ctx, pgAdmin)
	needDB(t, "PostgreSQL at 127.0.0.1:5432", err)
	defer admin.Close(ctx)
	name := randomName(t)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, pgAdmin)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	connect := "host=127.0.0.1 port=5432 user=postgres dbname=" + name
	return testDB{driver: "pgsql", connect: connect, name: name, exec: func(t *testing.T, stmts ...string) {
		t.Helper()
		ctx := ctx5(t)
		c, err := pgx.Connect(ctx, connect)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		for _, s := range stmts {
			if _, err := c.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}}
}

// mysqlTestDB creates a MariaDB/MySQL database dropped when the test ends.
func mysqlTestDB(t *testing.T) testDB {
	t.Helper()
	ctx := ctx5(t)
	admin, err := sql.Open("mysql", mysqlAdmin)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	needDB(t, "MariaDB/MySQL at 127.0.0.1:3306", admin.PingContext(ctx))
	name := randomName(t)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", mysqlAdmin)
		if err == nil {
			defer db.Close()
			_, err = db.Exec("DROP DATABASE " + name)
		}
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	connect := "host=127.0.0.1 port=3306 user=root dbname=" + name
	return testDB{driver: "mysql", connect: connect, name: name, exec: func(t *testing.T, stmts ...string) {
		t.Helper()
		mysqlExec(t, mysqlAdmin+name, stmts...)
	}}
}

func mysqlExec(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx5(t), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// sqliteTestDB creates an SQLite file in t.TempDir().
func sqliteTestDB(t *testing.T) testDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.db")
	return testDB{driver: "sqlite", connect: path, name: path, exec: func(t *testing.T, stmts ...string) {
		t.Helper()
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, s := range stmts {
			if _, err := db.Exec(s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}}
}

// allDBs runs f once per driver, each on a fresh database.
func allDBs(t *testing.T, f func(t *testing.T, tdb testDB)) {
	for _, d := range []struct {
		name string
		mk   func(*testing.T) testDB
	}{{"pgsql", pgTestDB}, {"mysql", mysqlTestDB}, {"sqlite", sqliteTestDB}} {
		t.Run(d.name, func(t *testing.T) { f(t, d.mk(t)) })
	}
}

// open opens the userdb on tdb with the given queries, closed at the end
// of the test.
func open(t *testing.T, tdb testDB, userQuery, aliasQuery string) *DB {
	t.Helper()
	return openCfg(t, testCfg(tdb, userQuery, aliasQuery))
}

func testCfg(tdb testDB, userQuery, aliasQuery string) config.Userdb {
	return config.Userdb{
		Driver:         tdb.driver,
		Connect:        tdb.connect,
		UserQuery:      userQuery,
		AliasQuery:     aliasQuery,
		Timeout:        config.Duration(10 * time.Second),
		MaxConnections: 2,
	}
}

func openCfg(t *testing.T, cfg config.Userdb) *DB {
	t.Helper()
	db, err := Open(cfg, "+")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
