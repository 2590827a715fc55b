package quotastatus

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"maildeliver/internal/quota"
	"maildeliver/internal/status"
)

// The decision table: only the delivery's own over-quota refusal rejects;
// everything else is DUNNO.
func TestDecide(t *testing.T) {
	over := fmt.Errorf("%w: 3000 bytes used, limit 2048", quota.ErrOverQuota)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"fits", nil, "DUNNO"},
		{"over, bounce", status.OverQuota("a@b", status.QuotaBounce).Wrap(over), "552 5.2.2 <a@b>: mailbox is full"},
		{"over, defer", status.OverQuota("a@b", status.QuotaDefer).Wrap(over), "452 4.2.2 <a@b>: mailbox is full"},
		{"over, wrapped again", fmt.Errorf("x: %w", status.OverQuota("a@b", status.QuotaBounce).Wrap(over)), "552 5.2.2 <a@b>: mailbox is full"},
		{"unknown user", status.UserUnknown("a@b"), "DUNNO"},
		{"lookup failed", status.Temp("user lookup failed").Wrap(errors.New("connection refused")), "DUNNO"},
		{"quota lock busy", status.TempCode(451, "4.2.0", "mailbox is locked").Wrap(quota.ErrLocked), "DUNNO"},
		{"maildir unreadable", status.Temp("cannot read the mailbox quota").Wrap(errors.New("EIO")), "DUNNO"},
		{"bad recipient", status.BadRecipient("address contains CR, LF or NUL"), "DUNNO"},
		{"timeout", context.DeadlineExceeded, "DUNNO"},
		{"bare over-quota error", over, "DUNNO"},
		{"5.2.2 status without the quota cause", status.OverQuota("a@b", status.QuotaBounce), "DUNNO"},
		{"other 5xx carrying the quota cause", status.UserUnknown("a@b").Wrap(over), "DUNNO"},
		{"reason with a newline", status.OverQuota("a\n@b", status.QuotaBounce).Wrap(over), "552 5.2.2 <a @b>: mailbox is full"},
	} {
		if got := Decide(tc.err); got != tc.want {
			t.Errorf("%s: Decide = %q, want %q", tc.name, got, tc.want)
		}
	}
}
