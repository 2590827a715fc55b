package lmtp

import (
	"testing"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/status"
)

// TestReplyZeroStatus: the zero status.Error (and one with only a reason)
// is a temporary failure on the wire, never 250 or a bounce.
func TestReplyZeroStatus(t *testing.T) {
	for _, e := range []*status.Error{{}, {Reason: "x"}, {Exit: status.ExitOK}} {
		r := reply(e, "ID")
		if r.Code != status.CodeTempLocal || r.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
			t.Errorf("reply(%+v) = %d %v, want 451 4.3.0", e, r.Code, r.EnhancedCode)
		}
	}
}
