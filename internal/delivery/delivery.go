// Package delivery is the pipeline both binaries share: an envelope and a
// message (message.Message) in, files in a Maildir (or one classified
// failure) out.
//
// For each recipient, top to bottom: Resolve (address checks, userdb
// lookup, owner, maildir path, folder), then Deliver: the loop check, a
// Plan decided by the agent's Decider (plan.go; Sieve plugs in there), and
// each of its actions carried out; a Store is write (create in tmp/, write,
// reserve the quota, commit into new/ with the directory sync, commit the
// reservation) as the mailbox owner. Every failure leaves this package as a
// *status.Error; every outcome is logged once, with the delivery id, by
// Report. The administrator's dry runs (-check -d, -explain) are admin.go.
package delivery

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/location"
	"maildeliver/internal/lookup"
	"maildeliver/internal/maildir"
	"maildeliver/internal/message"
	"maildeliver/internal/privilege"
	"maildeliver/internal/status"
	"maildeliver/internal/trace"
	"maildeliver/internal/uservars"
)

// Agent delivers messages under one configuration.
type Agent struct {
	cfg   *config.Config
	db    lookup.Userdb
	log   *slog.Logger
	namer *maildir.Namer
	// commit makes new/ durable after a rename: one fsync per delivery,
	// or lmtpd's group commit (WithCommit).
	commit maildir.Syncer
	// Compiled once from cfg: the location and username_format. setupErr
	// (only for a cfg that skipped config.Validate) fails every Resolve.
	loc      *location.Location
	username *uservars.Template
	setupErr error
	// observer, if set, is told every outcome Report logs (lmtpd's
	// metrics, WithObserver).
	observer Observer
	// decider decides each delivery's plan (WithDecider; Sieve).
	decider Decider
}

// Option is a dependency NewAgent takes beyond the configuration.
type Option func(*Agent)

// WithCommit makes s the directory sync of every delivery into new/
// (lmtpd's maildir.GroupSync); the default is one fsync per delivery.
func WithCommit(s maildir.Syncer) Option { return func(a *Agent) { a.commit = s } }

// WithObserver makes o see every outcome Report logs.
func WithObserver(o Observer) Option { return func(a *Agent) { a.observer = o } }

// WithDecider makes d decide every delivery's plan (see plan.go: this is
// where a Sieve engine plugs in); the default stores into the folder
// Resolve chose.
func WithDecider(d Decider) Option { return func(a *Agent) { a.decider = d } }

// Observer receives each delivery outcome: result (delivered, discarded,
// deferred, bounced: the log line's), enhanced code, duration and, when delivered, the size written.
// It runs once per recipient, so it must be cheap.
type Observer interface {
	ObserveDelivery(result, code string, d time.Duration, size int64)
}

// NewAgent returns an Agent.
func NewAgent(cfg *config.Config, db lookup.Userdb, log *slog.Logger, opts ...Option) *Agent {
	a := &Agent{cfg: cfg, db: db, log: log, namer: maildir.NewNamer(cfg.Hostname), commit: maildir.FsyncDir,
		decider: folderDecider{}}
	for _, o := range opts {
		o(a)
	}
	a.loc, a.setupErr = cfg.Mail.MailLocation()
	if a.setupErr == nil {
		a.username, a.setupErr = cfg.Userdb.UsernameTemplate()
	}
	return a
}

// Config returns the agent's configuration.
func (a *Agent) Config() *config.Config { return a.cfg }

// Request is one message for one recipient.
type Request struct {
	ID            string // delivery id, shared by a transaction's recipients
	Sender        string // envelope sender, "" for the null sender
	OrigRecipient string // -a / ORCPT; written as X-Original-To when it differs
	Received      string // a complete "Received: ...\n" field to prepend, or ""
}

// Result is a successful delivery: its first store, then the others of
// its plan.
type Result struct {
	Folder string // folder name, "" for INBOX
	File   string // file name in new/
	Size   int64
	Also   []Result // the plan's further stores
	// Discarded: the plan stored nothing and succeeded (Sieve's discard).
	Discarded bool
	Notes     []Note // key=value pairs for the log line (Sieve's sieve=error)
}

// Deliver delivers msg for t, top to bottom: the checks of the fields it
// adds, the plan (the agent's Decider), each action carried out in order
// (carryOut), the result for the one report (the caller's Report). A plan
// with several stores needs a body read more than once: a stream is then
// spooled first (the caller closes msg). A failure after an earlier store
// succeeded is still the recipient's failure; its retry stores again, as
// Dovecot's Sieve does after a failed fileinto.
func (a *Agent) Deliver(ctx context.Context, t *Target, req Request, msg *message.Message) (Result, error) {
	fields, loop := msg.Header.For(t.Recipient)
	if loop {
		return Result{}, status.Loop(t.Recipient)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, status.From(err)
	}
	if err := checkHeaderValues(t, req); err != nil {
		return Result{}, err
	}
	if t.Unusable != "" {
		// dovecot-lda: "save failed to open mailbox ...", then INBOX.
		a.log.Info("folder cannot be used, delivering to INBOX", "id", req.ID, "to", t.Recipient,
			"folder", t.Unusable, "why", refusal(t.Mailbox.Naming, t.Unusable))
	}
	plan, err := a.decider.Decide(ctx, t, req, msg)
	if err != nil {
		return Result{}, status.From(err)
	}
	if r, ok := plan.rejection(); ok {
		return Result{}, status.Rejected(r.Reason)
	}
	if plan.stores() > 1 {
		if err := msg.Spool(os.TempDir()); err != nil {
			return Result{}, status.From(err)
		}
	}
	prefix := a.prefix(t, req)
	var stored []Result
	var notes []Note
	var sends, afters []Action
	for _, act := range plan {
		switch act := act.(type) {
		case Note:
			notes = append(notes, act)
			continue
		case Send:
			sends = append(sends, act)
			continue
		case After:
			afters = append(afters, act)
			continue
		}
		r, err := a.carryOut(ctx, t, req.ID, act, prefix, fields, msg)
		if err != nil {
			return Result{}, err
		}
		stored = append(stored, r)
	}
	if err := a.send(ctx, t, req.ID, sends, len(stored) > 0); err != nil {
		return Result{}, err
	}
	a.after(ctx, t, req.ID, afters)
	if len(stored) == 0 {
		return Result{Discarded: true, Notes: notes}, nil
	}
	res := stored[0]
	res.Also, res.Notes = stored[1:], notes
	return res, nil
}

// send carries out a plan's Sends, after its stores. A failure is the
// recipient's (temporary) only when nothing was stored for it: then the
// retry loses nothing and duplicates nothing stored; else it is logged.
func (a *Agent) send(ctx context.Context, t *Target, id string, sends []Action, stored bool) error {
	for _, act := range sends {
		s := act.(Send)
		err := s.Do(ctx)
		if err == nil {
			continue
		}
		if !stored {
			return status.Temp("outgoing mail of the Sieve script could not be sent").Wrap(fmt.Errorf("%s: %w", s.What, err))
		}
		a.log.Error("could not send, the message is stored", "id", id, "to", t.Recipient, "what", s.What, "error", err)
	}
	return nil
}

// after runs a plan's After actions once the delivery succeeded.
func (a *Agent) after(ctx context.Context, t *Target, id string, afters []Action) {
	for _, act := range afters {
		f := act.(After)
		if err := f.Do(ctx); err != nil {
			a.log.Warn("after delivery", "id", id, "to", t.Recipient, "what", f.What, "error", err)
		}
	}
}

// carryOut does one action of a plan. prefix and fields go before the
// body: the fields this delivery adds, then the message's header section.
func (a *Agent) carryOut(ctx context.Context, t *Target, id string, act Action, prefix string, fields []byte, msg *message.Message) (Result, error) {
	switch act := act.(type) {
	case Store:
		body, err := msg.Body()
		if err != nil {
			return Result{}, status.From(err)
		}
		opt := a.storeTo(ctx, t, act)
		opt.id = id
		if act.Header != nil {
			fields = act.Header
		}
		return a.store(ctx, t, opt, func(w io.Writer) error {
			if _, err := io.WriteString(w, prefix); err != nil {
				return err
			}
			if _, err := w.Write(fields); err != nil {
				return err
			}
			_, err := io.Copy(w, body)
			return err
		})
	}
	return Result{}, status.Internal(fmt.Errorf("delivery: no way to carry out a %T", act))
}

// storeOptions say where and how one message is stored.
type storeOptions struct {
	id     string             // delivery id, for the log
	folder string             // folder name for the log and Result, "" = INBOX
	dir    string             // its directory below the root, "" = INBOX
	path   maildir.FolderPath // its subscription levels
	create bool               // create it when missing (Store.Create)
	info   string             // Maildir info ("2,FLAGS"): the file goes to cur/
	// keywords get their letters in the folder (keywordInfo) and are
	// added to info.
	keywords []string
	mtime    time.Time // the file's mtime (Dovecot's received date), zero = now
}

// folderOf is the store into the folder Resolve chose for t.
func folderOf(t *Target) storeOptions {
	return storeOptions{folder: t.Folder, dir: t.FolderDir, path: t.FolderPath}
}

// storeTo is where a Store action goes: the folder Resolve chose when it
// names that one, else its own name through the mailbox's naming; a name
// that cannot be used is INBOX, as in Resolve.
func (a *Agent) storeTo(ctx context.Context, t *Target, s Store) storeOptions {
	opt := folderOf(t)
	if s.Folder != t.Folder {
		opt = storeOptions{}
		if p, ok := t.Mailbox.Naming.FolderPath(s.Folder); ok && s.Folder != "" {
			opt = storeOptions{folder: s.Folder, dir: p.Dir, path: p}
		} else if s.Folder != "" {
			trace.Step(ctx, "folder", "%q cannot be used as a folder name: INBOX", s.Folder)
		}
	}
	opt.create, opt.info, opt.keywords = s.Create, MaildirInfo(s.Flags), Keywords(s.Flags)
	return opt
}

// store is the one write path of every message: as the mailbox owner, open
// the maildir and the folder (INBOX when the folder is gone and autocreate
// is off), write durably with the quota checked before the file becomes
// visible, then account it in maildirsize.
func (a *Agent) store(ctx context.Context, t *Target, opt storeOptions, write func(io.Writer) error) (Result, error) {
	var res Result
	err := privilege.Run(t.UID, t.GID, func() error {
		d, err := maildir.OpenOwn(t.Maildir, t.Mailbox.RootOwn, t.UID)
		if err != nil {
			return err
		}
		defer d.Close()
		if t.Mailbox.Inbox != "" {
			if err := d.UseInbox(t.Mailbox.Inbox, t.Mailbox.InboxOwn); err != nil {
				return err
			}
		}
		f, err := d.Folder(opt.dir, a.cfg.Mail.Autocreate || opt.create)
		if errors.Is(err, maildir.ErrNoFolder) {
			res.Folder = ""
			f, err = d.Folder("", false)
		} else {
			res.Folder = opt.folder
		}
		if err != nil {
			return err
		}
		defer f.Close()
		a.autosubscribe(d, f, t, opt)
		if len(opt.keywords) > 0 {
			opt.info = a.keywordInfo(f, t, opt)
		}
		w, err := a.write(ctx, d, f, t, opt, write)
		res.File, res.Size = w.Name, w.Size
		return err
	})
	if err != nil {
		return Result{}, status.From(err)
	}
	return res, nil
}

// write is one message into f, top to bottom: create it in tmp/, write
// it, reserve its room in the quota (now that its size is known), commit it
// into new/ (or cur/) with the agent's directory sync, then commit the
// reservation: its line in maildirsize, and a quota warning when that line
// crossed a threshold. A failure before the commit leaves nothing behind.
func (a *Agent) write(ctx context.Context, d *maildir.Dir, f *maildir.Folder, t *Target, opt storeOptions, write func(io.Writer) error) (maildir.Written, error) {
	draft, err := f.Create(a.namer, os.FileMode(a.cfg.Mail.FileMode))
	if err != nil {
		return maildir.Written{}, err
	}
	defer draft.Abort() // nothing after a commit
	if err := write(draft); err != nil {
		return maildir.Written{}, err
	}
	size, err := draft.Finish(opt.mtime)
	if err != nil {
		return maildir.Written{}, err
	}
	rsv, err := a.reserveQuota(ctx, d.Root(), t, size)
	if err != nil {
		return maildir.Written{}, err
	}
	defer rsv.Release() // nothing was delivered
	w, err := draft.Commit(opt.info, a.commit)
	if err != nil {
		return w, err
	}
	if ch, qerr := rsv.Commit(w.Size, 1); qerr != nil {
		// Delivered and durable: a maildirsize that missed this line is
		// corrected by the next recalculation.
		a.log.Warn("maildirsize update failed", "id", opt.id, "to", t.Recipient, "file", w.Name, "error", qerr)
	} else if c := ch.Crossed(a.cfg.QuotaWarnings(), t.Quota); c != nil {
		a.warnQuota(d, t, opt.id, c) // [quota] warning: this delivery crossed one
	}
	return w, nil
}

// keywordInfo is opt.info with the letters of opt.keywords in f's
// dovecot-keywords (maildir.Folder.KeywordLetters), as Dovecot stores
// them. A keyword that cannot be stored is logged and left out, never the
// recipient's failure: the message matters more than its label, and
// Dovecot drops what it cannot store too. With CONTROL= Dovecot reads
// dovecot-keywords from the control directory, which is not written here:
// the keywords are left out rather than given letters it would misread.
func (a *Agent) keywordInfo(f *maildir.Folder, t *Target, opt storeOptions) string {
	if t.Mailbox.Subscriptions.Dir != "" {
		a.log.Warn("keywords not stored: the location has CONTROL=", "id", opt.id, "to", t.Recipient, "keywords", opt.keywords)
		return opt.info
	}
	letters, dropped, err := f.KeywordLetters(opt.keywords, os.FileMode(a.cfg.Mail.FileMode))
	if err != nil {
		a.log.Warn("keywords not stored", "id", opt.id, "to", t.Recipient, "keywords", opt.keywords, "error", err)
		return opt.info
	}
	if len(dropped) > 0 {
		a.log.Warn("keywords not stored: invalid, or the folder has 26 already", "id", opt.id, "to", t.Recipient, "keywords", dropped)
	}
	switch {
	case letters == "":
		return opt.info
	case opt.info == "":
		return "2," + letters
	}
	return opt.info + letters // system letters are upper case: still ascending
}

// autosubscribe adds a folder this delivery created to the subscriptions
// file ([mail] autosubscribe). A failure is logged, not returned: the
// folder and the message are fine, only clients that list subscribed
// folders will not show it until the user subscribes.
func (a *Agent) autosubscribe(d *maildir.Dir, f *maildir.Folder, t *Target, opt storeOptions) {
	if !f.Created() || !a.cfg.Mail.Autosubscribe {
		return
	}
	if err := d.Subscribe(t.Mailbox.Subscriptions, t.Mailbox.Naming, opt.path); err != nil {
		a.log.Warn("cannot subscribe the new folder", "id", opt.id, "to", t.Recipient, "folder", opt.folder, "error", err)
	}
}

// prefix is what goes before the original header: Return-Path, Delivered-To,
// X-Original-To (when the original recipient differs) and Received.
func (a *Agent) prefix(t *Target, req Request) string {
	var b strings.Builder
	b.WriteString("Return-Path: <")
	b.WriteString(req.Sender)
	b.WriteString(">\nDelivered-To: ")
	b.WriteString(t.Recipient)
	b.WriteString("\n")
	if req.OrigRecipient != "" && !strings.EqualFold(req.OrigRecipient, t.Recipient) {
		b.WriteString("X-Original-To: ")
		b.WriteString(req.OrigRecipient)
		b.WriteString("\n")
	}
	b.WriteString(req.Received)
	return b.String()
}

// checkHeaderValues applies the one address rule (checkAddress) to every
// value prefix writes, whichever way it came in, and makes sure the
// Received field lmtpd built is one field: no CR or NUL, every line but
// the first folded. A value that could add a field of its own never
// reaches the file.
func checkHeaderValues(t *Target, req Request) error {
	if err := CheckSender(req.Sender); err != nil {
		return err
	}
	if err := CheckRecipient(t.Recipient); err != nil {
		return err
	}
	if err := CheckOrigRecipient(req.OrigRecipient); err != nil {
		return err
	}
	if !oneField(req.Received) {
		return status.Temp("internal error: malformed Received field").Wrap(errors.New(strconv.Quote(req.Received)))
	}
	return nil
}

// oneField reports whether f is "" or one header field: ends in LF, no CR
// or NUL, every line after the first a continuation.
func oneField(f string) bool {
	if f == "" {
		return true
	}
	body, ok := strings.CutSuffix(f, "\n")
	if !ok || strings.ContainsAny(f, "\r\x00") {
		return false
	}
	for _, line := range strings.Split(body, "\n")[1:] {
		if line == "" || (line[0] != '\t' && line[0] != ' ') {
			return false
		}
	}
	return true
}

// NewID returns a new delivery id: 16 characters, sortable by time at the
// second, unique per call.
func NewID() string {
	var b [10]byte
	now := uint32(time.Now().Unix())
	b[0], b[1], b[2], b[3] = byte(now>>24), byte(now>>16), byte(now>>8), byte(now)
	rand.Read(b[4:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// Outcome is what Report logs about one recipient.
type Outcome struct {
	ID, MessageID, Sender, Recipient string
	QueueID                          string // Postfix queue id (CheckQueueID), "" if unknown
	Result                           Result
	Err                              error
	Start                            time.Time
	// Target is the resolved recipient when the lookup got that far: a
	// failure's log line then names the maildir and uid/gid it concerns.
	Target *Target
}

// delivered is the end of a success's log line: where it went (or
// result=discarded), the plan's notes, the duration and the code.
func delivered(r Result, dur slog.Attr) []slog.Attr {
	var attrs []slog.Attr
	result := "delivered"
	if r.Discarded {
		result = "discarded"
	} else {
		folder := r.Folder
		if folder == "" {
			folder = "INBOX"
		}
		attrs = append(attrs, slog.String("folder", folder), slog.String("file", r.File), slog.Int64("size", r.Size))
	}
	for _, n := range r.Notes {
		attrs = append(attrs, slog.String(n.Key, n.Value))
	}
	return append(attrs, dur, slog.String("result", result), slog.String("code", "2.0.0"))
}

// Report writes the one log line of a delivery outcome.
func (a *Agent) Report(o Outcome) {
	attrs := []slog.Attr{
		slog.String("id", o.ID),
	}
	if o.QueueID != "" {
		attrs = append(attrs, slog.String("queue_id", o.QueueID))
	}
	attrs = append(attrs,
		slog.String("msgid", o.MessageID),
		slog.String("from", o.Sender),
		slog.String("to", o.Recipient),
	)
	elapsed := time.Since(o.Start)
	dur := slog.Duration("duration", elapsed.Round(time.Microsecond))
	if o.Err == nil {
		if a.observer != nil {
			// the same result as the log line's: a discard stored nothing
			result := "delivered"
			if o.Result.Discarded {
				result = "discarded"
			}
			a.observer.ObserveDelivery(result, "2.0.0", elapsed, o.Result.Size)
		}
		a.log.LogAttrs(context.Background(), slog.LevelInfo, "delivery", append(attrs, delivered(o.Result, dur)...)...)
		return
	}
	st := status.From(o.Err)
	result, level := "bounced", slog.LevelWarn
	if st.Temporary() {
		result = "deferred"
	}
	if a.observer != nil {
		a.observer.ObserveDelivery(result, string(st.Enhanced), elapsed, 0)
	}
	attrs = append(attrs, dur, slog.String("result", result), slog.String("code", string(st.Enhanced)),
		slog.String("reason", st.Reason))
	if t := o.Target; t != nil {
		attrs = append(attrs, slog.String("maildir", t.Maildir), slog.Int("uid", t.UID), slog.Int("gid", t.GID))
	}
	if st.Err != nil {
		attrs = append(attrs, slog.String("error", st.Err.Error()))
		level = slog.LevelError
		if !st.Temporary() {
			level = slog.LevelWarn
		}
	}
	a.log.LogAttrs(context.Background(), level, "delivery", attrs...)
}
