package lookup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// schema works unchanged on all three databases.
var schema = []string{
	`CREATE TABLE users (userid VARCHAR(255) NOT NULL PRIMARY KEY, home VARCHAR(255), uid INTEGER, gid INTEGER)`,
	`CREATE TABLE aliases (address VARCHAR(255) NOT NULL PRIMARY KEY, target VARCHAR(255))`,
	`INSERT INTO users VALUES ('bob@ex.org', '/home/bob', 5000, 5001)`,
	`INSERT INTO users VALUES ('real+plus@ex.org', '/home/real', 5000, 5000)`,
	`INSERT INTO users VALUES ('localonly', NULL, NULL, NULL)`,
	`INSERT INTO aliases VALUES ('info@ex.org', 'bob@ex.org')`,
	`INSERT INTO aliases VALUES ('sales@ex.org', 'info@ex.org')`,
	`INSERT INTO aliases VALUES ('list@ex.org', 'bob+lists@ex.org')`,
	`INSERT INTO aliases VALUES ('loop1@ex.org', 'loop2@ex.org')`,
	`INSERT INTO aliases VALUES ('loop2@ex.org', 'loop1@ex.org')`,
	`INSERT INTO aliases VALUES ('self@ex.org', 'self@ex.org')`,
	`INSERT INTO aliases VALUES ('loop3@ex.org', 'loop4@ex.org')`,
	`INSERT INTO aliases VALUES ('loop4@ex.org', 'loop5@ex.org')`,
	`INSERT INTO aliases VALUES ('loop5@ex.org', 'loop3@ex.org')`,
	`INSERT INTO aliases VALUES ('toself@ex.org', 'self@ex.org')`,
	`INSERT INTO aliases VALUES ('null@ex.org', NULL)`,
	`INSERT INTO aliases VALUES ('empty@ex.org', '')`,
	`INSERT INTO aliases VALUES ('dangling@ex.org', 'nobody@ex.org')`,
}

const (
	userQuery  = `SELECT home, uid, gid FROM users WHERE userid = '%u'`
	aliasQuery = `SELECT target FROM aliases WHERE address = '%u'`
)

// hopChain adds h0 -> h1 -> ... -> h<n> -> bob: h<k> is n+1-k hops away.
func hopChain(n int) []string {
	var s []string
	for k := 0; k <= n; k++ {
		target := fmt.Sprintf("h%d@ex.org", k+1)
		if k == n {
			target = "bob@ex.org"
		}
		s = append(s, fmt.Sprintf(`INSERT INTO aliases VALUES ('h%d@ex.org', '%s')`, k, target))
	}
	return s
}

func TestLookupOrder(t *testing.T) {
	allDBs(t, func(t *testing.T, tdb testDB) {
		tdb.exec(t, schema...)
		tdb.exec(t, hopChain(maxAliasHops)...)
		db := open(t, tdb, userQuery, aliasQuery)
		ctx := context.Background()
		for _, tc := range []struct{ address, want, detail string }{
			{"bob@ex.org", "bob@ex.org", ""},
			{"bob+x@ex.org", "bob@ex.org", "x"},
			{"bob+x+y@ex.org", "bob@ex.org", "x+y"},
			{"real+plus@ex.org", "real+plus@ex.org", ""},
			{"real+plus+more@ex.org", "", ""}, // cut at the first +: real@ex.org does not exist
			{"info@ex.org", "bob@ex.org", ""},
			{"sales@ex.org", "bob@ex.org", ""},
			{"info+news@ex.org", "bob@ex.org", "news"},
			{"list@ex.org", "bob@ex.org", "lists"},
			{"list+x@ex.org", "bob@ex.org", "lists"},
			{"h1@ex.org", "bob@ex.org", ""}, // exactly maxAliasHops
			{"localonly", "localonly", ""},
			{"localonly+x", "localonly", "x"},
			{"self@ex.org", "", ""},
			{"null@ex.org", "", ""},
			{"empty@ex.org", "", ""},
			{"dangling@ex.org", "", ""},
			{"nobody@ex.org", "", ""},
			{"+bob@ex.org", "", ""},
			{"bob", "", ""},
		} {
			u, err := db.Lookup(ctx, tc.address)
			if tc.want == "" {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("Lookup(%q) = %+v, %v; want ErrNotFound", tc.address, u, err)
				}
				continue
			}
			if err != nil || u.Address != tc.want || u.Detail != tc.detail {
				t.Errorf("Lookup(%q) = %+v, %v; want %s detail %q", tc.address, u, err, tc.want, tc.detail)
			}
		}
		u, err := db.Lookup(ctx, "bob@ex.org")
		if err != nil || u.Home != "/home/bob" || u.UID != 5000 || u.GID != 5001 {
			t.Errorf("bob: %+v, %v", u, err)
		}
		u, err = db.Lookup(ctx, "localonly")
		if err != nil || u.Home != "" || u.UID != NoID || u.GID != NoID {
			t.Errorf("NULL columns: %+v, %v", u, err)
		}
		// One hop too many, and a cycle through other addresses, are
		// mistakes in the alias table: temporary, the chain in the error.
		for _, a := range []string{"h0@ex.org", "loop1@ex.org", "loop2+x@ex.org", "loop3@ex.org"} {
			if u, err := db.Lookup(ctx, a); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %+v, %v; want a temporary error", a, u, err)
			}
		}
		if _, err := db.Lookup(ctx, "loop1@ex.org"); err == nil || !strings.Contains(err.Error(), "alias cycle loop1@ex.org -> loop2@ex.org -> loop1@ex.org") {
			t.Errorf("cycle error does not name the chain: %v", err)
		}
		// Aliased to itself (directly, via its detail-less form, or at
		// the end of a chain) is final: not found.
		for _, a := range []string{"self@ex.org", "self+x@ex.org", "toself@ex.org"} {
			if u, err := db.Lookup(ctx, a); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %+v, %v; want ErrNotFound", a, u, err)
			}
		}

		noAlias := open(t, tdb, userQuery, "")
		if _, err := noAlias.Lookup(ctx, "info@ex.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("without alias_query: %v", err)
		}
		noDelim, err := Open(testCfg(tdb, userQuery, ""), "")
		if err != nil {
			t.Fatal(err)
		}
		defer noDelim.Close()
		if _, err := noDelim.Lookup(ctx, "bob+x@ex.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("without delimiter: %v", err)
		}
		// Case: the address as given, unless the query names the user.
		lower := open(t, tdb, `SELECT home FROM users WHERE userid = '%Lu'`, "")
		if u, err := lower.Lookup(ctx, "BOB+X@EX.ORG"); err != nil || u.Address != "BOB@EX.ORG" || u.Detail != "X" {
			t.Errorf("%%Lu: %+v, %v", u, err)
		}
		canon := open(t, tdb, `SELECT userid AS "user", home FROM users WHERE userid = '%Lu'`, `SELECT target FROM aliases WHERE address = '%Lu'`)
		if tdb.driver == "mysql" {
			canon = open(t, tdb, "SELECT userid AS `user`, home FROM users WHERE userid = '%Lu'", "")
		}
		for a, detail := range map[string]string{"BOB+X@EX.ORG": "X", "Bob@Ex.Org": ""} {
			if u, err := canon.Lookup(ctx, a); err != nil || u.Address != "bob@ex.org" || u.Detail != detail {
				t.Errorf("user column, %s: %+v, %v", a, u, err)
			}
		}
		// A hostile detail is still a detail: making it a safe folder
		// name is the mailbox's job.
		if u, err := db.Lookup(ctx, "bob+'; DROP TABLE aliases; --@ex.org"); err != nil || u.Address != "bob@ex.org" || u.Detail != "'; DROP TABLE aliases; --" {
			t.Errorf("hostile detail: %+v, %v", u, err)
		}
	})
}

// hostile addresses: each must simply not be found, and the tables must
// still be there afterwards.
var hostile = []string{
	`a'; DROP TABLE users; --@x`,
	`x' OR '1'='1`,
	`x' OR 1=1 -- @ex.org`,
	`bob@ex.org' --`,
	`%u@x`,
	`%%@x`,
	`?@x`,
	`$1@x`,
	`\'; DROP TABLE users; --@x`,
	`back\slash@x`,
	`"quoted"@x`,
	"x\"; DROP TABLE users; --@x",
	"`bt`@x",
	`bob@ex.org\`,
	"bob@ex.org'; SELECT pg_sleep(5); --",
	"x') UNION SELECT '/etc', 0, 0 --@x",
	"nobody+'; DROP TABLE aliases; --@ex.org",
	"mañana@ex.org",
	"nul\x00@ex.org",
	"bad\xff@ex.org",
	strings.Repeat("a", 5000) + "@x",
}

func TestHostileAddresses(t *testing.T) {
	allDBs(t, func(t *testing.T, tdb testDB) {
		tdb.exec(t, schema...)
		db := open(t, tdb, userQuery, aliasQuery)
		bare := open(t, tdb, `SELECT home FROM users WHERE userid = %u`, `SELECT target FROM aliases WHERE address = %u`)
		mixed := open(t, tdb, `SELECT home FROM users WHERE userid = '%n@%d'`, "")
		ctx := context.Background()
		for _, a := range hostile {
			for _, d := range []*DB{db, bare, mixed} {
				if u, err := d.Lookup(ctx, a); !errors.Is(err, ErrNotFound) {
					t.Errorf("Lookup(%q) = %+v, %v; want ErrNotFound", a, u, err)
				}
			}
		}
		// The tables are intact and still answer.
		tdb.exec(t, `SELECT count(*) FROM users`, `SELECT count(*) FROM aliases`)
		if u, err := db.Lookup(ctx, "info@ex.org"); err != nil || u.Address != "bob@ex.org" {
			t.Errorf("after: %+v, %v", u, err)
		}
	})
}

// TestLiteralSemantics checks on each real server that the value bound
// for a rewritten literal is the one the literal would have had with the
// address expanded into it by Dovecot (and then escaped).
func TestLiteralSemantics(t *testing.T) {
	addresses := []string{"bob@ex.org", "O'Brien+x@Example.ORG", `back\slash@x`, `"q""uote"@x`, "%u%%@x", "jörg@exämple.org", "nodomain"}
	type literalCase struct {
		query string
		want  func(a, n, d string) string
	}
	common := []literalCase{
		{`SELECT 'pre''%u|%Ln|%{user|domain}%%' AS home`, func(a, n, d string) string { return "pre'" + a + "|" + strings.ToLower(n) + "|" + d + "%" }},
		{`SELECT %u AS home`, func(a, n, d string) string { return a }},
		{`SELECT '%n@%d' AS home`, func(a, n, d string) string { return n + "@" + d }},
		{`SELECT '%%%{user | upper}%%' AS home`, func(a, n, d string) string { return "%" + strings.ToUpper(a) + "%" }},
	}
	extra := map[string][]literalCase{
		"pgsql": {
			{`SELECT 'a\b%u' AS home`, func(a, n, d string) string { return `a\b` + a }},
			{`SELECT E'a\\b\'c\t%u' AS home`, func(a, n, d string) string { return "a\\b'c\t" + a }},
			{`SELECT $x$it's %n$x$ AS home`, func(a, n, d string) string { return "it's " + n }},
			{`SELECT '/home/'||'%d'||'/'||'%n' AS home`, func(a, n, d string) string { return "/home/" + d + "/" + n }},
		},
		"mysql": {
			{`SELECT 'a\\b\'c\t%u' AS home`, func(a, n, d string) string { return "a\\b'c\t" + a }},
			{`SELECT "x""y'%u" AS home`, func(a, n, d string) string { return `x"y'` + a }},
			{`SELECT CONCAT('/home/', '%d', '/', '%n') AS home`, func(a, n, d string) string { return "/home/" + d + "/" + n }},
		},
		"sqlite": {
			{`SELECT 'a\b%u' AS home`, func(a, n, d string) string { return `a\b` + a }},
			{`SELECT '/home/'||'%d'||'/'||'%n' AS home`, func(a, n, d string) string { return "/home/" + d + "/" + n }},
		},
	}
	allDBs(t, func(t *testing.T, tdb testDB) {
		tdb.exec(t, schema...) // creates the SQLite file, opened read-only
		ctx := context.Background()
		for _, lc := range append(common, extra[tdb.driver]...) {
			db := open(t, tdb, lc.query, "")
			for _, a := range addresses {
				n, d := splitAddress(a)
				u, err := db.Lookup(ctx, a)
				if err != nil {
					t.Errorf("%s with %q: %v", lc.query, a, err)
					continue
				}
				if want := lc.want(a, n, d); u.Home != want {
					t.Errorf("%s with %q: home %q, want %q", lc.query, a, u.Home, want)
				}
			}
		}
	})
}

// TestTemporaryErrors: everything but "no row" is a plain error.
func TestTemporaryErrors(t *testing.T) {
	allDBs(t, func(t *testing.T, tdb testDB) {
		tdb.exec(t, schema...)
		tdb.exec(t, hopChain(maxAliasHops)...)
		tdb.exec(t, `CREATE TABLE odd (userid VARCHAR(255), uid VARCHAR(20), home VARCHAR(20))`,
			`INSERT INTO odd VALUES ('text@ex.org', 'abc', '/h')`,
			`INSERT INTO odd VALUES ('neg@ex.org', '-7', '/h')`)
		ctx := context.Background()
		for _, q := range []struct{ user, alias, address string }{
			{`SELECT home FROM nosuchtable WHERE userid = '%u'`, "", "bob@ex.org"},
			{`SELECT nosuchcolumn FROM users WHERE userid = '%u'`, "", "bob@ex.org"},
			{`SELECT home, uid FROM odd WHERE userid = '%u'`, "", "text@ex.org"},
			{`SELECT home, uid FROM odd WHERE userid = '%u'`, "", "neg@ex.org"},
			{userQuery, `SELECT target FROM nosuchtable WHERE address = '%u'`, "info@ex.org"},
			{userQuery, `SELECT target FROM aliases WHERE address = '%u'`, "h0@ex.org"}, // too many hops
		} {
			db := open(t, tdb, q.user, q.alias)
			if u, err := db.Lookup(ctx, q.address); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("%s / %s, %s: %+v, %v; want a temporary error", q.user, q.alias, q.address, u, err)
			}
		}
		// Ping has the server prepare the queries: -check finds typos.
		if err := open(t, tdb, `SELECT home FROM nosuchtable WHERE userid = '%u'`, "").Ping(ctx); err == nil {
			t.Error("Ping with a missing table: no error")
		}
		if err := open(t, tdb, userQuery, `SELECT x FROM nosuchtable WHERE a = '%u'`).Ping(ctx); err == nil {
			t.Error("Ping with a bad alias_query: no error")
		}
		if err := open(t, tdb, userQuery, aliasQuery).Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

func TestColumnTypes(t *testing.T) {
	allDBs(t, func(t *testing.T, tdb testDB) {
		tdb.exec(t, schema...)
		db := open(t, tdb, `SELECT '1001' AS UID, 1002.0 AS gid, 'maildir:/m' AS Mail, '*:storage=1G' AS quota_rule,
			5368709120 AS quota_bytes, NULL AS quota_messages, 'x' AS password FROM users WHERE userid = '%u'`, "")
		u, err := db.Lookup(context.Background(), "bob@ex.org")
		want := User{Address: "bob@ex.org", UID: 1001, GID: 1002, Mail: "maildir:/m", QuotaRule: "*:storage=1G", QuotaBytes: 5 << 30, QuotaMessages: -1}
		if err != nil || *u != want {
			t.Errorf("got %+v, %v\nwant %+v", u, err, want)
		}
	})
}

func TestConcurrentLookups(t *testing.T) {
	allDBs(t, func(t *testing.T, tdb testDB) {
		tdb.exec(t, schema...)
		db := open(t, tdb, userQuery, aliasQuery) // 2 connections for 16 goroutines
		var wg sync.WaitGroup
		errs := make(chan error, 16*10)
		for g := range 16 {
			wg.Go(func() {
				for i := range 10 {
					a, want := "info+x@ex.org", "bob@ex.org"
					if (g+i)%3 == 0 {
						a, want = "nobody@ex.org", ""
					}
					u, err := db.Lookup(context.Background(), a)
					switch {
					case want == "" && !errors.Is(err, ErrNotFound):
						errs <- fmt.Errorf("%s: %v", a, err)
					case want != "" && (err != nil || u.Address != want || u.Detail != "x"):
						errs <- fmt.Errorf("%s: %+v %v", a, u, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
