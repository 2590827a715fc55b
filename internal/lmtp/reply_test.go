package lmtp

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/status"
)

// TestReply covers every outcome of SPEC's lmtpd table as it leaves reply,
// and the invariants: temporary never 5xx, no internal text, id appended.
func TestReply(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
		enh  smtp.EnhancedCode
		text string
	}{
		{"unknown user", status.UserUnknown("bob@example.org"), 550, smtp.EnhancedCode{5, 1, 1}, "<bob@example.org>: user unknown [ID]"},
		{"userdb down", status.Temp("user lookup failed").Wrap(errors.New("dial tcp 10.0.0.1:5432: password=x")), 451, smtp.EnhancedCode{4, 3, 0}, "user lookup failed [ID]"},
		{"over quota bounce", status.OverQuota("a@b", status.QuotaBounce), 552, smtp.EnhancedCode{5, 2, 2}, "<a@b>: mailbox is full [ID]"},
		{"over quota defer", status.OverQuota("a@b", status.QuotaDefer), 452, smtp.EnhancedCode{4, 2, 2}, "<a@b>: mailbox is full [ID]"},
		{"too many recipients", status.TooManyRecipients(), 452, smtp.EnhancedCode{4, 5, 3}, "too many recipients [ID]"},
		{"too big", status.TooBigLMTP(), 552, smtp.EnhancedCode{5, 3, 4}, "message exceeds the size limit [ID]"},
		{"loop", status.Loop("a@b"), 554, smtp.EnhancedCode{5, 4, 6}, "<a@b>: mail forwarding loop detected [ID]"},
		{"disk full", fmt.Errorf("write: %w", syscall.ENOSPC), 452, smtp.EnhancedCode{4, 3, 1}, "mail system full [ID]"},
		{"I/O error", syscall.EIO, 451, smtp.EnhancedCode{4, 3, 0}, "I/O error [ID]"},
		{"plain error", errors.New("secret internal detail"), 451, smtp.EnhancedCode{4, 3, 0}, "temporary local failure [ID]"},
		{"data timeout", errDataTime, 451, smtp.EnhancedCode{4, 4, 2}, "timeout waiting for message data [ID]"},
		{"temporary with 5xx code", &status.Error{Code: 550, Enhanced: "4.2.0", Reason: "x"}, 451, smtp.EnhancedCode{4, 2, 0}, "x [ID]"},
		{"permanent with 4xx code", &status.Error{Code: 452, Enhanced: "5.2.0", Reason: "x"}, 452, smtp.EnhancedCode{4, 2, 0}, "x [ID]"},
		{"bad enhanced code", &status.Error{Code: 550, Enhanced: "5.1", Reason: "x"}, 451, smtp.EnhancedCode{4, 3, 0}, "x [ID]"},
		{"success code on an error", &status.Error{Code: 250, Enhanced: "2.0.0", Reason: "x"}, 451, smtp.EnhancedCode{4, 3, 0}, "x [ID]"},
		{"header injection", &status.Error{Code: 550, Enhanced: "5.1.1", Reason: "a\r\n250 ok"}, 550, smtp.EnhancedCode{5, 1, 1}, "a  250 ok [ID]"},
		{"nil", nil, 451, smtp.EnhancedCode{4, 3, 0}, "internal error, try again later [ID]"},
	} {
		r := reply(tc.err, "ID")
		if r.Code != tc.code || r.EnhancedCode != tc.enh || r.Message != tc.text {
			t.Errorf("%s: got %d %v %q, want %d %v %q", tc.name, r.Code, r.EnhancedCode, r.Message, tc.code, tc.enh, tc.text)
		}
		if r.EnhancedCode[0] == 4 && r.Code >= 500 {
			t.Errorf("%s: temporary answered %d", tc.name, r.Code)
		}
	}
	if r := reply(status.Temp(strings.Repeat("x", 1000)), "ID"); len(r.Message) > maxReason+10 {
		t.Errorf("reason not bounded: %d", len(r.Message))
	}
	if got := rawReply(errTooMany); got != "421 4.3.2 too many connections, try again later\r\n" {
		t.Errorf("rawReply: %q", got)
	}
}
