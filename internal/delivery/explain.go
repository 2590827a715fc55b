package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"maildeliver/internal/lmtpproxy"
	"maildeliver/internal/location"
	"maildeliver/internal/lookup"
	"maildeliver/internal/maildir"
	"maildeliver/internal/message"
	"maildeliver/internal/privilege"
	"maildeliver/internal/quota"
	"maildeliver/internal/status"
	"maildeliver/internal/trace"
)

// deliver -explain: what Resolve reports to a trace observer beyond the
// lookup's own steps (where each decided value came from), and Explain,
// the checks Deliver makes before it writes, made without writing.

func traceCanonical(ctx context.Context, format, canon string) {
	if format == "" {
		trace.Step(ctx, "canonical", "<%s> (no [userdb] username_format: as given)", canon)
		return
	}
	trace.Step(ctx, "canonical", "<%s> ([userdb] username_format %q)", canon, format)
}

// ownerSource says where the uid and gid came from.
func ownerSource(u *lookup.User) string {
	src := func(id int64, key string) string {
		if id == lookup.NoID {
			return "[mail] " + key
		}
		return "userdb " + key + " column"
	}
	return "uid from " + src(u.UID, "uid") + ", gid from " + src(u.GID, "gid")
}

func (a *Agent) traceMailbox(ctx context.Context, u *lookup.User, m location.Mailbox) {
	if !trace.On(ctx) {
		return
	}
	from := "[mail] location"
	if u.Mail != "" {
		from = "userdb mail column"
	}
	inbox := ""
	if m.Inbox != "" {
		inbox = ", INBOX " + m.Inbox
	}
	trace.Step(ctx, "maildir", "%s (layout %s, from the %s, home %q%s)", m.Root, m.Naming.Layout, from, u.Home, inbox)
}

// ExplainRequest is what deliver -explain is asked: a delivery as Pipe
// would make it, with or without the message.
type ExplainRequest struct {
	Recipient string // -explain ADDRESS
	Folder    string // -m
	// Message is the message (deliver -p FILE), or nil: then the loop
	// check is skipped and quota is checked for a one-byte message.
	Message io.Reader
	MaxSize int64 // [mail] max_message_size; 0 = unlimited
}

// Explain makes every decision Pipe makes for one recipient, in Pipe's
// order and with the same functions, and writes nothing: Resolve, the
// message (size, loop check), the ownership of the mailbox directories,
// the folder, quota (maildirsize read, never rewritten) and Sieve. Each
// step is reported to ctx's trace observer. It returns the target (nil
// when Resolve failed) and a nil error when Pipe would deliver, else the
// error Pipe would return.
func (a *Agent) Explain(ctx context.Context, r ExplainRequest) (*Target, error) {
	f, err := a.Lookup(ctx, r.Recipient)
	if err != nil {
		return nil, err
	}
	lmtpproxy.Explain(ctx, a.cfg.LMTP, r.Recipient, f.User)
	t, err := a.ResolveFound(ctx, r.Recipient, f, r.Folder)
	if err != nil {
		return nil, err
	}
	size := int64(1)
	if r.Message != nil {
		if size, err = a.explainMessage(ctx, t, r); err != nil {
			return t, err
		}
	} else {
		trace.Step(ctx, "message", "none given (-p FILE): no loop check, quota checked for a 1-byte message")
	}
	if problems := a.CheckMailbox(ctx, t); len(problems) > 0 {
		return t, status.Temp("mailbox not usable by its owner").Wrap(errors.New(strings.Join(problems, "; ")))
	}
	if err := a.explainFolder(ctx, t); err != nil {
		return t, err
	}
	if err := a.explainQuota(ctx, t, size); err != nil {
		return t, err
	}
	if d, ok := a.decider.(Describer); ok {
		trace.Step(ctx, "sieve", "%s", d.Describe(t))
	} else {
		trace.Step(ctx, "sieve", "off ([sieve] enabled = false)")
	}
	return t, nil
}

// Describer is a Decider that can say for -explain what it would run for
// t (Sieve: the scripts, in order).
type Describer interface {
	Describe(t *Target) string
}

// explainMessage reads the message as Pipe does and returns the size the
// stored file would have; a message that loops for t fails as in Deliver.
func (a *Agent) explainMessage(ctx context.Context, t *Target, r ExplainRequest) (int64, error) {
	in := r.Message
	if r.MaxSize > 0 {
		in = &limitReader{r: in, left: r.MaxSize}
	}
	h, body, err := message.Parse(in)
	if err != nil {
		return 0, status.From(err)
	}
	n, err := io.Copy(io.Discard, body)
	if err != nil {
		return 0, status.From(err)
	}
	fields, loop := h.For(t.Recipient)
	size := int64(len(a.prefix(t, Request{Sender: MessageSender(h)}))+len(fields)) + n
	trace.Step(ctx, "message", "Message-ID %q, %d bytes as stored", h.MessageID, size)
	if loop {
		trace.Step(ctx, "loop", "the message already has Delivered-To: %s", t.Recipient)
		return 0, status.Loop(t.Recipient)
	}
	trace.Step(ctx, "loop", "no Delivered-To: %s in the message", t.Recipient)
	return size, nil
}

// explainFolder reports whether t's folder exists; Deliver creates a
// missing one ([mail] autocreate) or delivers to INBOX instead, and so
// does t then.
func (a *Agent) explainFolder(ctx context.Context, t *Target) error {
	if t.FolderDir == "" {
		return nil
	}
	return privilege.Run(t.UID, t.GID, func() error {
		var st unix.Stat_t
		err := unix.Lstat(filepath.Join(t.Maildir, t.FolderDir), &st)
		switch {
		case err == nil:
			trace.Step(ctx, "folder", "%s exists", t.FolderDir)
		case a.cfg.Mail.Autocreate:
			trace.Step(ctx, "folder", "%s does not exist: delivery creates it ([mail] autocreate)", t.FolderDir)
		default:
			trace.Step(ctx, "folder", "%s does not exist and [mail] autocreate is off: INBOX", t.FolderDir)
			t.FolderPath, t.FolderDir, t.Folder = maildir.FolderPath{}, "", ""
		}
		return nil
	})
}

// explainQuota is reserveQuota without writing: quota.Peek on the maildir
// as its owner; a maildir that does not exist yet holds nothing.
func (a *Agent) explainQuota(ctx context.Context, t *Target, size int64) error {
	if t.Quota.Unlimited() {
		trace.Step(ctx, "quota", "unlimited")
		return nil
	}
	var p quota.Peeked
	var qerr error
	from := "maildirsize"
	err := privilege.Run(t.UID, t.GID, func() error {
		fd, err := unix.Open(t.Maildir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			from = "the maildir does not exist yet"
			p, qerr = quota.Peeked{}, quota.Fits(quota.Usage{}, t.Quota, a.grace(), size)
			return nil
		}
		if err != nil {
			return fmt.Errorf("open %s: %w", t.Maildir, err)
		}
		root := os.NewFile(uintptr(fd), t.Maildir)
		defer root.Close()
		p, qerr = quota.Peek(root, t.Quota, a.grace(), size)
		return nil
	})
	if err != nil {
		return status.From(err)
	}
	if qerr != nil && !errors.Is(qerr, quota.ErrOverQuota) {
		trace.Step(ctx, "quota", "limit %s, usage cannot be read", t.Quota)
		return a.quotaError(t, qerr)
	}
	if p.Recounted {
		from = "counted: maildirsize missing, stale or for another limit; delivery rewrites it"
	}
	verdict := "fits"
	if errors.Is(qerr, quota.ErrOverQuota) {
		verdict = "does not fit"
	}
	trace.Step(ctx, "quota", "limit %s, used %d bytes %d messages (%s); a %d-byte message %s",
		t.Quota, p.Usage.Bytes, p.Usage.Messages, from, size, verdict)
	return a.quotaError(t, qerr)
}
