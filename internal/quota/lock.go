package quota

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"weak"

	"golang.org/x/sys/unix"
)

// Locking between maildeliver processes (Dovecot and Courier take no lock;
// this only makes our own writers exact, see doc.go).
//
// The lock is flock(2) on a private descriptor of the maildir root
// directory, so no file is added to the maildir. A delivery holds it shared
// from Check until Add; a recalculation holds it exclusive while it counts
// and replaces maildirsize, and only ever tries (LOCK_NB), so nothing ever
// waits for a delivery. Where flock does not work (some network file
// systems) everything proceeds unlocked, with Courier's guarantees.

// noLock is a lock descriptor standing for "locking unsupported".
const noLock = -1

// lockRoot opens the root directory again and flocks it with how. busy
// reports that a LOCK_NB request conflicts with another holder.
func lockRoot(root int, how int) (fd int, busy bool) {
	fd, err := unix.Openat(root, ".", openDirFlags, 0)
	if err != nil {
		return noLock, false
	}
	for {
		err = unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return noLock, errors.Is(err, unix.EWOULDBLOCK)
	}
	return fd, false
}

// unlock releases a lock taken by lockRoot.
func unlock(fd int) {
	if fd != noLock {
		unix.Close(fd) // closing the only descriptor drops the flock
	}
}

// reservations are the shared locks Check took and Add has not released
// yet, per root handle. A reservation whose Add never comes is released
// when the root *os.File is garbage collected.
var reservations struct {
	mu sync.Mutex
	m  map[weak.Pointer[os.File]][]int
}

// reserve records a shared lock for root.
func reserve(root *os.File, fd int) {
	if fd == noLock {
		return
	}
	key := weak.Make(root)
	reservations.mu.Lock()
	defer reservations.mu.Unlock()
	if reservations.m == nil {
		reservations.m = make(map[weak.Pointer[os.File]][]int)
	}
	if _, seen := reservations.m[key]; !seen {
		runtime.AddCleanup(root, dropReservations, key)
	}
	reservations.m[key] = append(reservations.m[key], fd)
}

// takeReservation removes and returns one shared lock recorded for root,
// or noLock.
func takeReservation(root *os.File) int {
	key := weak.Make(root)
	reservations.mu.Lock()
	defer reservations.mu.Unlock()
	fds := reservations.m[key]
	if len(fds) == 0 {
		return noLock
	}
	fd := fds[len(fds)-1]
	reservations.m[key] = fds[:len(fds)-1]
	return fd
}

// dropReservations runs once root is unreachable.
func dropReservations(key weak.Pointer[os.File]) {
	reservations.mu.Lock()
	fds := reservations.m[key]
	delete(reservations.m, key)
	reservations.mu.Unlock()
	for _, fd := range fds {
		unlock(fd)
	}
}
