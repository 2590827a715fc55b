// Command lookupbench times userdb lookups as lmtpd makes them at RCPT
// (package lookup: the pool, the rewritten user_query, no cache) against
// one connect string. bench/scaleout.sh runs it through PgBouncer and
// straight to PostgreSQL, in alternating pairs, and prints the medians.
//
//	lookupbench -connect CONNECT -query QUERY -users a@x,b@y [-n 2000] [-c 1]
//
// It prints one line: "lookups=N conc=C wall_s=... per_s=... p50_us=... p99_us=...".
// Any failed lookup makes it exit 1: a figure from failing lookups means nothing.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
)

func main() {
	driver := flag.String("driver", "pgsql", "userdb driver")
	connect := flag.String("connect", "", "userdb connect string")
	query := flag.String("query", "", "user_query")
	users := flag.String("users", "", "comma-separated addresses, looked up in turn")
	n := flag.Int("n", 2000, "lookups")
	conc := flag.Int("c", 1, "concurrent lookers (the pool has as many connections)")
	flag.Parse()
	if *connect == "" || *query == "" || *users == "" || *n < 1 || *conc < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*driver, *connect, *query, strings.Split(*users, ","), *n, *conc); err != nil {
		fmt.Fprintln(os.Stderr, "lookupbench:", err)
		os.Exit(1)
	}
}

func run(driver, connect, query string, users []string, n, conc int) error {
	cfg := config.Defaults().Userdb
	cfg.Driver, cfg.Connect, cfg.UserQuery, cfg.MaxConnections = driver, connect, query, conc
	db, err := lookup.Open(cfg, "+")
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	// warm the pool: connections are opened on first use, not timed
	for i := 0; i < conc; i++ {
		if _, err := db.Lookup(ctx, users[0]); err != nil {
			return err
		}
	}
	took := make([]time.Duration, n)
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += conc {
				t := time.Now()
				if _, err := db.Lookup(ctx, users[i%len(users)]); err != nil {
					errs <- fmt.Errorf("lookup %s: %w", users[i%len(users)], err)
					return
				}
				took[i] = time.Since(t)
			}
		}(w)
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	slices.Sort(took)
	q := func(p float64) int64 { return took[int(p*float64(n-1))].Microseconds() }
	fmt.Printf("lookups=%d conc=%d wall_s=%.3f per_s=%.0f p50_us=%d p99_us=%d\n",
		n, conc, wall.Seconds(), float64(n)/wall.Seconds(), q(0.50), q(0.99))
	return nil
}
