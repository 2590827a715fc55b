package privilege

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Capabilities root keeps after DropCapabilities: switching a thread's
// file-system identity (setfsuid, setfsgid, setgroups) and nothing else.
const (
	capSetgid = unix.CAP_SETGID
	capSetuid = unix.CAP_SETUID
	keepCaps  = uint64(1)<<capSetgid | uint64(1)<<capSetuid
)

// ErrCapabilities: the capability sets could not be changed.
var ErrCapabilities = errors.New("privilege: cannot drop capabilities")

// capSets is one thread's permitted, effective and inheritable sets.
type capSets struct{ eff, perm, inh uint64 }

func capget() (capSets, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var d [2]unix.CapUserData
	if err := unix.Capget(&hdr, &d[0]); err != nil {
		return capSets{}, err
	}
	return capSets{
		eff:  uint64(d[0].Effective) | uint64(d[1].Effective)<<32,
		perm: uint64(d[0].Permitted) | uint64(d[1].Permitted)<<32,
		inh:  uint64(d[0].Inheritable) | uint64(d[1].Inheritable)<<32,
	}, nil
}

// capData is c in capset(2)'s layout (version 3: two 32-bit halves).
func capData(c capSets) [2]unix.CapUserData {
	return [2]unix.CapUserData{
		{Effective: uint32(c.eff), Permitted: uint32(c.perm), Inheritable: uint32(c.inh)},
		{Effective: uint32(c.eff >> 32), Permitted: uint32(c.perm >> 32), Inheritable: uint32(c.inh >> 32)},
	}
}

// capset sets the calling thread's sets only (capset(2) is per thread).
func capset(c capSets) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	d := capData(c)
	return unix.Capset(&hdr, &d[0])
}

// DropCapabilities reduces a root process to the capabilities Run needs
// (CAP_SETUID, CAP_SETGID) on every thread: permitted and effective sets,
// and the bounding set, so that not even an exec could get the rest back.
// lmtpd calls it once its sockets are bound and owned: root's other
// powers (CAP_SYS_RESOURCE, which lets writes eat ext4's reserved blocks
// and ignore quota limits; CAP_SYS_ADMIN; CAP_DAC_OVERRIDE...) are of no
// use to a process that only writes mailboxes as their owners. The uid
// stays 0, so files root reads after this (a reloaded configuration, a
// SQLite userdb, the spool) must be readable by uid 0 through their
// permissions. A process that is not root is left alone.
//
// It needs a Go binary without cgo (syscall.AllThreadsSyscall; the
// shipped static build); otherwise it returns an error and Run still
// clears the delivering thread's effective set while it writes.
func DropCapabilities() error {
	if os.Geteuid() != 0 {
		return nil
	}
	last, err := lastCap()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCapabilities, err)
	}
	for c := 0; c <= last; c++ {
		if keepCaps&(uint64(1)<<c) != 0 {
			continue
		}
		_, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0)
		if e != 0 {
			return fmt.Errorf("%w: drop capability %d from the bounding set: %v", ErrCapabilities, c, e)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	d := capData(capSets{eff: keepCaps, perm: keepCaps})
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&d[0])), 0); e != 0 {
		return fmt.Errorf("%w: capset: %v", ErrCapabilities, e)
	}
	return nil
}

// lastCap is the highest capability number this kernel knows.
func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
