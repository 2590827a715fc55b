package delivery

import (
	"context"
	"errors"
	"fmt"
	"os"

	"maildeliver/internal/config"
	"maildeliver/internal/maildir"
	"maildeliver/internal/privilege"
	"maildeliver/internal/quota"
	"maildeliver/internal/status"
)

// reserveQuota reserves room for a message of size bytes in t's mailbox,
// or refuses it with the [quota] full policy's code. The caller commits the
// reservation (the delivery's line in maildirsize) or releases it. The wait
// for the maildir's quota lock ends with ctx or after [quota] lock_timeout,
// whichever comes first: the maildir's owner can hold that lock for ever,
// and a delivery must not (issue 17).
func (a *Agent) reserveQuota(ctx context.Context, root *os.File, t *Target, size int64) (*quota.Reservation, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Quota.LockTimeout.D())
	defer cancel()
	res, _, err := quota.Reserve(ctx, root, t.Quota, a.grace(), size)
	if err != nil {
		return nil, a.quotaError(t, err)
	}
	return res, nil
}

// quotaError is the outcome of a quota check's error (nil for nil): the
// one mapping for delivery, QuotaCheck and Explain.
func (a *Agent) quotaError(t *Target, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, quota.ErrOverQuota):
		return status.OverQuota(t.Recipient, status.QuotaPolicy(a.cfg.Quota.Full)).Wrap(err)
	case errors.Is(err, quota.ErrLocked):
		return status.From(err)
	}
	return status.QuotaUnreadable().Wrap(err)
}

func (a *Agent) grace() config.Grace {
	g, _ := config.ParseGrace(a.cfg.Quota.Grace) // validated at load
	return g
}

// QuotaCheck reports whether a message of size bytes would fit t's
// mailbox, without delivering; lmtpd calls it at RCPT time when the client
// sent SIZE. The error is a *status.Error (5.2.2 or 4.2.2 per [quota] full,
// 4.2.0 when the quota lock is not had within ctx and [quota] lock_timeout).
func (a *Agent) QuotaCheck(ctx context.Context, t *Target, size int64) error {
	if t.Quota.Unlimited() {
		return nil
	}
	err := privilege.Run(t.UID, t.GID, func() error {
		d, err := maildir.OpenOwn(t.Maildir, t.Mailbox.RootOwn, t.UID)
		if err != nil {
			return err
		}
		defer d.Close()
		res, err := a.reserveQuota(ctx, d.Root(), t, size)
		if err != nil {
			return err
		}
		res.Release() // only a question
		return nil
	})
	if err != nil {
		return status.From(err)
	}
	return nil
}

// QuotaReport is what deliver -quota prints.
type QuotaReport struct {
	Recipient string
	Maildir   string
	Limit     quota.Limit
	Usage     quota.Usage
}

func (r QuotaReport) String() string {
	return fmt.Sprintf("recipient=%s maildir=%s limit_bytes=%d limit_messages=%d bytes=%d messages=%d",
		r.Recipient, r.Maildir, r.Limit.Bytes, r.Limit.Messages, r.Usage.Bytes, r.Usage.Messages)
}

// Quota reports rcpt's limit and usage (recounting first when recalc is
// set). As root it drops the process to the mailbox owner, like Pipe.
func (a *Agent) Quota(ctx context.Context, rcpt string, recalc bool) (QuotaReport, error) {
	t, err := a.Resolve(ctx, rcpt, "")
	if err != nil {
		return QuotaReport{}, err
	}
	if err := privilege.Drop(t.UID, t.GID); err != nil {
		return QuotaReport{}, status.From(err)
	}
	r := QuotaReport{Recipient: rcpt, Maildir: t.Maildir, Limit: t.Quota}
	d, err := maildir.OpenOwn(t.Maildir, t.Mailbox.RootOwn, t.UID)
	if err != nil {
		return r, status.From(err)
	}
	defer d.Close()
	if recalc {
		r.Usage, err = quota.Recalculate(d.Root(), t.Quota)
	} else {
		r.Usage, err = quota.Get(d.Root(), t.Quota)
	}
	if err != nil {
		return r, status.QuotaUnreadable().Wrap(err)
	}
	return r, nil
}
