package privilege

import (
	"os"
	"runtime"
	"testing"
)

// The two benchmarks below are the measurement behind not building a
// per-uid pool of threads kept in the mailbox owner's identity (issue 16,
// bench/README.md "CPU per delivery"): such a pool saves Run's switch and
// switch-back, but every delivery then hands its work to a goroutine
// locked to the pool's thread and waits for it, and the Go runtime moves a
// locked goroutine only by waking its own thread and parking the current
// one. Compare the two figures on the machine in question:
//
//	sudo go test -run XXX -bench . ./internal/privilege

// BenchmarkRun is one identity switch and back around an empty function,
// as every delivery of lmtpd running as root pays it.
func BenchmarkRun(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: a non-root Run does not switch")
	}
	for b.Loop() {
		if err := Run(5000, 5000, func() error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLockedWorkerHandoff is what a pool would pay instead: a job
// sent to a goroutine locked to its OS thread (kept in one identity) and
// its answer received, with the thread already switched.
func BenchmarkLockedWorkerHandoff(b *testing.B) {
	jobs := make(chan chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for done := range jobs {
			done <- struct{}{}
		}
	}()
	defer close(jobs)
	done := make(chan struct{})
	for b.Loop() {
		jobs <- done
		<-done
	}
}
