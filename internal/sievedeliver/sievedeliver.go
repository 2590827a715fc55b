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
// ereject → delivery.Reject. A user script that fails ends as the
// engine's implicit keep with sieve=error on the delivery line; a global
// script that fails is logged at error level and the rest still runs.
// redirect and vacation are not carried out yet: a plan with one is a
// temporary failure (nothing is lost, Postfix retries).
package sievedeliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/message"
	"maildeliver/internal/sieve"
	"maildeliver/internal/uservars"
)

// Decider is the Sieve engine as the delivery core's Decider.
type Decider struct {
	eng *sieve.Engine
	loc sieve.Locations
	log *slog.Logger
}

// New returns the Decider for cfg's [sieve].
func New(cfg *config.Config, log *slog.Logger) (*Decider, error) {
	eng, err := sieve.New(cfg.Sieve.EngineOptions(cfg.Mail.RecipientDelimiter))
	if err != nil {
		return nil, err
	}
	return &Decider{eng: eng, loc: cfg.Sieve.Locations(), log: log}, nil
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
	raw, err := rawMessage(t, msg)
	if err != nil {
		return nil, err
	}
	in := &sieve.Input{
		Envelope: sieve.Envelope{From: req.Sender, To: t.Recipient, OrigTo: req.OrigRecipient},
		Message:  sieve.NewMessage(raw),
	}
	in.Scripts = d.scripts(t)
	if t.User.Home != "" {
		in.Duplicates = sieve.NewRecord(t.User.Home, sieve.DuplicateRecordFile, t.UID, t.GID)
	}
	plan, err := d.eng.Decide(ctx, in)
	if err != nil {
		return nil, err
	}
	d.logFailures(req.ID, t.Recipient, plan)
	return d.mapPlan(t, plan)
}

// scripts finds t's scripts. A user path that cannot be expanded (no
// home for "~") means the user has no script of their own: the global
// ones still run.
func (d *Decider) scripts(t *delivery.Target) sieve.Scripts {
	v := uservars.Values{User: t.Recipient, Home: t.User.Home}
	s, err := d.loc.Resolve(v, t.User.Sieve)
	if err == nil {
		return s
	}
	global := d.loc
	global.Script, global.Dir = "", ""
	s, gerr := global.Resolve(v, "")
	if gerr != nil {
		d.log.Error("sieve: global scripts cannot be found: they do not run", "to", t.Recipient, "error", gerr)
		return sieve.Scripts{}
	}
	d.log.Warn("sieve: no user script", "to", t.Recipient, "error", err)
	return s
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

// mapPlan turns the engine's plan into the core's.
func (d *Decider) mapPlan(t *delivery.Target, plan *sieve.Plan) (delivery.Plan, error) {
	var out delivery.Plan
	for _, a := range plan.Actions {
		switch a := a.(type) {
		case sieve.Keep:
			out = append(out, delivery.Store{Folder: t.Folder, Flags: a.Flags})
		case sieve.FileInto:
			out = append(out, delivery.Store{Folder: a.Folder, Flags: a.Flags, Create: a.Create})
		case sieve.Discard:
		case sieve.Reject:
			return delivery.Plan{delivery.Reject{Reason: a.Reason}}, nil
		default:
			return nil, fmt.Errorf("sieve: %s: not carried out by this version", a)
		}
	}
	if len(plan.Edits) > 0 {
		return nil, errors.New("sieve: editheader: not carried out by this version")
	}
	if plan.UserFailed() {
		out = append(out, delivery.Note{Key: "sieve", Value: "error"})
	}
	return out, nil
}

// rawMessage is the message as the script sees it: the header section
// the recipient's copy gets (without our prepended fields) and the body.
// A stream is spooled first so that the stores can read the body again.
func rawMessage(t *delivery.Target, msg *message.Message) ([]byte, error) {
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
	return append(append([]byte(nil), fields...), b...), nil
}
