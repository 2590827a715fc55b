// Package sievecases is the table of Sieve failure cases (issue 12's
// "Show"): what a broken or hostile script, or a failing outgoing route,
// does to one delivery. Both lmtpd's tests (internal/lmtp, over LMTP) and
// deliver's (cmd/deliver, the binary) run every case and check the same
// outcome; README's "Sieve failure cases" table lists them. It holds test
// data only and is imported by tests only.
package sievecases

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/smtpsink"
)

// Sink is the state of submission_host during a case.
type Sink int

const (
	NoSink   Sink = iota // no outgoing mail expected: sendmail_path, never run
	SinkUp               // an SMTP sink (smtpsink.Start)
	SinkDown             // nothing listens (smtpsink.DeadAddr)
)

// Case is one failure case for the recipient RCPT ("%RCPT%" in Script is
// replaced by the recipient's address).
type Case struct {
	Name     string
	Script   string            // the user's active script
	Includes map[string]string // scripts in the user's sieve dir: name (without .sieve) → text
	Before   string            // a global before script, "" none
	Sink     Sink
	Null     bool   // the null sender instead of sender@example.net
	Header   string // further header fields of the message ("List-Id: ...\r\n")

	// The outcome.
	Reply  string         // lmtpd's reply prefix ("250 2.0.0", "451 4.3.0")
	Exit   int            // deliver's exit code
	Stored map[string]int // messages per folder ("INBOX", "Filtered") afterwards, nothing else
	Sent   int            // messages the sink got
	Log    []string       // each appears in the log
	NoLog  []string       // none appears in the log
}

// ScriptFor returns c's script for rcpt.
func (c Case) ScriptFor(rcpt string) string { return strings.ReplaceAll(c.Script, "%RCPT%", rcpt) }

// Message is the message each case delivers to rcpt (CRLF, no final dot).
func (c Case) Message(rcpt string) string {
	return "From: Sender <sender@example.net>\r\nTo: " + rcpt + "\r\nSubject: failure case\r\n" +
		"Message-ID: <" + strings.ReplaceAll(c.Name, " ", "-") + "@example.net>\r\n" + c.Header + "\r\nbody\r\n"
}

// Sender is the envelope sender.
func (c Case) Sender() string {
	if c.Null {
		return ""
	}
	return "sender@example.net"
}

func thousandFileinto() string {
	var b strings.Builder
	b.WriteString("require [\"fileinto\", \"mailbox\"];\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "fileinto :create \"F%d\";\n", i)
	}
	return b.String()
}

var inbox = map[string]int{"INBOX": 1}

// Cases: each ends with the message stored (or, when nothing could be
// stored or sent, refused temporarily so that Postfix keeps it): nothing
// is lost.
var Cases = []Case{
	{Name: "user script does not compile", Script: "this is not sieve;\n",
		Reply: "250 2.0.0", Stored: inbox, Log: []string{"sieve=error", "sieve: user script failed: implicit keep"}},
	{Name: "global before script does not compile", Before: "this is not sieve;\n",
		Script: "require [\"fileinto\", \"mailbox\"];\nfileinto :create \"Filtered\";\n",
		Reply:  "250 2.0.0", Stored: map[string]int{"Filtered": 1}, Log: []string{"level=ERROR", "sieve: global script failed"},
		NoLog: []string{"sieve=error"}}, // not the user's mistake
	{Name: "runtime error: reject beside fileinto", Script: "require [\"reject\", \"fileinto\"];\nfileinto \"X\";\nreject \"no\";\n",
		Reply: "250 2.0.0", Stored: inbox, Log: []string{"sieve=error", "reject/ereject action conflicts"}},
	{Name: "runtime error: more redirects than max_redirects", Sink: SinkUp,
		Script: "redirect \"a@example.net\";\nredirect \"b@example.net\";\nredirect \"c@example.net\";\nredirect \"d@example.net\";\nredirect \"e@example.net\";\n",
		Reply:  "250 2.0.0", Stored: inbox, Log: []string{"sieve=error", "too many redirect actions (limit 4)"}},
	{Name: "include loop", Script: "require \"include\";\ninclude :personal \"a\";\n",
		Includes: map[string]string{"a": "require \"include\";\ninclude :personal \"b\";\n", "b": "require \"include\";\ninclude :personal \"a\";\n"},
		Reply:    "250 2.0.0", Stored: inbox, Log: []string{"sieve=error", "include loop"}},
	{Name: "1,000 fileinto", Script: thousandFileinto(),
		Reply: "250 2.0.0", Stored: inbox, Log: []string{"sieve=error", "too many actions (limit 32)"}},
	{Name: "redirect to itself", Sink: SinkUp, Script: "redirect \"%RCPT%\";\n",
		Reply: "250 2.0.0", Stored: inbox, Log: []string{"sieve: redirect not sent, the message is kept", "redirect loop"}},
	{Name: "vacation to a list", Sink: SinkUp, Script: "require \"vacation\";\nvacation \"Away.\";\n",
		Header: "List-Id: <list.example.net>\r\n",
		Reply:  "250 2.0.0", Stored: inbox, Log: []string{"sieve: vacation reply not sent", "mailing list message"}},
	{Name: "vacation to the null sender", Sink: SinkUp, Null: true, Script: "require \"vacation\";\nvacation \"Away.\";\n",
		Reply: "250 2.0.0", Stored: inbox, Log: []string{"sieve: vacation reply not sent", "null sender"}},
	{Name: "SMTP sink down during a redirect, nothing stored", Sink: SinkDown, Script: "redirect \"carol@example.net\";\n",
		Reply: "451 4.3.0", Exit: 75, Stored: map[string]int{}, Log: []string{"outgoing mail of the Sieve script could not be sent"}},
	{Name: "SMTP sink down during a redirect :copy, a copy stored", Sink: SinkDown,
		Script: "require \"copy\";\nredirect :copy \"carol@example.net\";\n",
		Reply:  "250 2.0.0", Stored: inbox, Log: []string{"could not send, the message is stored"}},
}

// Stored counts the messages in each folder of the Maildir++ mailbox at
// maildir (new/ and cur/; "INBOX" and folder names without the dot); a
// file left in any tmp/ is an error.
func Stored(maildir string) (map[string]int, error) {
	out := map[string]int{}
	dirs := map[string]string{"INBOX": maildir}
	ents, err := os.ReadDir(maildir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), ".") {
			dirs[e.Name()[1:]] = filepath.Join(maildir, e.Name())
		}
	}
	for name, dir := range dirs {
		for _, sub := range []string{"new", "cur", "tmp"} {
			files, err := os.ReadDir(filepath.Join(dir, sub))
			if err != nil && !os.IsNotExist(err) {
				return nil, err
			}
			if sub == "tmp" && len(files) > 0 {
				return nil, fmt.Errorf("%s: %d files left in tmp/", name, len(files))
			}
			if len(files) > 0 {
				out[name] += len(files)
			}
		}
	}
	return out, nil
}

// Check compares what happened with c's outcome: reply (lmtpd's) or exit
// (deliver's, when reply is ""), the folders stored into, the messages
// the sink got and the log. It returns the differences.
func (c Case) Check(reply string, exit int, stored map[string]int, sent int, log string) []string {
	var bad []string
	if reply != "" && !strings.HasPrefix(reply, c.Reply) {
		bad = append(bad, fmt.Sprintf("reply %q, want %q", reply, c.Reply))
	}
	if reply == "" && exit != c.Exit {
		bad = append(bad, fmt.Sprintf("exit %d, want %d", exit, c.Exit))
	}
	if fmt.Sprint(stored) != fmt.Sprint(c.Stored) {
		bad = append(bad, fmt.Sprintf("stored %v, want %v", stored, c.Stored))
	}
	if sent != c.Sent {
		bad = append(bad, fmt.Sprintf("sink got %d messages, want %d", sent, c.Sent))
	}
	for _, l := range c.Log {
		if !strings.Contains(log, l) {
			bad = append(bad, fmt.Sprintf("log lacks %q", l))
		}
	}
	for _, l := range c.NoLog {
		if strings.Contains(log, l) {
			bad = append(bad, fmt.Sprintf("log has %q", l))
		}
	}
	return bad
}

// Start makes c's submission_host: the sink (nil unless SinkUp) and its
// address ("" for NoSink), and writes c's before script, returning its
// path ("" for none).
func (c Case) Start(t testing.TB) (sink *smtpsink.Sink, submission, before string) {
	t.Helper()
	switch c.Sink {
	case SinkUp:
		sink, submission = smtpsink.Start(t)
	case SinkDown:
		submission = smtpsink.DeadAddr(t)
	}
	if c.Before != "" {
		before = filepath.Join(t.TempDir(), "before.sieve")
		os.Chmod(filepath.Dir(before), 0o755) // mailbox owners run it
		if err := os.WriteFile(before, []byte(c.Before), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return sink, submission, before
}

// Sent is how many messages sink got (0 for none).
func Sent(sink *smtpsink.Sink) int {
	if sink == nil {
		return 0
	}
	return len(sink.Messages())
}
