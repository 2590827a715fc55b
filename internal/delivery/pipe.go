package delivery

import (
	"context"
	"io"
	"time"

	"maildeliver/internal/message"
	"maildeliver/internal/privilege"
	"maildeliver/internal/status"
)

// PipeRequest is one pipe-mode delivery (deliver's command line).
type PipeRequest struct {
	Sender        string // -f; "" or "<>" is the null sender
	Recipient     string // -d
	OrigRecipient string // -a
	Folder        string // -m; "" = INBOX (or the +detail folder)
	MaxSize       int64  // [mail] max_message_size; 0 = unlimited
}

// Pipe delivers one message read from in for one recipient, as deliver
// does: validate, look up, drop the process to the mailbox owner (when
// root), stream the message into the maildir. The outcome is logged once.
func (a *Agent) Pipe(ctx context.Context, p PipeRequest, in io.Reader) (res Result, err error) {
	start := time.Now()
	id := NewID()
	sender := NormalizeSender(p.Sender)
	var msgID string
	defer func() {
		a.Report(Outcome{ID: id, MessageID: msgID, Sender: sender, Recipient: p.Recipient,
			Result: res, Err: err, Start: start})
		if err != nil {
			err = status.From(err)
		}
	}()
	if err := CheckSender(sender); err != nil {
		return Result{}, err
	}
	t, err := a.Resolve(ctx, p.Recipient, p.Folder)
	if err != nil {
		return Result{}, err
	}
	// Process-wide, before the message or the mailbox is touched: the rest
	// of this process runs as the mailbox owner.
	if err := privilege.Drop(t.UID, t.GID); err != nil {
		return Result{}, classify(err)
	}
	if p.MaxSize > 0 {
		in = &limitReader{r: in, left: p.MaxSize}
	}
	h, body, err := message.Parse(in)
	if err != nil {
		return Result{}, status.From(err)
	}
	msgID = h.MessageID
	return a.Deliver(ctx, t, Request{ID: id, Sender: sender, OrigRecipient: p.OrigRecipient}, h, body)
}

// limitReader fails with status.TooBig once more than left bytes are read.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, status.TooBig()
	}
	return n, err
}
