//go:build faultinject

package main

import (
	"io"
	"os"
)

// Test builds only: MAILDELIVER_FAULT=panic makes reading the message panic
// inside the delivery (on the mailbox owner's thread when run as root), to
// prove a panic ends as exit 75, never Go's exit 2.
func init() {
	if os.Getenv("MAILDELIVER_FAULT") == "panic" {
		wrapInput = func(io.Reader) io.Reader { return panicReader{} }
	}
}

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("injected fault") }
