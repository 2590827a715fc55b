// Package privilege owns who maildeliver is when it touches a mailbox.
//
// A mailbox is only ever written as its owner, never as root:
//
//   - deliver started as root drops the whole process to the mailbox's
//     uid/gid (Drop: setgroups, setgid, setuid, then verifies it cannot get
//     back) before it opens anything in the mailbox;
//   - lmtpd started as root serves users with different uids at once. Go's
//     setuid is process-wide, so Run switches only the file-system identity
//     (setfsuid/setfsgid and the supplementary groups) of one locked OS
//     thread, clears that thread's effective capability set (so that
//     nothing but the file-system identity decides what the delivery may
//     do: no CAP_SYS_RESOURCE to eat ext4's reserved blocks or ignore
//     quota limits, no CAP_SYS_ADMIN...), runs the delivery on it, and
//     switches back. If switching back fails the thread is discarded,
//     never reused. DropCapabilities reduces the whole process to what
//     that switching needs, once lmtpd's sockets are set up;
//   - a program started for a user (Sieve's sendmail_path) runs as that
//     user: RunCommand switches the child between fork and exec;
//   - a process that is not root (deliver under Postfix's pipe user=vmail,
//     lmtpd as vmail) writes only mailboxes of its own uid: Run refuses any
//     other uid with ErrUIDMismatch, a temporary failure.
package privilege

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrUIDMismatch: a non-root process was asked to write another uid's mailbox.
var ErrUIDMismatch = errors.New("privilege: mailbox uid differs from the process uid and the process is not root")

// ErrSwitch: the identity could not be changed.
var ErrSwitch = errors.New("privilege: cannot switch identity")

// Drop makes the whole process uid/gid with gid as its only group, and
// verifies that it can no longer regain root. For root processes only;
// a non-root process already running as uid is left alone.
func Drop(uid, gid int) error {
	if os.Geteuid() != 0 {
		if os.Geteuid() != uid {
			return fmt.Errorf("%w (process uid %d, mailbox uid %d)", ErrUIDMismatch, os.Geteuid(), uid)
		}
		return nil
	}
	if uid == 0 || gid == 0 {
		return fmt.Errorf("%w: refusing uid/gid 0", ErrSwitch)
	}
	// Go's syscall wrappers apply these to every thread of the process.
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("%w: setgroups: %v", ErrSwitch, err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("%w: setgid: %v", ErrSwitch, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("%w: setuid: %v", ErrSwitch, err)
	}
	if os.Getuid() != uid || os.Geteuid() != uid || os.Getgid() != gid || os.Getegid() != gid {
		return fmt.Errorf("%w: identity not changed", ErrSwitch)
	}
	if err := syscall.Setresuid(0, 0, 0); err == nil {
		return fmt.Errorf("%w: could regain root after dropping", ErrSwitch)
	}
	return nil
}

// Run calls fn with the file-system identity uid/gid. As root, fn runs on a
// fresh locked OS thread whose fsuid/fsgid and groups are switched; fn must
// do its file work on the calling goroutine (it must not hand file
// operations to other goroutines). As non-root, fn runs directly if uid is
// the process's uid.
func Run(uid, gid int, fn func() error) error {
	if os.Geteuid() != 0 {
		if os.Geteuid() != uid {
			return fmt.Errorf("%w (process uid %d, mailbox uid %d)", ErrUIDMismatch, os.Geteuid(), uid)
		}
		return fn()
	}
	if uid == 0 || gid == 0 {
		return fmt.Errorf("%w: refusing uid/gid 0", ErrSwitch)
	}
	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		clean := false
		defer func() {
			if clean {
				runtime.UnlockOSThread()
			}
			// else: exiting while locked makes the runtime discard the
			// thread with its half-switched credentials.
		}()
		groups, err := unix.Getgroups()
		var caps capSets
		if err == nil {
			caps, err = capget()
		}
		if err != nil {
			done <- result{err: fmt.Errorf("%w: getgroups/capget: %v", ErrSwitch, err)}
			clean = true
			return
		}
		back := func() error { return restore(groups, caps) }
		if err := switchTo(uid, gid, caps); err != nil {
			clean = back() == nil
			done <- result{err: err}
			return
		}
		defer func() {
			if p := recover(); p != nil {
				clean = back() == nil
				done <- result{panic: p}
			}
		}()
		err = fn()
		clean = back() == nil
		done <- result{err: err}
	}()
	r := <-done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}

// switchTo sets this thread's groups, fsgid and fsuid, then empties its
// effective capability set (keeping the permitted one, to switch back).
// The raw syscalls affect only the calling thread (unlike
// syscall.Setgroups). The kernel itself clears only the file-system
// capabilities (DAC, FOWNER...) when fsuid leaves 0.
func switchTo(uid, gid int, caps capSets) error {
	if err := setThreadGroups([]int{gid}); err != nil {
		return fmt.Errorf("%w: setgroups: %v", ErrSwitch, err)
	}
	unix.RawSyscall(unix.SYS_SETFSGID, uintptr(gid), 0, 0)
	unix.RawSyscall(unix.SYS_SETFSUID, uintptr(uid), 0, 0)
	// setfs*id return the previous value and never fail visibly: read back.
	if cur, _, _ := unix.RawSyscall(unix.SYS_SETFSGID, ^uintptr(0), 0, 0); int(cur) != gid {
		return fmt.Errorf("%w: fsgid is %d, want %d", ErrSwitch, cur, gid)
	}
	if cur, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, ^uintptr(0), 0, 0); int(cur) != uid {
		return fmt.Errorf("%w: fsuid is %d, want %d", ErrSwitch, cur, uid)
	}
	if err := capset(capSets{perm: caps.perm, inh: caps.inh}); err != nil {
		return fmt.Errorf("%w: clearing the effective capabilities: %v", ErrSwitch, err)
	}
	if now, err := capget(); err != nil || now.eff != 0 {
		return fmt.Errorf("%w: effective capabilities %#x remain (%v)", ErrSwitch, now.eff, err)
	}
	return nil
}

// restore returns the thread to root's file-system identity, groups and
// effective capabilities (raised first: setgroups needs CAP_SETGID).
func restore(groups []int, caps capSets) error {
	if err := capset(caps); err != nil {
		return err
	}
	unix.RawSyscall(unix.SYS_SETFSUID, 0, 0, 0)
	unix.RawSyscall(unix.SYS_SETFSGID, 0, 0, 0)
	if err := setThreadGroups(groups); err != nil {
		return err
	}
	if cur, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, ^uintptr(0), 0, 0); cur != 0 {
		return ErrSwitch
	}
	if cur, _, _ := unix.RawSyscall(unix.SYS_SETFSGID, ^uintptr(0), 0, 0); cur != 0 {
		return ErrSwitch
	}
	// fsuid 0 gave back the file-system capabilities from the permitted
	// set: make the effective set exactly what it was.
	if err := capset(caps); err != nil {
		return err
	}
	if now, err := capget(); err != nil || now != caps {
		return ErrSwitch
	}
	return nil
}

// setThreadGroups is setgroups(2) for the calling thread only.
func setThreadGroups(groups []int) error {
	gs := make([]uint32, len(groups)+1) // +1: never take &gs[0] of an empty slice
	for i, g := range groups {
		gs[i] = uint32(g)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(unsafe.Pointer(&gs[0])), 0); e != 0 {
		return e
	}
	return nil
}
