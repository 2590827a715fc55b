package sieve

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	gosieve "github.com/migadu/go-sieve"
	"github.com/migadu/go-sieve/interp"
)

// step is one script of the sequence.
type step struct {
	path   string
	global bool
	stamp  *fileStamp // the user's script's, taken to see that it exists: the cache check need not stat again
}

// sequence lists the scripts to run: before, the user's (or the default
// when the user has none), after.
func (s Scripts) sequence() []step {
	var out []step
	for _, p := range s.Before {
		out = append(out, step{path: p, global: true})
	}
	var user fileStamp
	var err error
	if s.User != "" {
		user, err = stamp(s.User)
	}
	if s.User != "" && err == nil {
		out = append(out, step{path: s.User, stamp: &user})
	} else if s.Default != "" {
		out = append(out, step{path: s.Default, global: true})
	}
	for _, p := range s.After {
		out = append(out, step{path: p, global: true})
	}
	return out
}

// Decide runs the scripts for one recipient and returns the plan. It
// performs nothing. Script failures are not errors: they are recorded in
// Plan.Failures and end as Sieve's implicit keep (SPEC: a user's mistake
// never defers or bounces mail). The error is only for a cancelled ctx.
//
// The scripts run as Pigeonhole's multiscript sequence does: the next
// script runs only while the keep is still in effect (neither cancelled
// nor replaced by an explicit keep being absent), the imap4flags variable
// carries over, and the implicit keep of the last script that ran is
// the final one.
func (e *Engine) Decide(ctx context.Context, in *Input) (*Plan, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Limits.RunTime)
	defer cancel()
	plan := &Plan{}
	var flags []string
	keep := true
	env := environment(in) // read-only for the scripts: one map for all of them
	msg := in.Message      // as the next script sees it: with the earlier scripts' header edits
	for _, st := range in.Scripts.sequence() {
		marks := len(plan.marks)
		d, err := e.runOne(ctx, in, msg, st, flags, env, plan)
		if err != nil {
			plan.marks = plan.marks[:marks] // a failed script's tests do not count
			if parent := context.Cause(ctx); parent != nil && errors.Is(parent, context.Canceled) {
				return nil, err
			}
			plan.Failures = append(plan.Failures, Failure{Path: st.path, Global: st.global, Err: err})
			// The failed script's actions are dropped and its keep stands.
			// A global script's failure does not stop the user's script;
			// a user's failure ends the sequence in the implicit keep.
			keep = true
			if st.global {
				continue
			}
			break
		}
		e.collect(plan, in, d, len(plan.Edits))
		if len(d.HeaderEdits) > 0 {
			plan.Edits = append(plan.Edits, convertEdits(d.HeaderEdits)...)
			msg = in.Message.withEdits(plan.Edits)
		}
		flags = d.Flags
		// An explicit keep replaces the implicit one (Pigeonhole prints
		// "Implicit keep: (none)" after keep) but lets the next script run.
		keep = d.ImplicitKeep && !d.Keep
		if !d.ImplicitKeep && !d.Keep {
			break
		}
	}
	if keep {
		plan.Actions = append(plan.Actions, Keep{Flags: append([]string(nil), flags...), Implicit: true})
	}
	plan.Actions = mergeStores(plan.Actions)
	return plan, nil
}

// runOne compiles and runs one script.
func (e *Engine) runOne(ctx context.Context, in *Input, msg *Message, st step, flags []string, env map[string]string, plan *Plan) (*interp.RuntimeData, error) {
	s, err := e.compileFile(st.path, in.Scripts.PersonalDir, in.Scripts.GlobalDir, st.stamp)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && st.global {
			return nil, fmt.Errorf("%w: %v", errNoScript, err)
		}
		return nil, err
	}
	d := gosieve.NewRuntimeData(s.compiled, policy{exists: in.MailboxExists}, in.Envelope, msg)
	d.Flags = append([]string(nil), flags...)
	d.Environment = env
	if in.Duplicates != nil {
		d.Duplicate = duplicateCheck{rec: in.Duplicates, plan: plan}
	}
	if err := s.compiled.Execute(ctx, d); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("run time limit of %s reached", e.opts.Limits.RunTime)
		}
		return nil, fmt.Errorf("runtime: %w", err)
	}
	if err := conflicts(d.Actions); err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	return d, nil
}

// conflicts applies Pigeonhole's result checks (RFC 5429 section 2.1,
// RFC 5230 section 4.7): reject excludes storing, redirecting, vacation
// and a second reject; one vacation per script.
func conflicts(actions []interp.Action) error {
	rejects, vacations, delivers := 0, 0, 0
	for _, a := range actions {
		switch a.Kind {
		case interp.ActionReject:
			rejects++
		case interp.ActionVacation:
			vacations++
		case interp.ActionKeep, interp.ActionFileInto, interp.ActionRedirect:
			delivers++
		}
	}
	switch {
	case rejects > 1:
		return errors.New("duplicate reject/ereject action not allowed")
	case vacations > 1:
		return errors.New("duplicate vacation action not allowed")
	case rejects == 1 && delivers > 0:
		return errors.New("reject/ereject action conflicts with an action that delivers the message")
	case rejects == 1 && vacations > 0:
		return errors.New("vacation action conflicts with reject, which also answers the sender")
	}
	return nil
}

// collect appends the script's actions to the plan in their order; the
// script's header edits start at edits in Plan.Edits.
func (e *Engine) collect(plan *Plan, in *Input, d *interp.RuntimeData, edits int) {
	for _, a := range d.Actions {
		switch a.Kind {
		case interp.ActionKeep:
			plan.Actions = append(plan.Actions, Keep{Flags: a.Flags, Edits: edits + a.Edits})
		case interp.ActionFileInto:
			plan.Actions = append(plan.Actions, FileInto{Folder: a.Mailbox, Flags: a.Flags, Create: a.Create, Copy: a.Copy,
				Edits: edits + a.Edits})
		case interp.ActionDiscard:
			plan.Actions = append(plan.Actions, Discard{})
		case interp.ActionRedirect:
			plan.Actions = append(plan.Actions, Redirect{Address: a.Addr, Copy: a.Copy, Edits: edits + a.Edits})
		case interp.ActionReject:
			plan.Actions = append(plan.Actions, Reject{Reason: a.Reason, Extended: a.Extended})
		case interp.ActionVacation:
			plan.Actions = append(plan.Actions, e.vacation(in, a.Vacation))
		}
	}
}

// mergeStores stores each folder once: keep and fileinto "INBOX" are the
// same store, and a folder filed into twice is one copy (RFC 5228 section
// 2.10.3) in the first one's place with the last one's flags, as
// Pigeonhole merges them.
func mergeStores(actions []Action) []Action {
	out := make([]Action, 0, len(actions))
	index := map[string]int{}
	for _, a := range actions {
		var key string
		var flags []string
		switch a := a.(type) {
		case Keep:
			key, flags = "INBOX", a.Flags
		case FileInto:
			key, flags = folderKey(a.Folder), a.Flags
		default:
			out = append(out, a)
			continue
		}
		i, seen := index[key]
		if !seen {
			index[key] = len(out)
			out = append(out, a)
			continue
		}
		switch prev := out[i].(type) {
		case Keep:
			prev.Flags = flags
			out[i] = prev
		case FileInto:
			prev.Flags = flags
			if f, ok := a.(FileInto); ok {
				prev.Create = prev.Create || f.Create
			}
			out[i] = prev
		}
	}
	return out
}

// folderKey makes "INBOX" case-insensitive, as IMAP does (RFC 3501 5.1).
func folderKey(f string) string {
	if strings.EqualFold(f, "INBOX") {
		return "INBOX"
	}
	return f
}

// policy allows every redirect; the limit is go-sieve's MaxRedirects and
// loop protection is the sender's (see Redirector). It answers
// mailboxexists through exists (Input.MailboxExists).
type policy struct{ exists func(string) bool }

func (p policy) MailboxExists(_ context.Context, name string) (bool, error) {
	return p.exists == nil || p.exists(name), nil
}

func (policy) RedirectAllowed(context.Context, *interp.RuntimeData, string) (bool, error) {
	return true, nil
}

// environment fills RFC 5183 items with maildeliver's defaults.
func environment(in *Input) map[string]string {
	env := map[string]string{
		"name":     "maildeliver",
		"location": "MDA",
		"phase":    "during",
	}
	if _, dom, ok := strings.Cut(in.Envelope.To, "@"); ok {
		env["domain"] = dom
	}
	for k, v := range in.Environment {
		if v == "" {
			delete(env, strings.ToLower(k)) // "" removes an item
			continue
		}
		env[strings.ToLower(k)] = v
	}
	return env
}
