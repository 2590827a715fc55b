// Package testdb gives tests throwaway userdbs on the real database
// servers of the machine (PostgreSQL on /var/run/postgresql, MariaDB on
// 127.0.0.1:3306) and in SQLite files, loaded with the schemas of the setups
// maildeliver replaces (shared/seeds: 000/001 PostgreSQL, 002 and 004 MySQL).
// Each call creates a database with a random name and drops it when the test
// ends. A missing server fails the test loudly; MAILDELIVER_SKIP_DB=1 turns
// that into a skip for machines without one.
package testdb

import (
	"crypto/rand"
	"database/sql"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// DB is one throwaway database.
type DB struct {
	*sql.DB
	Driver  string // maildeliver's [userdb] driver
	Connect string // maildeliver's [userdb] connect for it
	Name    string
}

// Exec runs statements separated by ";\n", failing the test on error.
func (d *DB) Exec(t testing.TB, stmts string) {
	t.Helper()
	for _, s := range strings.Split(stmts, ";\n") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		if _, err := d.DB.Exec(s); err != nil {
			t.Fatalf("%s: %v\n%s", d.Driver, err, s)
		}
	}
}

func randName() string {
	var b [6]byte
	rand.Read(b[:])
	return "mdtest_" + hex.EncodeToString(b[:])
}

func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("MAILDELIVER_SKIP_DB") == "1" {
		t.Skipf("%s unavailable (MAILDELIVER_SKIP_DB=1): %v", what, err)
	}
	t.Fatalf("%s is required for this test and unreachable: %v (start it, or set MAILDELIVER_SKIP_DB=1 to skip)", what, err)
}

// PGSocketDir is where the machine's PostgreSQL listens.
const PGSocketDir = "/var/run/postgresql"

// Postgres creates a throwaway PostgreSQL database.
func Postgres(t testing.TB) *DB {
	t.Helper()
	admin, err := sql.Open("pgx", "host="+PGSocketDir+" user=postgres dbname=postgres")
	if err == nil {
		err = admin.Ping()
	}
	if err != nil {
		unavailable(t, "PostgreSQL", err)
	}
	name := randName()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	connect := fmt.Sprintf("host=%s user=postgres dbname=%s", PGSocketDir, name)
	db, err := sql.Open("pgx", connect)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	})
	return &DB{DB: db, Driver: "pgsql", Connect: connect, Name: name}
}

// MySQL creates a throwaway MariaDB/MySQL database.
func MySQL(t testing.TB) *DB {
	t.Helper()
	admin, err := sql.Open("mysql", "root:@tcp(127.0.0.1:3306)/")
	if err == nil {
		err = admin.Ping()
	}
	if err != nil {
		unavailable(t, "MariaDB", err)
	}
	name := randName()
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", "root:@tcp(127.0.0.1:3306)/"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		admin.Exec("DROP DATABASE IF EXISTS " + name)
		admin.Close()
	})
	return &DB{DB: db, Driver: "mysql", Name: name,
		Connect: "host=127.0.0.1 port=3306 dbname=" + name + " user=root password="}
}

// SQLite creates a database file in dir.
func SQLite(t testing.TB, dir string) *DB {
	t.Helper()
	path := filepath.Join(dir, "users.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &DB{DB: db, Driver: "sqlite", Connect: path, Name: path}
}

// Seed000 is the schema of seeds 000/001 (the Dovecot wiki's PostgreSQL
// howto); it loads unchanged into PostgreSQL and SQLite. seed000.sql is its
// one copy: e2e and bench link to it.
//
//go:embed seed000.sql
var Seed000 string

// The MySQL seeds' schemas, one copy each: e2e/conf/my002 and my004 link to
// them.
var (
	//go:embed seed002.sql
	seed002 string
	//go:embed seed004.sql
	seed004 string
)

// Seed000Data is the seed's example rows: uid per domain.
const Seed000Data = `insert into transport (domain, transport) values ('domain.org', 'virtual:');
insert into transport (domain, transport) values ('foo.org', 'virtual:');
insert into users (userid, uid, gid, home) values ('user@domain.org', 1001, 1001, 'domain.org/mails/user');
insert into users (userid, uid, gid, home) values ('user2@domain.org', 1001, 1001, 'domain.org/mails/user2');
insert into users (userid, uid, gid, home) values ('user@foo.org', 1002, 1002, 'foo.org/mails/user');
insert into virtual (address, userid) values ('foo@foo.org', 'user@foo.org');
`

// Seed000Query is the seed's Dovecot user_query with /home/ replaced by base.
func Seed000Query(base string) string {
	return "SELECT '" + base + "/'||home AS home, uid, gid FROM users WHERE userid = '%u'"
}

// Seed002 is the schema of seed 002 (MySQL, static vmail uid 5000) and a
// few rows.
var Seed002 = seed002 + `INSERT INTO domains (domain) VALUES ('centos.bz');
INSERT INTO users (email, password) VALUES ('sales@centos.bz', 'x');
INSERT INTO users (email, password) VALUES ('info@centos.bz', 'x');
INSERT INTO forwardings (source, destination) VALUES ('boss@centos.bz', 'sales@centos.bz')
`

// Seed004 is the schema of seed 004 (MySQL, domains + users, view emails)
// and a few rows.
var Seed004 = seed004 + `INSERT INTO domains(name) VALUES ('hoge.com'), ('fuga.com');
INSERT INTO users(name, password, domain_id) VALUES ('info', 'x', 1), ('info', 'x', 2), ('admin', 'x', 1)
`
