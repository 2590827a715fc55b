package main

import (
	"strings"
	"testing"

	"maildeliver/internal/status"
)

// The supervisor's fixed lines are what package status renders for a
// temporary failure with the same reason: the code is decided there.
func TestSupervisorLinesAreStatusDSN(t *testing.T) {
	for _, line := range []string{abnormalLine, noForkLine} {
		reason := strings.TrimSuffix(line[len("4.3.0 "):], "\n")
		if want := status.Temp(reason).DSN() + "\n"; line != want {
			t.Errorf("supervisor line %q, status renders %q", line, want)
		}
	}
}
