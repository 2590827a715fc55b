package quota

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// holdLock flocks the maildir root exclusively through a descriptor of its
// own, as another process (the mailbox owner running flock(1)) would: flock
// locks conflict between open file descriptions, even in one process.
func holdLock(t *testing.T, m *testMaildir) (release func()) {
	t.Helper()
	fd, err := unix.Open(m.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	released := false
	release = func() {
		if !released {
			released = true
			unix.Close(fd)
		}
	}
	t.Cleanup(release)
	return release
}

// TestCheckLockWaitIsBounded: a lock held for ever (issue 17 item 1, the
// owner's flock -x on the maildir) makes Check fail with ErrLocked once its
// context is done, instead of blocking in flock(2) for ever.
func TestCheckLockWaitIsBounded(t *testing.T) {
	l := Limit{Bytes: 1 << 20}
	m := newTestMaildir(t)
	m.msg("new/1.host,S=100", 100)
	root := m.open()
	release := holdLock(t, m)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := Reserve(ctx, root, l, Grace{}, 10)
	if !errors.Is(err, ErrLocked) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Check with the maildir locked = %v, want ErrLocked (deadline exceeded)", err)
	}
	if errors.Is(err, ErrOverQuota) {
		t.Fatal("a lock timeout must not look like over quota")
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, _, err := Reserve(cctx, root, l, Grace{}, 10); !errors.Is(err, ErrLocked) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Check with a cancelled context = %v, want ErrLocked (cancelled)", err)
	}
	if busy(t, m.open()) == false {
		t.Fatal("test lock not held")
	}

	// Released while a Check waits: the Check goes through.
	done := make(chan *Reservation, 1)
	go func() {
		res, _, err := Reserve(context.Background(), root, l, Grace{}, 10)
		if err != nil {
			t.Errorf("Reserve after the lock was released: %v", err)
		}
		done <- res
	}()
	release()
	res := <-done
	if !busy(t, m.open()) {
		t.Fatal("reservation not held")
	}
	res.Release()
	if busy(t, m.open()) {
		t.Fatal("reservation not released by Release")
	}
}

// TestAddDoesNotWaitForLock: Add after a Check whose reservation is gone
// (here: none was taken) must not wait for a held lock: the message is
// already in new/.
func TestAddDoesNotWaitForLock(t *testing.T) {
	l := Limit{Bytes: 1 << 20}
	m := newTestMaildir(t)
	m.write(fileName, "1048576S\n0 0\n")
	root := m.open()
	holdLock(t, m)
	if err := Add(root, l, 10, 1); err != nil {
		t.Fatal(err)
	}
	if got := m.maildirsize(); got != "1048576S\n0 0\n10 1\n" {
		t.Fatalf("maildirsize = %q", got)
	}
}

// TestRecountOutsideDeliveryPath (issue 15 item 5): while a recalculation
// counts a maildir whose maildirsize exists, deliveries neither wait for
// it nor get lost by it: the delivery made during the count is seen by the
// recalculation, which then leaves the file (with that delivery's line)
// for a later caller instead of renaming a count that may miss it.
func TestRecountOutsideDeliveryPath(t *testing.T) {
	l := Limit{Bytes: 1 << 20}
	m := newTestMaildir(t)
	m.msg("new/1.host,S=100", 100)
	m.write(fileName, "999S\n100 1\n") // another limit: the next Get recounts
	root := m.open()
	t.Cleanup(func() { testHookAfterCount = nil })
	delivered := false
	testHookAfterCount = func() {
		if delivered {
			return
		}
		delivered = true
		// A delivery while the count runs, in this goroutine: with the
		// count holding the lock this would wait, here until the
		// deadline, and fail.
		d := m.open()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, _, err := Reserve(ctx, d, l, Grace{}, 10)
		if err != nil {
			t.Errorf("Reserve during a recount: %v", err)
			return
		}
		m.msg("new/2.host,S=10", 10)
		if _, err := res.Commit(10, 1); err != nil {
			t.Errorf("Add during a recount: %v", err)
		}
	}
	if _, err := Get(root, l); err != nil {
		t.Fatal(err)
	}
	if !delivered {
		t.Fatal("no recount happened")
	}
	// Whatever the recount decided, the file must not lose the delivery.
	testHookAfterCount = nil
	if u, err := Get(root, l); err != nil || u != (Usage{110, 2}) {
		t.Fatalf("Get after the recount = %+v, %v; want 110 bytes, 2 messages (maildirsize %q)", u, err, m.maildirsize())
	}
	if c, err := parseFile([]byte(m.maildirsize())); err != nil || c.usage != (Usage{110, 2}) || c.limit != l {
		t.Fatalf("maildirsize %q: %+v, %v", m.maildirsize(), c, err)
	}
	m.tmpEmpty()
}

// TestRecountWithoutFileKeepsLock: with no maildirsize there is nothing to
// compare a count with, so that count holds the lock; a Check meanwhile
// waits, within its deadline, and fails with ErrLocked.
func TestRecountWithoutFileKeepsLock(t *testing.T) {
	l := Limit{Bytes: 1 << 20}
	m := newTestMaildir(t)
	m.msg("new/1.host,S=100", 100)
	root := m.open()
	t.Cleanup(func() { testHookAfterCount = nil })
	var checkErr error
	testHookAfterCount = func() {
		testHookAfterCount = nil
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, _, checkErr = Reserve(ctx, m.open(), Limit{Bytes: 1 << 20}, Grace{}, 10)
	}
	if u, err := Get(root, l); err != nil || u != (Usage{100, 1}) {
		t.Fatalf("Get = %+v, %v", u, err)
	}
	if !errors.Is(checkErr, ErrLocked) {
		t.Fatalf("Check during a lock-holding recount = %v, want ErrLocked", checkErr)
	}
	if got := m.maildirsize(); got != "1048576S\n100 1\n" {
		t.Fatalf("maildirsize = %q", got)
	}
}
