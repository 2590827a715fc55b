package delivery

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"maildeliver/internal/quota"
	"maildeliver/internal/status"
)

// QuotaStatus answers the quota policy service (package quotastatus) for
// rcpt: nil when a message of size bytes would fit, else the error a
// delivery would give at RCPT time. It is Resolve and QuotaCheck, the
// same lookup and quota as delivery, with one difference: a question
// must not create a mailbox, so one that does not exist yet is judged
// empty without touching the disk.
func (a *Agent) QuotaStatus(ctx context.Context, rcpt string, size int64) error {
	t, err := a.Resolve(ctx, rcpt, "")
	if err != nil {
		return err
	}
	if t.Quota.Unlimited() {
		return nil
	}
	if _, err := os.Lstat(t.Maildir); errors.Is(err, fs.ErrNotExist) {
		if err := quota.Exceeds(quota.Usage{}, t.Quota, a.grace(), size); err != nil {
			return status.OverQuota(t.Recipient, status.QuotaPolicy(a.cfg.Quota.Full)).Wrap(err)
		}
		return nil
	}
	return a.QuotaCheck(ctx, t, size)
}
