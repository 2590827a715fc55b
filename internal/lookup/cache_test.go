package lookup

import (
	"context"
	"errors"
	"testing"
	"time"

	"maildeliver/internal/config"
)

// TestCache runs on SQLite with a clock the test moves: no sleeps.
func TestCache(t *testing.T) {
	tdb := sqliteTestDB(t)
	tdb.exec(t, schema...)
	cfg := testCfg(tdb, userQuery, aliasQuery)
	cfg.CacheTTL, cfg.NegativeCacheTTL = config.Duration(time.Minute), config.Duration(30*time.Second)
	db := openCfg(t, cfg)
	now := time.Unix(1_700_000_000, 0)
	db.cache.now = func() time.Time { return now }
	ctx := context.Background()
	lookup := func(a string) (*User, error) { return db.Lookup(ctx, a) }

	u, err := lookup("info+x@ex.org")
	if err != nil || u.Address != "bob@ex.org" || u.Detail != "x" {
		t.Fatalf("first lookup: %+v, %v", u, err)
	}
	u.Home = "changed by the caller"
	tdb.exec(t, `DELETE FROM users WHERE userid = 'bob@ex.org'`)
	if u, err := lookup("info+x@ex.org"); err != nil || u.Home != "/home/bob" || u.Detail != "x" {
		t.Errorf("cached: %+v, %v", u, err)
	}
	now = now.Add(time.Minute)
	if _, err := lookup("info+x@ex.org"); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired: %v, want ErrNotFound", err)
	}
	tdb.exec(t, `INSERT INTO users VALUES ('bob@ex.org', '/home/bob2', 5000, 5000)`)
	now = now.Add(29 * time.Second)
	if _, err := lookup("info+x@ex.org"); !errors.Is(err, ErrNotFound) {
		t.Errorf("negative cache: %v, want ErrNotFound", err)
	}
	now = now.Add(time.Second)
	if u, err := lookup("info+x@ex.org"); err != nil || u.Home != "/home/bob2" {
		t.Errorf("negative entry expired: %+v, %v", u, err)
	}

	// A temporary error is never cached.
	broken := testCfg(tdb, `SELECT home FROM later WHERE userid = '%u'`, "")
	broken.CacheTTL, broken.NegativeCacheTTL = cfg.CacheTTL, cfg.NegativeCacheTTL
	bdb := openCfg(t, broken)
	if _, err := bdb.Lookup(ctx, "bob@ex.org"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("missing table: %v", err)
	}
	tdb.exec(t, `CREATE TABLE later (userid VARCHAR(255), home VARCHAR(255))`, `INSERT INTO later VALUES ('bob@ex.org', '/l')`)
	if u, err := bdb.Lookup(ctx, "bob@ex.org"); err != nil || u.Home != "/l" {
		t.Errorf("after the error: %+v, %v", u, err)
	}
}

func TestCacheBounded(t *testing.T) {
	c := newCache(time.Minute, time.Minute)
	now := time.Unix(0, 0)
	c.now = func() time.Time { return now }
	for i := range cacheMax + 10 {
		c.put(string(rune(i+1)), nil, ErrNotFound)
	}
	if n := len(c.m); n > cacheMax {
		t.Errorf("%d entries, limit %d", n, cacheMax)
	}
	if newCache(0, 0) != nil {
		t.Error("cache on with both TTLs 0")
	}
	var off *cache
	off.put("a", nil, ErrNotFound)
	if _, hit := off.get("a"); hit {
		t.Error("hit on a nil cache")
	}
}
