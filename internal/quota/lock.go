package quota

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Locking between maildeliver processes (Dovecot and Courier take no lock;
// this only makes our own writers exact, see doc.go).
//
// The lock is flock(2) on a private descriptor of the maildir root
// directory, so no file is added to the maildir. A delivery holds it shared
// from Reserve until Commit or Release (a Reservation); a recalculation holds it exclusive only while it
// checks that nothing changed during its count and renames the new
// maildirsize into place, and only ever tries (LOCK_NB), so nothing of ours
// ever waits for a delivery. Where flock does not work (some network file
// systems) everything proceeds unlocked, with Courier's guarantees.
//
// The directory belongs to the mailbox owner, who can flock it too, and
// hold it for ever: flock(2) has no timeout, so every wait here is LOCK_NB
// polled with a growing pause until the caller's context is done.

// noLock is a lock descriptor standing for "locking unsupported".
const noLock = -1

// ErrLocked means the maildir's lock could not be had in time: another
// process (a recalculation, or anyone who can flock the maildir root, such
// as its owner) holds it. The delivery is to be retried later.
var ErrLocked = errors.New("quota: maildir locked by another process")

// Pauses between two LOCK_NB attempts: short at first (a recalculation
// holds the lock for one rename), longer while the holder stays.
const (
	lockPauseMin = time.Millisecond
	lockPauseMax = 100 * time.Millisecond
)

// lockRoot opens the root directory again and flocks it with how, without
// waiting. busy reports that another holder conflicts.
func lockRoot(root int, how int) (fd int, busy bool) {
	fd, err := unix.Openat(root, ".", openDirFlags, 0)
	if err != nil {
		return noLock, false
	}
	if busy, err := tryFlock(fd, how|unix.LOCK_NB); err != nil || busy {
		unix.Close(fd)
		return noLock, busy
	}
	return fd, false
}

// lockRootWait is lockRoot that waits for a busy lock until ctx is done,
// then fails with ErrLocked. A lock that flock cannot take at all (not
// supported) is noLock and no error, as in lockRoot.
func lockRootWait(ctx context.Context, root int, how int) (int, error) {
	fd, err := unix.Openat(root, ".", openDirFlags, 0)
	if err != nil {
		return noLock, nil
	}
	pause := lockPauseMin
	var timer *time.Timer
	for {
		busy, err := tryFlock(fd, how|unix.LOCK_NB)
		if err != nil || !busy {
			if err != nil {
				unix.Close(fd)
				return noLock, nil
			}
			return fd, nil
		}
		if timer == nil {
			timer = time.NewTimer(pause)
			defer timer.Stop()
		} else {
			timer.Reset(pause)
		}
		select {
		case <-ctx.Done():
			unix.Close(fd)
			return noLock, fmt.Errorf("%w (%w)", ErrLocked, context.Cause(ctx))
		case <-timer.C:
		}
		pause = min(2*pause, lockPauseMax)
	}
}

// tryFlock is flock(2) retried on EINTR; busy is EWOULDBLOCK.
func tryFlock(fd, how int) (busy bool, err error) {
	for {
		err = unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}

// unlock releases a lock taken by lockRoot.
func unlock(fd int) {
	if fd != noLock {
		unix.Close(fd) // closing the only descriptor drops the flock
	}
}
