package sieve

import (
	"fmt"
	"strings"
)

// Action is one thing the scripts decided for a message. The delivery core
// performs them; this package only decides (and, for outgoing mail, sends
// through an Outbox).
type Action interface {
	// String is the one-line form `deliver -sieve-test` prints.
	String() string
	isAction()
}

// Keep stores the message in INBOX. Implicit is set for Sieve's implicit
// keep (RFC 5228 section 2.10.2), also when a script failed.
type Keep struct {
	Flags    []string
	Implicit bool
	Edits    int // how many of Plan.Edits apply to this copy (see EditsFor)
}

// FileInto stores the message in Folder (Sieve's name, "/"-separated as
// the script wrote it).
type FileInto struct {
	Folder string
	Flags  []string
	Create bool // :create (RFC 5490): make the folder if it is missing
	Copy   bool // :copy (RFC 3894): did not cancel the implicit keep
	Edits  int  // how many of Plan.Edits apply to this copy (see EditsFor)
}

// Discard drops the message silently (it cancelled the implicit keep).
type Discard struct{}

// Redirect sends the message on to Address.
type Redirect struct {
	Address string
	Copy    bool
	Edits   int // how many of Plan.Edits apply to the sent copy (see EditsFor)
}

// Reject refuses the message: reject (RFC 5429 section 2.2) or ereject
// (Extended, refused in the SMTP/LMTP dialogue).
type Reject struct {
	Reason   string
	Extended bool
}

// Vacation is a vacation reply the script asked for (RFC 5230). Suppressed
// names the RFC 3834 / RFC 5230 rule that stops it, "" when it may be sent
// (subject still to the once-per-period record, see VacationRecord).
type Vacation struct {
	To         string // the envelope sender being answered
	From       string // From of the reply (:from, else the recipient)
	Subject    string // "Auto: <subject>" unless :subject
	Body       string
	Mime       bool // Body is a MIME entity (:mime)
	Seconds    int  // period from :days / :seconds, clamped to the configured range
	Handle     string
	Addresses  []string
	Suppressed string
}

func (Keep) isAction()     {}
func (FileInto) isAction() {}
func (Discard) isAction()  {}
func (Redirect) isAction() {}
func (Reject) isAction()   {}
func (Vacation) isAction() {}

func flagSuffix(flags []string) string {
	if len(flags) == 0 {
		return ""
	}
	return " flags=" + strings.Join(flags, ",")
}

func (a Keep) String() string {
	s := "keep"
	if a.Implicit {
		s = "keep implicit"
	}
	return s + flagSuffix(a.Flags)
}

func (a FileInto) String() string {
	s := fmt.Sprintf("fileinto %q", a.Folder)
	if a.Create {
		s += " create"
	}
	if a.Copy {
		s += " copy"
	}
	return s + flagSuffix(a.Flags)
}

func (Discard) String() string { return "discard" }

func (a Redirect) String() string {
	s := "redirect <" + a.Address + ">"
	if a.Copy {
		s += " copy"
	}
	return s
}

func (a Reject) String() string {
	if a.Extended {
		return fmt.Sprintf("ereject %q", a.Reason)
	}
	return fmt.Sprintf("reject %q", a.Reason)
}

func (a Vacation) String() string {
	s := fmt.Sprintf("vacation to <%s> from %q subject %q period %ds", a.To, a.From, a.Subject, a.Seconds)
	if a.Suppressed != "" {
		s += " suppressed (" + a.Suppressed + ")"
	}
	return s
}
