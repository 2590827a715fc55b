package lmtp

import (
	"os"
	"testing"
)

// requireRoot fails a test that needs root when it runs without: such a
// test skipped silently would leave its path (several uids in one
// transaction, a database cluster run as its own user) untested with a
// green result. MAILDELIVER_ALLOW_NONROOT=1 makes it a visible skip, as in
// the other packages.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if isRoot() {
		return
	}
	if os.Getenv("MAILDELIVER_ALLOW_NONROOT") == "1" {
		t.Skipf("SKIPPED (MAILDELIVER_ALLOW_NONROOT=1): needs root %s", why)
	}
	t.Fatalf("this test needs root %s (set MAILDELIVER_ALLOW_NONROOT=1 to skip)", why)
}

// requireDB is testdb's rule for a database this test cannot run without:
// fail loudly, skip only with MAILDELIVER_SKIP_DB=1.
func requireDB(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("MAILDELIVER_SKIP_DB") == "1" {
		t.Skipf("SKIPPED (MAILDELIVER_SKIP_DB=1): "+format, args...)
	}
	t.Fatalf(format+" (install it, or set MAILDELIVER_SKIP_DB=1 to skip)", args...)
}
