#include "textflag.h"

// The supervising entry point: see supervise.go. Linux amd64 system call
// convention: number in AX, arguments in DI, SI, DX, R10; SYSCALL clobbers
// CX and R11 only. The parent keeps the pid in R12, the number of buffered
// stderr bytes in R13 and "stderr is passed straight through" in R14.
//
// ·sv layout: +0 pipe read fd, +4 pipe write fd, +8 wait status,
// +16 termios scratch (60 bytes), +128 stderr buffer (BUFSZ bytes: a DSN line, or a whole runtime
// traceback, which abnormal exits then drop).

#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_ioctl 16
#define SYS_dup2 33
#define SYS_fork 57
#define SYS_wait4 61
#define SYS_exit_group 231
#define SYS_pipe2 293
#define EINTR -4
#define BUFSZ 65536

GLOBL ·sv(SB), NOPTR, $(128+BUFSZ)

TEXT ·entry(SB), NOSPLIT|NOFRAME, $0
	MOVQ	$0, R14
	MOVQ	$0, R13
	// A terminal on stderr: no pipe, the child writes there itself.
	MOVQ	$SYS_ioctl, AX
	MOVQ	$2, DI
	MOVQ	$0x5401, SI // TCGETS
	LEAQ	·sv+16(SB), DX
	SYSCALL
	CMPQ	AX, $0
	JNE	makepipe
	MOVQ	$1, R14
	JMP	dofork

makepipe:
	MOVQ	$SYS_pipe2, AX
	LEAQ	·sv+0(SB), DI
	MOVQ	$0x80000, SI // O_CLOEXEC
	SYSCALL
	CMPQ	AX, $0
	JNE	nofork

dofork:
	MOVQ	$SYS_fork, AX
	SYSCALL
	CMPQ	AX, $0
	JLT	nofork
	JEQ	child
	MOVQ	AX, R12
	CMPQ	R14, $0
	JNE	wait
	MOVQ	$SYS_close, AX
	MOVL	·sv+4(SB), DI
	SYSCALL

readloop:
	MOVQ	$SYS_read, AX
	MOVL	·sv+0(SB), DI
	LEAQ	·sv+128(SB), SI
	ADDQ	R13, SI
	MOVQ	$BUFSZ, DX
	SUBQ	R13, DX
	SYSCALL
	CMPQ	AX, $EINTR
	JEQ	readloop
	CMPQ	AX, $0
	JLE	wait
	ADDQ	AX, R13
	CMPQ	R13, $BUFSZ
	JLT	readloop
	// More than a DSN line (a log on stderr): pass it on as it comes.
	MOVQ	$SYS_write, AX
	MOVQ	$2, DI
	LEAQ	·sv+128(SB), SI
	MOVQ	R13, DX
	SYSCALL
	MOVQ	$0, R13
	JMP	readloop

wait:
	MOVQ	$SYS_wait4, AX
	MOVQ	R12, DI
	LEAQ	·sv+8(SB), SI
	MOVQ	$0, DX
	MOVQ	$0, R10
	SYSCALL
	CMPQ	AX, $EINTR
	JEQ	wait
	CMPQ	AX, $0
	JLT	abnormal
	MOVL	·sv+8(SB), BX
	MOVL	BX, CX
	ANDL	$0x7f, CX
	CMPL	CX, $0
	JNE	abnormal // killed by a signal
	SHRL	$8, BX
	ANDL	$0xff, BX
	CMPL	BX, $0
	JEQ	passon
	CMPL	BX, $64
	JLT	abnormal
	CMPL	BX, $78
	JGT	abnormal

passon:
	CMPQ	R13, $0
	JEQ	exit
	MOVQ	$SYS_write, AX
	MOVQ	$2, DI
	LEAQ	·sv+128(SB), SI
	MOVQ	R13, DX
	SYSCALL
exit:
	MOVQ	$SYS_exit_group, AX
	MOVQ	BX, DI
	SYSCALL

abnormal:
	MOVQ	·abnormalLine+0(SB), SI
	MOVQ	·abnormalLine+8(SB), DX
	JMP	fail

nofork:
	MOVQ	·noForkLine+0(SB), SI
	MOVQ	·noForkLine+8(SB), DX

fail:
	MOVQ	$SYS_write, AX
	MOVQ	$2, DI
	SYSCALL
	MOVQ	$SYS_exit_group, AX
	MOVQ	$75, DI
	SYSCALL

child:
	CMPQ	R14, $0
	JNE	start
	MOVQ	$SYS_dup2, AX
	MOVL	·sv+4(SB), DI
	MOVQ	$2, SI
	SYSCALL
	// Close both pipe ends, but never fd 2 itself (with fd 2 closed at
	// start, pipe2 may have returned it).
	MOVL	·sv+0(SB), DI
	CMPL	DI, $2
	JEQ	closew
	MOVQ	$SYS_close, AX
	SYSCALL
closew:
	MOVL	·sv+4(SB), DI
	CMPL	DI, $2
	JEQ	start
	MOVQ	$SYS_close, AX
	SYSCALL

start:
	MOVB	$1, ·supervised(SB)
	JMP	_rt0_amd64_linux(SB)
