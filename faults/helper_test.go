//go:build faults

package faults

import (
	"fmt"
	"os"
)

// helperEnv makes the test binary one of the suite's helpers instead of
// the suite: the mailbox owner's attacks run as that uid in a process of
// their own.
const helperEnv = "FAULTS_HELPER"

func helperMain(name string, args []string) int {
	switch name {
	default:
		fmt.Fprintln(os.Stderr, "faults: unknown helper", name)
		return 2
	}
}
