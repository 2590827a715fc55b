package lookup

import (
	"context"
	"errors"
	"strings"
	"testing"

	"maildeliver/internal/config"
)

// The setups of shared/seeds, with their schemas and test data as
// published and their Dovecot queries pasted unchanged.

// seed000 is seeds 000/001 (PostgreSQL): schema, views and test data.
var seed000 = []string{
	`CREATE TABLE transport (
  domain VARCHAR(128) NOT NULL,
  transport VARCHAR(128) NOT NULL,
  PRIMARY KEY (domain)
)`,
	`CREATE TABLE users (
  userid VARCHAR(128) NOT NULL,
  password VARCHAR(128),
  realname VARCHAR(128),
  uid INTEGER NOT NULL,
  gid INTEGER NOT NULL,
  home VARCHAR(128),
  mail VARCHAR(255),
  PRIMARY KEY (userid)
)`,
	`CREATE TABLE virtual (
  address VARCHAR(255) NOT NULL,
  userid VARCHAR(255) NOT NULL,
  PRIMARY KEY (address)
)`,
	`create view postfix_mailboxes as
  select userid, home||'/' as mailbox from users
  union all
  select domain as userid, 'dummy' as mailbox from transport`,
	`create view postfix_virtual as
  select userid, userid as address from users
  union all
  select userid, address from virtual`,
	`insert into transport (domain, transport) values ('domain.org', 'virtual:')`,
	`insert into transport (domain, transport) values ('foo.org', 'virtual:')`,
	`insert into users (userid, uid, gid, home) values ('user@domain.org', 1001, 1001, 'domain.org/mails/user')`,
	`insert into users (userid, uid, gid, home) values ('user2@domain.org', 1001, 1001, 'domain.org/mails/user2')`,
	`insert into users (userid, uid, gid, home) values ('user@foo.org', 1002, 1002, 'foo.org/mails/user')`,
	`insert into virtual (address, userid) values ('foo@foo.org', 'user@foo.org')`,
}

const (
	seed000UserQuery = `SELECT '/home/'||home AS home, uid, gid FROM users WHERE userid = '%u'`
	// postfix_virtual maps every user to itself: the cycle guard must end it.
	seed000AliasQuery = `SELECT userid FROM postfix_virtual WHERE address = '%u'`
)

func TestSeed000Postgres(t *testing.T) { testSeed000(t, pgTestDB(t)) }

// SQLite is the embedded default for a first run, with the seed 000 schema.
func TestSeed000SQLite(t *testing.T) { testSeed000(t, sqliteTestDB(t)) }

func testSeed000(t *testing.T, tdb testDB) {
	tdb.exec(t, seed000...)
	db := open(t, tdb, seed000UserQuery, seed000AliasQuery)
	ctx := context.Background()
	for _, tc := range []struct {
		address, want, detail, home string
		id                          int64
	}{
		{"user@domain.org", "user@domain.org", "", "/home/domain.org/mails/user", 1001},
		{"user2@domain.org", "user2@domain.org", "", "/home/domain.org/mails/user2", 1001},
		{"user@foo.org", "user@foo.org", "", "/home/foo.org/mails/user", 1002},
		{"user+lists@foo.org", "user@foo.org", "lists", "/home/foo.org/mails/user", 1002},
		{"foo@foo.org", "user@foo.org", "", "/home/foo.org/mails/user", 1002},
		{"foo+x@foo.org", "user@foo.org", "x", "/home/foo.org/mails/user", 1002},
	} {
		u, err := db.Lookup(ctx, tc.address)
		if err != nil {
			t.Errorf("Lookup(%q): %v", tc.address, err)
			continue
		}
		if u.Address != tc.want || u.Detail != tc.detail || u.Home != tc.home || u.UID != tc.id || u.GID != tc.id || u.Mail != "" {
			t.Errorf("Lookup(%q) = %+v; want address %s detail %q home %s id %d", tc.address, u, tc.want, tc.detail, tc.home, tc.id)
		}
	}
	for _, a := range []string{"nobody@domain.org", "user@bar.org", "domain.org", "user", ""} {
		if u, err := db.Lookup(ctx, a); !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%q) = %+v, %v; want ErrNotFound", a, u, err)
		}
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// seed002 is seed 002 (MySQL, Postfix + Dovecot with users(email, password)).
var seed002 = []string{
	`CREATE TABLE domains (domain varchar(50) NOT NULL, PRIMARY KEY (domain) )`,
	`CREATE TABLE forwardings (source varchar(80) NOT NULL, destination TEXT NOT NULL, PRIMARY KEY (source) )`,
	`CREATE TABLE users (email varchar(80) NOT NULL, password varchar(20) NOT NULL, PRIMARY KEY (email) )`,
	`CREATE TABLE transport ( domain varchar(128) NOT NULL default '', transport varchar(128) NOT NULL default '', UNIQUE KEY domain (domain) )`,
	`INSERT INTO domains (domain) VALUES ('centos.bz')`,
	`INSERT INTO users (email, password) VALUES ('sales@centos.bz', 'x')`,
	`INSERT INTO forwardings (source, destination) VALUES ('info@centos.bz', 'sales@centos.bz')`,
}

func TestSeed002MySQL(t *testing.T) {
	tdb := mysqlTestDB(t)
	tdb.exec(t, seed002...)
	// The password_query of the seed, semicolon and all: no known column,
	// so the row only says that the user exists (uid/gid from [mail]).
	db := open(t, tdb, `SELECT email as user, password FROM users WHERE email='%u';`,
		`SELECT destination FROM forwardings WHERE source='%u'`)
	ctx := context.Background()
	for address, detail := range map[string]string{"sales@centos.bz": "", "sales+x@centos.bz": "x", "info@centos.bz": ""} {
		u, err := db.Lookup(ctx, address)
		if err != nil {
			t.Fatalf("Lookup(%s): %v", address, err)
		}
		want := User{Address: "sales@centos.bz", Detail: detail, UID: NoID, GID: NoID, QuotaBytes: -1, QuotaMessages: -1}
		if *u != want {
			t.Errorf("Lookup(%s) = %+v, want %+v", address, *u, want)
		}
	}
	if _, err := db.Lookup(ctx, "nobody@centos.bz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("nobody: %v", err)
	}
	// The seed's Postfix map query (%s) is refused with a hint, not guessed.
	cfg := config.Userdb{Driver: "mysql", Connect: tdb.connect, UserQuery: `SELECT email FROM users WHERE email='%s'`}
	if _, err := Open(cfg, "+"); err == nil || !strings.Contains(err.Error(), "%u") {
		t.Errorf("%%s: %v", err)
	}
}

// seed004 is seed 004 (MySQL, domains + users joined in view emails).
var seed004 = []string{
	`CREATE TABLE domains (
  id INT NOT NULL AUTO_INCREMENT,
  name VARCHAR(255) NOT NULL, PRIMARY KEY(id), UNIQUE KEY(name))`,
	`CREATE TABLE users (
  id INT NOT NULL AUTO_INCREMENT,
  name VARCHAR(255) NOT NULL,
  password VARCHAR(255) NOT NULL,
  domain_id INT NOT NULL,
  PRIMARY KEY(id),
  UNIQUE KEY (name, domain_id),
  FOREIGN KEY (domain_id) REFERENCES domains(id) ON DELETE CASCADE)`,
	`CREATE VIEW emails AS SELECT
  CONCAT(users.name, '@', domains.name) AS name, password FROM
  users JOIN domains ON domains.id = users.domain_id`,
	`INSERT INTO domains(name) VALUES ('hoge.com'), ('fuga.com')`,
	`INSERT INTO users(name, password, domain_id) VALUES
  ('info', 'x', 1),
  ('info', 'x', 2),
  ('admin', 'x', 1)`,
}

func TestSeed004MySQL(t *testing.T) {
	tdb := mysqlTestDB(t)
	tdb.exec(t, seed004...)
	db := open(t, tdb, `SELECT name FROM emails WHERE name='%u'`, "")
	ctx := context.Background()
	for _, a := range []string{"info@hoge.com", "info@fuga.com", "admin@hoge.com"} {
		u, err := db.Lookup(ctx, a)
		if err != nil || u.Address != a || u.UID != NoID || u.Home != "" {
			t.Errorf("Lookup(%s) = %+v, %v", a, u, err)
		}
	}
	u, err := db.Lookup(ctx, "admin+spam@hoge.com")
	if err != nil || u.Address != "admin@hoge.com" || u.Detail != "spam" {
		t.Errorf("detail: %+v, %v", u, err)
	}
	for _, a := range []string{"admin@fuga.com", "info", "info@"} {
		if _, err := db.Lookup(ctx, a); !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%s): %v, want ErrNotFound", a, err)
		}
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
