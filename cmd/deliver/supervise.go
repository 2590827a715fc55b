package main

// Crash supervision (issue 17 item 4). Postfix's pipe(8) bounces a message
// when its command exits with a status outside sysexits(3), and the Go
// runtime exits 2 on a fatal error it cannot recover from: no OS thread
// (RLIMIT_NPROC: "failed to create new OS thread", often before main runs),
// no memory (RLIMIT_AS / ulimit -v), a crash in the runtime. No Go code can
// catch those, not even a re-executing Go parent, whose own runtime start
// fails the same way.
//
// So the binary is linked with its own ELF entry point (-ldflags=-E=main.entry,
// as scripts/build.sh does), a few dozen instructions of assembly that run
// before the Go runtime exists: they fork; the child starts the Go runtime
// as usual, as the real deliver, with its stderr on a pipe to the parent;
// the parent, which never starts a runtime (no threads, no heap), waits.
// An exit status of 0 or 64..78 (sysexits) is passed on with what the
// child wrote to stderr (its DSN line); anything else (a signal, exit 2, a
// failed fork) becomes exit 75 with abnormalLine as the only stderr text,
// so Postfix defers with a proper reason. When stderr is a terminal the
// child writes to it directly (a person is watching, and deliver's auto
// log target checks for a terminal). The cost is one fork of a process
// that has not started its runtime yet; bench/README.md has the figure.

// supervised is set by the entry point in the child; false in a binary
// linked without -E=main.entry or on an architecture without one.
var supervised bool

// Stderr texts of the supervising parent (read by the assembly, so they
// must be initialised statically: string constants are). They are the DSN
// lines of status.Temp with these reasons; supervise_test checks that.
var (
	abnormalLine = "4.3.0 deliver died abnormally (resource limit or internal error), message queued for retry\n"
	noForkLine   = "4.3.0 deliver cannot start a process (resource limit), message queued for retry\n"
)

// supervisionLine is -check's line about it.
func supervisionLine() string {
	if supervised {
		return "# crash supervision: on (a runtime crash or resource limit ends as exit 75)"
	}
	return "# crash supervision: OFF: deliver was not linked with -ldflags=-E=main.entry " +
		"(scripts/build.sh does) or this architecture has no entry point; a Go runtime " +
		"crash (e.g. RLIMIT_NPROC, ulimit -v) exits 2, which Postfix bounces"
}
