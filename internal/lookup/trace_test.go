package lookup

import (
	"context"
	"strings"
	"testing"

	"maildeliver/internal/trace"
)

// TestTrace: with a trace observer, Lookup reports every query as sent
// (text and bound values) with its answer, secrets masked, and each alias
// hop, on each driver; the answer is the one without an observer.
func TestTrace(t *testing.T) {
	allDBs(t, func(t *testing.T, tdb testDB) {
		tdb.exec(t, schema...)
		tdb.exec(t, `CREATE TABLE creds (userid VARCHAR(255) NOT NULL PRIMARY KEY, password VARCHAR(255), api_key VARCHAR(255))`,
			`INSERT INTO creds VALUES ('bob@ex.org', '{SHA512-CRYPT}$6$topsecret', 'k3y-value')`)
		db := open(t, tdb, `SELECT u.home, u.uid, u.gid, c.password, c.api_key FROM users u JOIN creds c ON c.userid = u.userid WHERE u.userid = '%u'`, aliasQuery)
		var lines []string
		ctx := trace.With(context.Background(), func(step, text string) { lines = append(lines, step+": "+text) })
		u, err := db.Lookup(ctx, "sales+x@ex.org")
		if err != nil || u.Address != "bob@ex.org" || u.Detail != "x" {
			t.Fatalf("Lookup = %+v, %v", u, err)
		}
		got := strings.Join(lines, "\n")
		for _, want := range []string{
			`["sales+x@ex.org"] -> no row`,
			`alias_query: SELECT target FROM aliases WHERE address = `,
			`["sales@ex.org"] -> row target="info@ex.org"`,
			"alias: <sales@ex.org> -> <info@ex.org>",
			"alias: <info@ex.org> -> <bob@ex.org>",
			`["bob@ex.org"] -> row home="/home/bob" uid="5000" gid="5001" password=******** api_key=********`,
		} {
			if !strings.Contains(got, want) {
				t.Errorf("trace lacks %q:\n%s", want, got)
			}
		}
		if strings.Contains(got, "topsecret") || strings.Contains(got, "k3y-value") {
			t.Errorf("trace shows a secret:\n%s", got)
		}
		if n := strings.Count(got, "\n") + 1; n != len(lines) {
			t.Errorf("a step spans lines:\n%s", got)
		}
		lines = nil
		if _, err := db.Lookup(ctx, "self@ex.org"); err != ErrNotFound {
			t.Fatalf("self: %v", err)
		}
		if !strings.Contains(strings.Join(lines, "\n"), "alias: <self@ex.org> is aliased to itself") {
			t.Errorf("self alias not reported:\n%s", strings.Join(lines, "\n"))
		}
	})
}
