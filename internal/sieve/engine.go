package sieve

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/migadu/go-sieve/interp"
)

// Supported lists the extensions scripts may require: SPEC's list and
// regex (Pigeonhole enables it by default; Roundcube writes :regex rules).
// go-sieve also has "comparator-i;unicode-casemap", which Pigeonhole 0.5
// does not have, so scripts using it fail there: left out.
var Supported = []string{
	"fileinto", "reject", "ereject", "envelope", "encoded-character",
	"comparator-i;octet", "comparator-i;ascii-casemap", "comparator-i;ascii-numeric",
	"imap4flags", "variables", "relational",
	"vacation", "vacation-seconds", "copy", "date", "index", "editheader",
	"mailbox", "subaddress", "body", "include", "duplicate", "environment", "regex",
}

// Limits bound what one script or one run may cost. Zero fields take the
// defaults (Pigeonhole's where it has one).
type Limits struct {
	MaxScriptSize int64         // bytes of one script file; default 1 MiB (sieve_max_script_size)
	MaxActions    int           // default 32 (sieve_max_actions)
	MaxRedirects  int           // default 4 (sieve_max_redirects)
	RunTime       time.Duration // wall time of all scripts for one message; default 10s
}

func (l Limits) withDefaults() Limits {
	if l.MaxScriptSize <= 0 {
		l.MaxScriptSize = 1 << 20
	}
	if l.MaxActions <= 0 {
		l.MaxActions = 32
	}
	if l.MaxRedirects <= 0 {
		l.MaxRedirects = 4
	}
	if l.RunTime <= 0 {
		l.RunTime = 10 * time.Second
	}
	return l
}

// Options configure an Engine.
type Options struct {
	Limits Limits
	// Extensions allowed in scripts; nil or empty: all of Supported.
	Extensions []string
	// VacationMinPeriod and VacationMaxPeriod clamp :days / :seconds
	// (Pigeonhole's sieve_vacation_min_period / max_period). Zero: 1 day and
	// 60 days. A script's explicit ":seconds 0" still means "every time"
	// only when VacationMinPeriod allows it.
	VacationMinPeriod time.Duration
	VacationMaxPeriod time.Duration
	// RecipientDelimiter is what :user and :detail (RFC 5233) split on,
	// [mail] recipient_delimiter ("" = "+"). go-sieve keeps it in one
	// process-wide variable: every Engine of a process must agree.
	RecipientDelimiter string
}

// Engine compiles and runs Sieve scripts. It is safe for concurrent use;
// compiled scripts are cached by path and the file's identity and version (fileStamp).
type Engine struct {
	opts  Options
	exts  []string
	cache *cache
}

// New returns an Engine; it rejects extension names it does not know.
func New(opts Options) (*Engine, error) {
	opts.Limits = opts.Limits.withDefaults()
	if opts.VacationMinPeriod == 0 {
		opts.VacationMinPeriod = 24 * time.Hour
	}
	if opts.VacationMaxPeriod == 0 {
		opts.VacationMaxPeriod = 60 * 24 * time.Hour
	}
	exts := Supported
	if len(opts.Extensions) > 0 {
		for _, x := range opts.Extensions {
			if !contains(Supported, x) {
				return nil, fmt.Errorf("sieve: unsupported extension %q (supported: %s)", x, strings.Join(Supported, " "))
			}
		}
		exts = opts.Extensions
	}
	if opts.RecipientDelimiter != "" && interp.SubaddressSeparator != opts.RecipientDelimiter {
		interp.SubaddressSeparator = opts.RecipientDelimiter
	}
	return &Engine{opts: opts, exts: exts, cache: newCache()}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Envelope is the SMTP/LMTP envelope of one recipient's delivery.
type Envelope struct {
	From   string // envelope sender; "" is the null sender
	To     string // final recipient (after aliases)
	OrigTo string // original recipient (ORCPT / -a); "" = To
	Auth   string // authenticated submitter, if known
}

func (e Envelope) EnvelopeFrom() string { return e.From }
func (e Envelope) AuthUsername() string { return e.Auth }

// EnvelopeTo is what `envelope "to"` sees: the original recipient, as
// Pigeonhole (dovecot-lda -a) does.
func (e Envelope) EnvelopeTo() string {
	if e.OrigTo != "" {
		return e.OrigTo
	}
	return e.To
}

// Scripts are the scripts to run for one recipient, in Pigeonhole's
// sieve_before / user / sieve_after order. Paths are already expanded.
type Scripts struct {
	Before []string
	User   string // "" or missing: Default is used
	// Default runs when User is "" or does not exist (sieve_default).
	Default string
	After   []string
	// PersonalDir holds the user's scripts for include :personal
	// (sieve_dir); GlobalDir those for include :global (sieve_global).
	PersonalDir string
	GlobalDir   string
}

// Input is everything Decide needs for one recipient.
type Input struct {
	Envelope Envelope
	Message  *Message
	Scripts  Scripts
	// Environment items for the environment extension (RFC 5183); "name",
	// "location" and "phase" default to maildeliver's.
	Environment map[string]string
	// Duplicates backs the duplicate extension (the user's
	// DuplicateRecordFile); nil: nothing is ever a duplicate. Ids are
	// recorded by Plan.Commit, not by Decide.
	Duplicates *Record
	// MailboxExists answers the mailboxexists test (RFC 5490) for a
	// folder name as written in the script; nil: every mailbox exists.
	MailboxExists func(name string) bool
}

// Failure is one script that did not compile or failed at run time.
type Failure struct {
	Path   string
	Global bool // before/after/default script: log loudly
	Err    error
}

func (f Failure) Error() string { return f.Path + ": " + f.Err.Error() }

// Plan is the decision for one recipient: the actions in order (the
// implicit keep last), the header edits in the order the scripts made
// them (each keep, fileinto and redirect takes those made before it ran,
// see EditsFor), and the scripts that failed.
type Plan struct {
	Actions  []Action
	Edits    []HeaderEdit
	Failures []Failure

	marks []mark // duplicate ids to record on Commit
}

// EditsFor returns the header edits that apply to a copy stored or sent
// by a (Keep, FileInto or Redirect): those made before it ran, as
// Pigeonhole stores each copy as the message was at that point (RFC 5293
// section 3); the implicit keep takes them all.
func (p *Plan) EditsFor(a Action) []HeaderEdit {
	n := len(p.Edits)
	switch a := a.(type) {
	case Keep:
		if !a.Implicit {
			n = a.Edits
		}
	case FileInto:
		n = a.Edits
	case Redirect:
		n = a.Edits
	}
	return p.Edits[:min(n, len(p.Edits))]
}

// UserFailed reports whether the user's script failed (sieve=error on
// the delivery line).
func (p *Plan) UserFailed() bool {
	for _, f := range p.Failures {
		if !f.Global {
			return true
		}
	}
	return false
}

// errNoScript marks a script path that does not exist.
var errNoScript = errors.New("no such script")
