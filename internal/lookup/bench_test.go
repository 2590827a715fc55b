package lookup_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/testdb"
)

// benchUsers loads seed 000/001's schema and 1,000 users (uid 5000) into db.
func benchUsers(b *testing.B, db *testdb.DB) {
	b.Helper()
	db.Exec(b, testdb.Seed000)
	var sb strings.Builder
	sb.WriteString("INSERT INTO users (userid, uid, gid, home) VALUES ")
	for i := range 1000 {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "('u%d@d%d.example', 5000, 5000, 'd%d.example/mails/u%d')", i, i%10, i%10, i)
	}
	db.Exec(b, sb.String())
}

// benchLookup measures Lookup with a warm pool: the pool is opened and
// one lookup made before the clock starts, as in a running lmtpd
// (cache_ttl = 0, so every lookup asks the database).
func benchLookup(b *testing.B, db *testdb.DB) {
	benchUsers(b, db)
	ldb, err := lookup.Open(config.Userdb{
		Driver:         db.Driver,
		Connect:        db.Connect,
		UserQuery:      testdb.Seed000Query("/srv/mail"),
		Timeout:        config.Duration(5 * time.Second),
		MaxConnections: 4,
	}, "+")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ldb.Close() })
	ctx := context.Background()
	if _, err := ldb.Lookup(ctx, "u1@d1.example"); err != nil {
		b.Fatal(err)
	}
	b.Run("found", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			addr := fmt.Sprintf("u%d@d%d.example", i%1000, i%10)
			if _, err := ldb.Lookup(ctx, addr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("found-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ldb.Lookup(ctx, "u7@d7.example"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// Unknown: user_query as given, then without the +detail (no alias_query).
	b.Run("unknown-with-detail", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ldb.Lookup(ctx, "nobody+x@d1.example"); !errors.Is(err, lookup.ErrNotFound) {
				b.Fatalf("want ErrNotFound, got %v", err)
			}
		}
	})
}

func BenchmarkLookupSQLite(b *testing.B) {
	benchLookup(b, testdb.SQLite(b, b.TempDir()))
}

// BenchmarkLookupPostgres uses the machine's PostgreSQL (testdb: unix
// socket /var/run/postgresql); MAILDELIVER_SKIP_DB=1 skips it.
func BenchmarkLookupPostgres(b *testing.B) {
	benchLookup(b, testdb.Postgres(b))
}
