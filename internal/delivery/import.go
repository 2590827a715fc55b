package delivery

import (
	"context"
	"io"
	"time"

	"maildeliver/internal/maildir"
	"maildeliver/internal/status"
)

// ImportRequest is one message of an import (deliver -import, package
// mailimport) for a recipient already resolved.
type ImportRequest struct {
	ID        string // delivery id
	MessageID string // for the log line
	// Sender is the envelope sender the source recorded (an mbox "From "
	// line), for the log line; with ReturnPath set it is also written as
	// the message's Return-Path field, the one field an import may add.
	Sender     string
	ReturnPath bool
	// Info is the Maildir info to keep ("2," and flags in ascending
	// order): the file goes to cur/ with it. "" stores the message in
	// new/, as a new delivery.
	Info  string
	MTime time.Time // received date to keep; zero = now
}

// Import stores msg, a whole message (LF line endings), as it is for t:
// the same durable write, quota check and maildirsize accounting as
// Deliver, and one log line, but nothing of a new delivery is added (no
// Delivered-To, no Received) and there is no loop check: the message was
// delivered once already, and an archived copy naming this very recipient
// in Delivered-To is the rule, not a loop. Only a Return-Path may be
// prepended (ReturnPath), when the source knew the envelope sender and the
// message kept none.
func (a *Agent) Import(ctx context.Context, t *Target, req ImportRequest, msg io.Reader) (res Result, err error) {
	start := time.Now()
	defer func() {
		a.Report(Outcome{ID: req.ID, MessageID: req.MessageID, Sender: req.Sender, Recipient: t.Recipient,
			Result: res, Err: err, Start: start})
		if err != nil {
			err = status.From(err)
		}
	}()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if err := CheckSender(req.Sender); err != nil {
		return Result{}, err
	}
	if req.Info != "" {
		if err := maildir.CheckInfo(req.Info); err != nil {
			return Result{}, status.Temp("internal error: bad maildir flags").Wrap(err)
		}
	}
	opt := folderOf(t)
	opt.id, opt.info, opt.mtime = req.ID, req.Info, req.MTime
	return a.store(ctx, t, opt, func(w io.Writer) error {
		if req.ReturnPath {
			if _, err := io.WriteString(w, "Return-Path: <"+req.Sender+">\n"); err != nil {
				return err
			}
		}
		_, err := io.Copy(w, msg)
		return err
	})
}
