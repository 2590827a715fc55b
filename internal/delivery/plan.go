package delivery

import (
	"context"
	"slices"
	"sort"
	"strings"

	"maildeliver/internal/message"
)

// A delivery reads top to bottom (Deliver): resolve the recipient (Resolve)
// → decide a Plan (a Decider) → carry out each Action (store: create in
// tmp/, write, reserve the quota, commit into new/, commit the
// reservation) → one report (Report).
//
// Where Sieve plugs in: a Sieve engine is a Decider. Given with
// WithDecider, its Decide runs the user's script against the message's
// header and returns the script's actions; Deliver carries them out in
// order. Store (keep, fileinto with its flags and :create) is the action
// this package carries out today; discard is an empty Plan; redirect,
// reject and vacation become further Action types with their case in
// Agent.carryOut. An error from Decide is the recipient's failure (a
// *status.Error keeps its code, anything else is temporary).

// Action is one thing a delivery does with the message for one recipient.
type Action interface{ action() }

// Store files the message into Folder ("" = INBOX) with Flags (IMAP
// system flags such as `\Seen`; see MaildirInfo). A missing folder is
// created when Create is set (Sieve's fileinto :create) or [mail]
// autocreate is on; else, as for a folder name that cannot be used, the
// message goes to INBOX (Dovecot does the same).
type Store struct {
	Folder string
	Flags  []string
	Create bool
	// Header, if not nil, is the header section to store instead of the
	// message's (Sieve's editheader): LF line endings, ending with the
	// blank line, without the fields the delivery prepends.
	Header []byte
}

func (Store) action() {}

// Reject refuses the message for this recipient (Sieve's reject and
// ereject): lmtpd answers 550 5.7.1 Reason, deliver prints 5.7.1 Reason
// and exits 77. A plan with a Reject stores nothing, whatever else it
// holds.
type Reject struct{ Reason string }

func (Reject) action() {}

// Note puts Key=Value on the delivery's log line (Sieve's sieve=error);
// it changes nothing else.
type Note struct{ Key, Value string }

func (Note) action() {}

// Send is outgoing mail the plan makes (Sieve's redirect and vacation
// reply): Do sends it (and logs what it sent: a vacation reply may rightly
// send nothing). Sends are carried out after every Store of the
// plan succeeded. One that fails fails the recipient temporarily when
// nothing was stored for it (Postfix retries; nothing is lost), and is
// logged when something was (a retry would store a duplicate).
type Send struct {
	What string // for the log: "redirect <a@b>"
	Do   func(ctx context.Context) error
}

func (Send) action() {}

// After runs once the delivery succeeded (Sieve's duplicate record); its
// failure is logged, never the recipient's.
type After struct {
	What string
	Do   func(ctx context.Context) error
}

func (After) action() {}

// Plan is what a delivery does for one recipient, in order. An empty plan
// delivers nothing and succeeds (Sieve's discard).
type Plan []Action

// stores counts the plan's Store actions: a message stored more than once
// must have a body that can be read again (message.Message.Spool).
func (p Plan) stores() int {
	n := 0
	for _, a := range p {
		if _, ok := a.(Store); ok {
			n++
		}
	}
	return n
}

// rejection is the plan's Reject, if it has one.
func (p Plan) rejection() (Reject, bool) {
	for _, a := range p {
		if r, ok := a.(Reject); ok {
			return r, true
		}
	}
	return Reject{}, false
}

// Decider decides the plan for one recipient's message; req is the
// envelope (Sieve's envelope test). It must not touch the mailbox:
// Deliver carries the plan out. It may read msg's body (a stream is
// spooled first, see message.Message.Spool) but leaves it re-readable.
type Decider interface {
	Decide(ctx context.Context, t *Target, req Request, msg *message.Message) (Plan, error)
}

// folderDecider is the plan without Sieve: one store into the folder
// Resolve chose (deliver -m, the +detail folder, or INBOX).
type folderDecider struct{}

func (folderDecider) Decide(_ context.Context, t *Target, _ Request, _ *message.Message) (Plan, error) {
	return Plan{Store{Folder: t.Folder}}, nil
}

// systemFlags maps IMAP system flags to Maildir info letters.
var systemFlags = map[string]byte{
	`\draft`: 'D', `\flagged`: 'F', `\answered`: 'R', `\seen`: 'S', `\deleted`: 'T',
}

// MaildirInfo is the Maildir info ("2,<letters>") for IMAP flags' system
// flags, "" for none: the file then goes to new/. Keywords (Keywords) get
// their letters from the folder's dovecot-keywords file when stored.
func MaildirInfo(flags []string) string {
	var letters []byte
	for _, f := range flags {
		if c, ok := systemFlags[strings.ToLower(f)]; ok && !strings.ContainsRune(string(letters), rune(c)) {
			letters = append(letters, c)
		}
	}
	if len(letters) == 0 {
		return ""
	}
	sort.Slice(letters, func(i, j int) bool { return letters[i] < letters[j] })
	return "2," + string(letters)
}

// Keywords are the IMAP keywords among a Store's flags ($Label1, Junk):
// not a system flag, each once, compared case-insensitively as Dovecot
// does. An unknown system flag (\Recent, \Foo) is neither: it cannot be
// stored.
func Keywords(flags []string) []string {
	var out []string
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) || slices.ContainsFunc(out, func(k string) bool { return strings.EqualFold(k, f) }) {
			continue
		}
		out = append(out, f)
	}
	return out
}
