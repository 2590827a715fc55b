package privilege

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// RunCommand runs cmd to completion as uid/gid (gid its only group): a
// program maildeliver starts for a user (Sieve's sendmail_path) runs as
// that user, as Pigeonhole's does inside dovecot-lda and dovecot-lmtp,
// which run as the user. As root the child switches (setgroups, setgid,
// setuid) between fork and exec; lmtpd keeps CAP_SETUID and CAP_SETGID
// for that (DropCapabilities), and the child, no longer uid 0, loses
// every capability at the switch. As non-root, cmd runs as the process,
// which must be uid (else ErrUIDMismatch, as Run).
//
// It may be called inside Run: the child is started from a goroutine of
// its own, which never runs on Run's locked thread (a locked thread runs
// only its goroutine), so the fork is from a thread with root's identity
// and capabilities, which the switch needs, not the user's file-system
// identity with the effective capabilities cleared.
func RunCommand(cmd *exec.Cmd, uid, gid int) error {
	if os.Geteuid() != 0 {
		if os.Geteuid() != uid {
			return fmt.Errorf("%w (process uid %d, mailbox uid %d)", ErrUIDMismatch, os.Geteuid(), uid)
		}
		return cmd.Run()
	}
	if uid == 0 || gid == 0 {
		return fmt.Errorf("%w: refusing uid/gid 0", ErrSwitch)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}
	done := make(chan error, 1)
	go func() { done <- cmd.Run() }()
	return <-done
}
