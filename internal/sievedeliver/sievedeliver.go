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
// engine's Mailer (submission_host or sendmail_path); the duplicate
// extension's record → delivery.After (written only once delivered). A
// user script that fails ends as the engine's implicit keep with
// sieve=error on the delivery line; a global script that fails is logged
// at error level and the rest still runs.
package sievedeliver

import (
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
	"maildeliver/internal/uservars"
)

// Decider is the Sieve engine as the delivery core's Decider.
type Decider struct {
	eng    *sieve.Engine
	loc    sieve.Locations
	log    *slog.Logger
	mailer *sieve.Mailer
}

// New returns the Decider for cfg's [sieve].
func New(cfg *config.Config, log *slog.Logger) (*Decider, error) {
	eng, err := sieve.New(cfg.Sieve.EngineOptions(cfg.Mail.RecipientDelimiter))
	if err != nil {
		return nil, err
	}
	mailer := &sieve.Mailer{Outbox: cfg.Sieve.Outbox(cfg.Hostname), Hostname: cfg.Hostname,
		EnvelopeFrom: cfg.Sieve.RedirectEnvelopeFrom, Postmaster: cfg.Sieve.PostmasterAddress}
	return &Decider{eng: eng, loc: cfg.Sieve.Locations(), log: log, mailer: mailer}, nil
}

// Option is what both binaries give delivery.NewAgent: WithDecider with
// the Sieve Decider when [sieve] enabled is true, else nothing. An engine
// that cannot be made (config.Validate checks what could make it fail)
// makes every delivery a temporary failure rather than skip the scripts.
func Option(cfg *config.Config, log *slog.Logger) delivery.Option {
	if !cfg.Sieve.Enabled {
		return func(*delivery.Agent) {}
	}
	d, err := New(cfg, log)
	if err != nil {
		return delivery.WithDecider(broken{err})
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
	m, err := readMessage(t, msg)
	if err != nil {
		return nil, err
	}
	in := &sieve.Input{
		Envelope: sieve.Envelope{From: req.Sender, To: t.Recipient, OrigTo: req.OrigRecipient},
		Message:  sieve.NewMessage(m.raw()),
		Scripts:  d.scripts(t),
	}
	if t.User.Home != "" {
		in.Duplicates = sieve.NewRecord(t.User.Home, sieve.DuplicateRecordFile, t.UID, t.GID)
	}
	// As the user (lmtpd runs as root): scripts and records are in the
	// user's home, where a symlink must not reach what the user cannot.
	var plan *sieve.Plan
	err = privilege.Run(t.UID, t.GID, func() (err error) {
		plan, err = d.eng.Decide(ctx, in)
		return err
	})
	if err != nil {
		return nil, err
	}
	d.logFailures(req.ID, t.Recipient, plan)
	return d.mapPlan(t, req.ID, in, m, plan), nil
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
func (d *Decider) mapPlan(t *delivery.Target, id string, in *sieve.Input, m *raw, plan *sieve.Plan) delivery.Plan {
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
	for _, a := range plan.Actions {
		switch a := a.(type) {
		case sieve.Keep:
			out = append(out, delivery.Store{Folder: t.Folder, Flags: a.Flags, Header: edited(a)})
		case sieve.FileInto:
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
		case sieve.Reject:
			return delivery.Plan{delivery.Reject{Reason: a.Reason}}
		case sieve.Redirect:
			sent := m
			if h := edited(a); h != nil {
				sent = &raw{header: h, body: m.body}
			}
			out = append(out, d.redirect(t, id, in, sent, a))
		case sieve.Vacation:
			if a.Suppressed != "" {
				d.log.Info("sieve: vacation reply not sent", "id", id, "to", t.Recipient, "why", a.Suppressed)
				continue
			}
			out = append(out, d.vacation(t, id, in, a))
		}
	}
	if failed {
		out = append(out, delivery.Note{Key: "sieve", Value: "error"})
	}
	if in.Duplicates != nil {
		out = append(out, delivery.After{What: "sieve duplicate record",
			Do: func(context.Context) error {
				return privilege.Run(t.UID, t.GID, func() error { return plan.Commit(in.Duplicates) })
			}})
	}
	return out
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
		msg := append([]byte("Delivered-To: "+t.Recipient+"\n"), m.raw()...)
		err := d.mailer.Redirect(ctx, msg, r, in.Envelope, t.User.Address)
		switch {
		case errors.Is(err, sieve.ErrRedirectLoop):
			d.log.Warn("sieve: redirect not sent", "id", id, "to", t.Recipient, "error", err)
			return nil
		case err != nil:
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
			sent, err = d.mailer.SendVacation(ctx, v, in.Message, in.Envelope, rec)
			return err
		})
		if sent {
			d.log.Info("sieve: vacation reply sent", "id", id, "to", t.Recipient, "reply_to", v.To)
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
// blank line) and the body.
type raw struct{ header, body []byte }

func (r *raw) raw() []byte { return append(append([]byte(nil), r.header...), r.body...) }

// readMessage reads msg for the script. A stream is spooled first so that
// the stores can read the body again.
func readMessage(t *delivery.Target, msg *message.Message) (*raw, error) {
	if err := msg.Spool(os.TempDir()); err != nil {
		return nil, err
	}
	body, err := msg.Body()
	if err != nil {
		return nil, err
	}
	fields, _ := msg.Header.For(t.Recipient)
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	return &raw{header: fields, body: b}, nil
}
