// Command lmtpd is maildeliver's LMTP server (RFC 2033). Not implemented
// yet: it exits with a temporary-failure status.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "lmtpd: not implemented yet")
	os.Exit(75)
}
