package maildir

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// Every caller returns only after an fsync that started after it called,
// and concurrent callers share fsyncs.
func TestGroupSyncCovers(t *testing.T) {
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	g := NewGroupSync()
	var clock atomic.Int64 // logical time
	var syncs atomic.Int64
	type span struct{ start, end int64 }
	var mu sync.Mutex
	var done []span // [start, end] of each completed fsync
	g.sync = func(*os.File) error {
		s := clock.Add(1)
		syncs.Add(1)
		for i := 0; i < 1000; i++ { // take a little while
			clock.Add(1)
		}
		mu.Lock()
		done = append(done, span{s, clock.Add(1)})
		mu.Unlock()
		return nil
	}
	var batches, batchSum atomic.Int64
	g.Observe = func(b int) { batches.Add(1); batchSum.Add(int64(b)) }
	const n = 200
	var wg sync.WaitGroup
	calls := make([]span, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			start := clock.Add(1)
			if err := g.Sync(dir); err != nil {
				t.Error(err)
			}
			calls[i] = span{start, clock.Add(1)}
		}(i)
	}
	wg.Wait()
	for i, c := range calls {
		covered := false
		for _, s := range done {
			if s.start > c.start && s.end < c.end {
				covered = true
				break
			}
		}
		if !covered {
			t.Fatalf("call %d (%d..%d) returned without an fsync started after it", i, c.start, c.end)
		}
	}
	t.Logf("%d callers, %d fsyncs", n, syncs.Load())
	// Observe (lmtpd's batch-size metric) sees every fsync, and every
	// caller in exactly one batch.
	if batches.Load() != syncs.Load() || batchSum.Load() != n {
		t.Errorf("Observe: %d batches summing to %d; want %d batches summing to %d",
			batches.Load(), batchSum.Load(), syncs.Load(), n)
	}
	if len(g.dirs) != 0 {
		t.Errorf("%d directory entries left", len(g.dirs))
	}
}

func TestGroupSyncError(t *testing.T) {
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	g := NewGroupSync()
	boom := errors.New("EIO")
	g.sync = func(*os.File) error { return boom }
	if err := g.Sync(dir); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	g.sync = (*os.File).Sync
	if err := g.Sync(dir); err != nil {
		t.Fatal(err)
	}
}
