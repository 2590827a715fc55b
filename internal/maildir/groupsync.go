package maildir

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// GroupSync coalesces the fsyncs of one directory requested by concurrent
// deliveries (group commit). A delivery needs an fsync of new/ that starts
// after its rename; when one is already running, the delivery waits for the
// next one, which a single caller then runs for everybody who arrived in
// the meantime. Nobody returns before an fsync that covers its rename has
// completed, and everybody covered by a failed fsync gets its error.
//
// This keeps the promise of Deliver (nothing acknowledged before new/ is
// durable) while letting 32 concurrent deliveries into one mailbox share a
// handful of directory fsyncs instead of queueing 32 of them.
type GroupSync struct {
	mu   sync.Mutex
	dirs map[dirKey]*dirSync
	sync func(*os.File) error // (*os.File).Sync; replaced in tests
	// Observe, if set, is told how many deliveries each fsync covers
	// (lmtpd's metrics). Set it before the first Sync.
	Observe func(batch int)
}

type dirKey struct{ dev, ino uint64 }

type dirSync struct {
	cond    *sync.Cond
	started uint64 // fsyncs started
	done    uint64 // fsyncs completed (the last completed is number done)
	running bool
	lastErr error // result of fsync number done
	waiters int
	next    int // waiters covered by the fsync not yet started (Observe)
}

// NewGroupSync returns an empty GroupSync.
func NewGroupSync() *GroupSync {
	return &GroupSync{dirs: map[dirKey]*dirSync{}, sync: (*os.File).Sync}
}

// Sync returns once an fsync of dir that started after the call has
// completed; its error is that fsync's.
func (g *GroupSync) Sync(dir *os.File) error { return g.sync1(dir, true) }

// syncCreated is Sync for a directory a new mailbox needed (pending.go),
// not counted in Observe: that counts deliveries per fsync of new/.
func (g *GroupSync) syncCreated(dir *os.File) error { return g.sync1(dir, false) }

func (g *GroupSync) sync1(dir *os.File, observe bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		return err
	}
	key := dirKey{uint64(st.Dev), st.Ino}
	g.mu.Lock()
	d := g.dirs[key]
	if d == nil {
		d = &dirSync{cond: sync.NewCond(&g.mu)}
		g.dirs[key] = d
	}
	d.waiters++
	if observe {
		d.next++
	}
	// The fsync that covers us is the next one to start.
	target := d.started + 1
	for d.done < target {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		n := d.started
		batch := d.next // those who arrived since the last fsync started
		d.next = 0
		g.mu.Unlock()
		if g.Observe != nil && batch > 0 {
			g.Observe(batch)
		}
		err := g.sync(dir)
		g.mu.Lock()
		d.running = false
		d.done, d.lastErr = n, err
		d.cond.Broadcast()
	}
	err := d.lastErr
	d.waiters--
	if d.waiters == 0 && !d.running {
		delete(g.dirs, key) // keep the map to directories in use
	}
	g.mu.Unlock()
	return err
}
