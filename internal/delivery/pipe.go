package delivery

import (
	"context"
	"io"
	"strings"
	"time"

	"maildeliver/internal/message"
	"maildeliver/internal/privilege"
	"maildeliver/internal/status"
)

// PipeRequest is one pipe-mode delivery (deliver's command line).
type PipeRequest struct {
	Sender string // -f; "" or "<>" is the null sender
	// SenderFromMessage: no -f was given; the sender is taken from the
	// message (see MessageSender) and Sender is ignored.
	SenderFromMessage bool
	Recipient         string // -d
	OrigRecipient     string // -a
	Folder            string // -m; "" = INBOX (or the +detail folder)
	MaxSize           int64  // [mail] max_message_size; 0 = unlimited
	QueueID           string // -q, Postfix's ${queue_id}; checked by the caller (CheckQueueID)
}

// Pipe delivers one message read from in for one recipient, as deliver
// does: validate, look up, drop the process to the mailbox owner (when
// root), stream the message into the maildir. The outcome is logged once.
func (a *Agent) Pipe(ctx context.Context, p PipeRequest, in io.Reader) (res Result, err error) {
	start := time.Now()
	id := NewID()
	sender := NormalizeSender(p.Sender)
	var msgID string
	var t *Target
	defer func() {
		a.Report(Outcome{ID: id, QueueID: p.QueueID, MessageID: msgID, Sender: sender, Recipient: p.Recipient,
			Result: res, Err: err, Start: start, Target: t})
		if err != nil {
			err = status.From(err)
		}
	}()
	if err := CheckSender(sender); err != nil {
		return Result{}, err
	}
	if err := CheckOrigRecipient(p.OrigRecipient); err != nil {
		return Result{}, err
	}
	t, err = a.Resolve(ctx, p.Recipient, p.Folder)
	if err != nil {
		return Result{}, err
	}
	// Process-wide, before the message or the mailbox is touched: the rest
	// of this process runs as the mailbox owner.
	if err := privilege.Drop(t.UID, t.GID); err != nil {
		return Result{}, status.From(err)
	}
	if p.MaxSize > 0 {
		in = &limitReader{r: in, left: p.MaxSize}
	}
	// Read once: a plan of one store streams the body into the maildir;
	// Deliver spools it for a plan of several.
	msg, err := message.ReadStream(in)
	if err != nil {
		return Result{}, status.From(err)
	}
	defer msg.Close()
	msgID = msg.Header.MessageID
	if p.SenderFromMessage {
		sender = MessageSender(msg.Header)
	}
	return a.Deliver(ctx, t, Request{ID: id, Sender: sender, OrigRecipient: p.OrigRecipient}, msg)
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

// MessageSender is the envelope sender of a message delivered without -f:
// its first Return-Path field, else the address of its mbox "From " line,
// else the null sender. dovecot-lda 2.3 (checked on this machine) takes
// the envelope sender from the "From " line and leaves a Return-Path field
// in the stored message as it is; taking Return-Path first makes the
// stored Return-Path the same as Dovecot's whenever the message has one
// (a message with both, as an mbox holds them, then keeps its own). A
// value that fails CheckSender is passed over, never a reason to refuse
// the message.
func MessageSender(h *message.Header) string {
	if h.HasReturnPath && CheckSender(h.ReturnPath) == nil && !strings.ContainsAny(h.ReturnPath, " \t") {
		return h.ReturnPath
	}
	if h.MboxFrom != "" && CheckSender(h.MboxFrom) == nil {
		return h.MboxFrom
	}
	return ""
}
