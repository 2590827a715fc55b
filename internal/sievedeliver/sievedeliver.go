// Package sievedeliver plugs the Sieve engine (package sieve) into the
// delivery core (package delivery) as its Decider, when [sieve] enabled is
// true: for each recipient it finds the scripts ([sieve] script, the
// userdb's sieve column overriding it, the global before/after/default
// scripts), runs them, and turns the engine's plan into the core's
// actions. It owns that mapping and the failure rule's logging; the
// engine owns the Sieve semantics, the core the storing.
//
// Mapping: keep → Store into the folder the delivery would have used
// (INBOX, deliver -m, the +detail folder), as Pigeonhole's implicit keep
// uses the default mailbox; fileinto → Store{Folder, Flags, Create} (the
// engine already stored each folder once); discard → nothing; reject and
// ereject → delivery.Reject; editheader → each Store's Header (and the
// redirected copy); redirect and vacation → delivery.Send through the
// engine's Mailer (submission_host, or sendmail_path run as the user); the duplicate
// extension's record → delivery.After (written only once delivered). A
// user script that fails ends as the engine's implicit keep with
// sieve=error on the delivery line; a global script that fails is logged
// at error level and the rest still runs.
package sievedeliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/message"
	"maildeliver/internal/privilege"
	"maildeliver/internal/sieve"
	"maildeliver/internal/status"
	"maildeliver/internal/uservars"
)

// Decider is the Sieve engine as the delivery core's Decider.
type Decider struct {
	eng    *sieve.Engine
	loc    sieve.Locations
	log    *slog.Logger
	mailer *sieve.Mailer
	obs    Observer
}

// Observer counts what the scripts did (lmtpd's metrics; see package
// metrics for the names). Its methods are called once per action and
// must be cheap.
type Observer interface {
	// SieveAction: keep, fileinto, discard, redirect, reject,
	// vacation_sent, vacation_suppressed.
	SieveAction(action string)
	SieveScriptError(global bool)
	// SieveSendFailure: redirect or vacation.
	SieveSendFailure(kind string)
}

// noObserver is the Observer of deliver, which serves no metrics.
type noObserver struct{}

func (noObserver) SieveAction(string)      {}
func (noObserver) SieveScriptError(bool)   {}
func (noObserver) SieveSendFailure(string) {}

// New returns the Decider for cfg's [sieve].
func New(cfg *config.Config, log *slog.Logger) (*Decider, error) {
	eng, err := sieve.New(cfg.Sieve.EngineOptions(cfg.Mail.RecipientDelimiter))
	if err != nil {
		return nil, err
	}
	mailer := &sieve.Mailer{Outbox: cfg.Sieve.Outbox(cfg.Hostname), Hostname: cfg.Hostname,
		EnvelopeFrom: cfg.Sieve.RedirectEnvelopeFrom, Postmaster: cfg.Sieve.PostmasterAddress}
	return &Decider{eng: eng, loc: cfg.Sieve.Locations(), log: log, mailer: mailer, obs: noObserver{}}, nil
}

// Option is what both binaries give delivery.NewAgent: WithDecider with
// the Sieve Decider when [sieve] enabled is true, else nothing; obs (nil:
// none) counts what the scripts do. An engine that cannot be made
// (config.Validate checks what could make it fail) makes every delivery a
// temporary failure rather than skip the scripts.
func Option(cfg *config.Config, log *slog.Logger, obs Observer) delivery.Option {
	if !cfg.Sieve.Enabled {
		return func(*delivery.Agent) {}
	}
	d, err := New(cfg, log)
	if err != nil {
		return delivery.WithDecider(broken{err})
	}
	if obs != nil {
		d.obs = obs
	}
	return delivery.WithDecider(d)
}

// broken is the Decider of an engine that could not be made.
type broken struct{ err error }

func (b broken) Decide(context.Context, *delivery.Target, delivery.Request, *message.Message) (delivery.Plan, error) {
	return nil, fmt.Errorf("sieve: %w", b.err)
}

// Decide implements delivery.Decider.
func (d *Decider) Decide(ctx context.Context, t *delivery.Target, req delivery.Request, msg *message.Message) (delivery.Plan, error) {
	fields, _ := msg.Header.For(t.Recipient)
	m := &raw{header: fields, msg: msg}
	in := &sieve.Input{
		Envelope: sieve.Envelope{From: req.Sender, To: t.Recipient, OrigTo: req.OrigRecipient},
		Message:  sieve.NewStreamMessage(fields, m.body, m.bodyBytes),
		Scripts:  d.scripts(t),
		// mailboxexists: the folder's place through the mailbox's naming
		// (namespace prefix included), checked as the user below.
		MailboxExists: func(name string) bool { return t.Mailbox.Naming.FolderExists(t.Maildir, name) },
	}
	if t.User.Home != "" {
		in.Duplicates = sieve.NewRecord(t.User.Home, sieve.DuplicateRecordFile, t.UID, t.GID)
	}
	// As the user (lmtpd runs as root): scripts and records are in the
	// user's home, where a symlink must not reach what the user cannot.
	var plan *sieve.Plan
	err := privilege.Run(t.UID, t.GID, func() (err error) {
		plan, err = d.eng.Decide(ctx, in)
		return err
	})
	in.Message.ReleaseBody() // a body test's copy: not kept while the plan is carried out
	if err != nil {
		return nil, err
	}
	d.logFailures(req.ID, t.Recipient, plan)
	return d.mapPlan(t, req.ID, in, m, plan)
}

// scripts finds t's scripts. Paths that cannot be expanded for t (no
// home for "~") are left out, the user's first: the user then has no
// script of their own (or only the userdb's absolute one), and the global
// scripts still run.
func (d *Decider) scripts(t *delivery.Target) sieve.Scripts {
	v := uservars.Values{User: t.Recipient, Home: t.User.Home}
	user := t.User.Sieve
	if user != "" && !filepath.IsAbs(user) && !strings.HasPrefix(user, "~") && v.Home == "" {
		// Relative to a home there is not: never to lmtpd's directory.
		d.log.Warn("sieve: userdb sieve column is relative and the user has no home: not run", "to", t.Recipient, "sieve", user)
		user = ""
	}
	loc := d.loc
	s, err := loc.Resolve(v, user)
	if err == nil {
		return s
	}
	d.log.Debug("sieve: user's paths cannot be expanded", "to", t.Recipient, "error", err)
	loc.Dir = "" // include :personal then finds nothing
	if s, err = loc.Resolve(v, user); err == nil {
		return s
	}
	loc.Script = ""
	if !filepath.IsAbs(user) {
		user = ""
	}
	if s, err = loc.Resolve(v, user); err == nil {
		return s
	}
	d.log.Error("sieve: global scripts cannot be found: they do not run", "to", t.Recipient, "error", err)
	return sieve.Scripts{}
}

// Describe implements delivery.Describer for -explain: the scripts that
// would run for t, in order, and the ones missing.
func (d *Decider) Describe(t *delivery.Target) string {
	s := d.scripts(t)
	var parts []string
	add := func(kind, path string) {
		if _, err := os.Stat(path); err != nil {
			parts = append(parts, kind+" "+path+" (missing: not run)")
			return
		}
		parts = append(parts, kind+" "+path)
	}
	for _, p := range s.Before {
		add("before", p)
	}
	switch _, err := os.Stat(s.User); {
	case s.User != "" && err == nil:
		add("user", s.User)
	case s.Default != "":
		add("default", s.Default)
	default:
		parts = append(parts, "no user script")
	}
	for _, p := range s.After {
		add("after", p)
	}
	return "on: " + strings.Join(parts, ", ")
}

// logFailures logs each failed script: a global one loudly (the
// administrator's), a user's as a warning (sieve=error on the line).
func (d *Decider) logFailures(id, rcpt string, plan *sieve.Plan) {
	for _, f := range plan.Failures {
		d.obs.SieveScriptError(f.Global)
		if f.Global {
			d.log.Error("sieve: global script failed, delivery goes on without it", "id", id, "to", rcpt,
				"script", f.Path, "error", f.Err)
			continue
		}
		d.log.Warn("sieve: user script failed: implicit keep", "id", id, "to", rcpt, "script", f.Path, "error", f.Err)
	}
}

// mapPlan turns the engine's plan into the core's: the stores each with
// its edited header, the outgoing mail, the duplicate record after success.
func (d *Decider) mapPlan(t *delivery.Target, id string, in *sieve.Input, m *raw, plan *sieve.Plan) (delivery.Plan, error) {
	// Each copy as the message was when its action ran (RFC 5293: later
	// edits do not reach an earlier copy, as in Pigeonhole); nil: unedited.
	edited := func(a sieve.Action) []byte {
		if edits := plan.EditsFor(a); len(edits) > 0 {
			return sieve.ApplyEdits(m.header, edits)
		}
		return nil
	}
	var out delivery.Plan
	failed := plan.UserFailed()
	kept, loop := false, false
	var keptHeader []byte
	for _, a := range plan.Actions {
		switch a := a.(type) {
		case sieve.Keep:
			kept = true
			d.obs.SieveAction("keep")
			out = append(out, delivery.Store{Folder: t.Folder, Flags: a.Flags, Header: edited(a)})
		case sieve.FileInto:
			d.obs.SieveAction("fileinto")
			folder := a.Folder
			if _, ok := t.Mailbox.Naming.FolderPath(folder); !ok && folder != "" {
				// Pigeonhole: the fileinto fails at run time and the
				// implicit keep takes the delivery's folder (-m, +detail).
				d.log.Warn("sieve: fileinto a name that cannot be a folder: kept instead", "id", id,
					"to", t.Recipient, "folder", folder)
				folder, failed = t.Folder, true
			}
			out = append(out, delivery.Store{Folder: folder, Flags: a.Flags, Create: a.Create, Header: edited(a)})
		case sieve.Discard:
			d.obs.SieveAction("discard")
		case sieve.Reject:
			d.obs.SieveAction("reject")
			return delivery.Plan{delivery.Reject{Reason: a.Reason}}, nil
		case sieve.Redirect:
			sent := m
			if h := edited(a); h != nil {
				sent = &raw{header: h, msg: m.msg}
			}
			own := append([]byte("Delivered-To: "+t.Recipient+"\n"), sent.header...)
			if err := sieve.RedirectLoop(own, a, in.Envelope); err != nil {
				// Pigeonhole drops such a redirect and keeps the message:
				// sent on, it would come back or be lost.
				d.log.Warn("sieve: redirect not sent, the message is kept", "id", id, "to", t.Recipient, "error", err)
				loop, keptHeader = true, edited(a)
				continue
			}
			d.obs.SieveAction("redirect")
			// Sent after the stores, which read a stream's body: keep it.
			if err := m.msg.Spool(os.TempDir()); err != nil {
				return nil, err
			}
			out = append(out, d.redirect(t, id, in, sent, a))
		case sieve.Vacation:
			if a.Suppressed != "" {
				d.obs.SieveAction("vacation_suppressed")
				d.log.Info("sieve: vacation reply not sent", "id", id, "to", t.Recipient, "why", a.Suppressed)
				continue
			}
			out = append(out, d.vacation(t, id, in, a))
		}
	}
	if loop && !kept {
		d.obs.SieveAction("keep")
		out = append(out, delivery.Store{Folder: t.Folder, Header: keptHeader})
	}
	if failed {
		out = append(out, delivery.Note{Key: "sieve", Value: "error"})
	}
	if in.Duplicates != nil && plan.Tested() {
		// Only then: the identity switch to write nothing cost every delivery.
		out = append(out, delivery.After{What: "sieve duplicate record",
			Do: func(context.Context) error {
				return privilege.Run(t.UID, t.GID, func() error { return plan.Commit(in.Duplicates) })
			}})
	}
	return out, nil
}

// redirectPeriod is Pigeonhole's sieve_redirect_duplicate_period: the
// same message (Message-ID) is redirected to the same address once in it,
// so a message delivered again (an MTA retry, a second copy) is not sent
// on twice.
const redirectPeriod = 12 * time.Hour

// redirect sends the message (with the header edits made before the
// redirect and a Delivered-To for this recipient, so that a copy that
// comes back is a loop) on, once per Message-ID and address in
// redirectPeriod (the record in the user's home, written after it was
// sent). A redirect the Mailer refuses as a loop is dropped, logged: the
// message already went that way once.
func (d *Decider) redirect(t *delivery.Target, id string, in *sieve.Input, m *raw, r sieve.Redirect) delivery.Send {
	var rec *sieve.Record
	key := ""
	if msgid := strings.TrimSpace(in.Message.Header("Message-ID")); msgid != "" && t.User.Home != "" {
		rec = sieve.NewRecord(t.User.Home, sieve.DuplicateRecordFile, t.UID, t.GID)
		key = "\x00redirect\x00" + msgid + "\x00" + strings.ToLower(r.Address)
	}
	return delivery.Send{What: r.String(), Do: func(ctx context.Context) error {
		if rec != nil {
			var seen bool
			err := privilege.Run(t.UID, t.GID, func() (err error) { seen, err = rec.Seen(key); return err })
			if err != nil {
				d.log.Warn("sieve: redirect record not read", "id", id, "to", t.Recipient, "error", err)
			}
			if seen {
				d.log.Info("sieve: redirect not sent: this message was redirected there already", "id", id,
					"to", t.Recipient, "redirect_to", r.Address)
				return nil
			}
		}
		body, err := m.body()
		if err != nil {
			return err
		}
		header := append([]byte("Delivered-To: "+t.Recipient+"\n"), m.header...)
		msg := io.MultiReader(bytes.NewReader(header), body) // sent as read: never whole in memory
		err = d.mailer.ForUser(t.UID, t.GID).RedirectReader(ctx, header, msg, r, in.Envelope, t.User.Address)
		switch {
		case errors.Is(err, sieve.ErrRedirectLoop):
			d.log.Warn("sieve: redirect not sent", "id", id, "to", t.Recipient, "error", err)
			return nil
		case err != nil:
			d.obs.SieveSendFailure("redirect")
			return err
		}
		d.log.Info("sieve: redirected", "id", id, "to", t.Recipient, "redirect_to", r.Address)
		if rec != nil {
			if err := privilege.Run(t.UID, t.GID, func() error { return rec.Mark(key, redirectPeriod) }); err != nil {
				d.log.Warn("sieve: redirect record not written", "id", id, "to", t.Recipient, "error", err)
			}
		}
		return nil
	}}
}

// vacation sends the reply once per sender and period (the record in the
// user's home; without a home every time, as Pigeonhole without its
// duplicate database). The record is written only after the reply went
// out; a record that cannot be written is logged, the reply is sent.
func (d *Decider) vacation(t *delivery.Target, id string, in *sieve.Input, v sieve.Vacation) delivery.Send {
	var rec *sieve.Record
	if t.User.Home != "" {
		rec = sieve.NewRecord(t.User.Home, sieve.VacationRecordFile, t.UID, t.GID)
	}
	return delivery.Send{What: "vacation reply to <" + v.To + ">", Do: func(ctx context.Context) error {
		var sent bool
		err := privilege.Run(t.UID, t.GID, func() (err error) { // the record, as the user
			sent, err = d.mailer.ForUser(t.UID, t.GID).SendVacation(ctx, v, in.Message, in.Envelope, rec)
			return err
		})
		switch {
		case sent:
			d.obs.SieveAction("vacation_sent")
			d.log.Info("sieve: vacation reply sent", "id", id, "to", t.Recipient, "reply_to", v.To)
		case err == nil: // the record says this sender was answered within the period
			d.obs.SieveAction("vacation_suppressed")
			d.log.Info("sieve: vacation reply not sent", "id", id, "to", t.Recipient, "reply_to", v.To,
				"why", "already replied within the period")
		default:
			d.obs.SieveSendFailure("vacation")
		}
		if sent && err != nil {
			d.log.Warn("sieve: vacation record not written", "id", id, "to", t.Recipient, "error", err)
			return nil
		}
		return err
	}}
}

// raw is the message as the script sees it: the header section the
// recipient's copy gets (without our prepended fields, ending with the
// blank line; message.Header's own bytes unless they differ for this
// recipient) and the message, whose body is read only when needed (a
// size or body test, a redirected copy).
type raw struct {
	header []byte
	msg    *message.Message
}

// body is the message's body from its start: a stream is spooled first,
// so that the stores can read it again.
func (r *raw) body() (io.Reader, error) {
	if err := r.msg.Spool(os.TempDir()); err != nil {
		return nil, err
	}
	return r.msg.Body()
}

// bodyBytes is the body in memory for a body test: one copy per message,
// shared by its recipients (message.Message.BodyBytes).
func (r *raw) bodyBytes() ([]byte, error) {
	if err := r.msg.Spool(os.TempDir()); err != nil {
		return nil, err
	}
	return r.msg.BodyBytes()
}

// Check is -check's part for [sieve] (deliver and lmtpd): when enabled,
// every global script (before, after, default; a directory stands for its
// *.sieve files) is compiled as a delivery would compile it. Each one that
// is missing or does not compile is one line on stderr, "4.3.5
// configuration error: sieve: FILE:LINE:COL: message", and the check
// fails: at delivery it would be skipped, logged at error level, for every
// message. A path with per-user variables can only be compiled at
// delivery: stdout says so.
func Check(cfg *config.Config, stdout, stderr io.Writer) int {
	if !cfg.Sieve.Enabled {
		return status.ExitOK
	}
	eng, err := sieve.New(cfg.Sieve.EngineOptions(cfg.Mail.RecipientDelimiter))
	if err != nil {
		return status.Fail(stderr, status.Usage("configuration error: sieve: "+status.OneLine(err.Error())))
	}
	loc := cfg.Sieve.Locations()
	global, _ := sieve.Locations{Global: loc.Global}.Resolve(uservars.Values{}, "")
	code := status.ExitOK
	one := func(kind, tmpl string, l sieve.Locations) {
		s, err := l.Resolve(uservars.Values{}, "")
		if err != nil {
			fmt.Fprintf(stdout, "# sieve %s %s: per-user path, compiled at delivery\n", kind, tmpl)
			return
		}
		paths := append(s.Before, s.After...)
		if s.Default != "" {
			paths = append(paths, s.Default)
		}
		for _, p := range paths {
			if _, err := eng.CompileFile(p, "", global.GlobalDir); err != nil {
				code = status.Fail(stderr, status.Usage("configuration error: sieve: "+kind+" "+status.OneLine(sieve.Located(p, err))))
				continue
			}
			fmt.Fprintf(stdout, "# sieve %s %s: compiles\n", kind, p)
		}
		if len(paths) == 0 {
			fmt.Fprintf(stdout, "# sieve %s %s: no *.sieve files\n", kind, tmpl)
		}
	}
	for _, t := range loc.Before {
		one("before", t, sieve.Locations{Before: []string{t}})
	}
	if loc.Default != "" {
		one("default", loc.Default, sieve.Locations{Default: loc.Default})
	}
	for _, t := range loc.After {
		one("after", t, sieve.Locations{After: []string{t}})
	}
	return code
}
