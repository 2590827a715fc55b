package delivery

import (
	"context"
	"errors"
	"io/fs"
	"os"
)

// QuotaStatus answers the quota policy service (package quotastatus) for
// rcpt: nil when a message of size bytes would fit, else the error a
// delivery would give at RCPT time. It is Resolve and QuotaCheck, the
// same lookup and quota as delivery, with one difference: a mailbox that
// does not exist yet holds nothing, so the message fits, and a question
// must not create it.
func (a *Agent) QuotaStatus(ctx context.Context, rcpt string, size int64) error {
	t, err := a.Resolve(ctx, rcpt, "")
	if err != nil {
		return err
	}
	if t.Quota.Unlimited() {
		return nil
	}
	if _, err := os.Lstat(t.Maildir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return a.QuotaCheck(ctx, t, size)
}
