package delivery

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/location"
	"maildeliver/internal/message"
	"maildeliver/internal/status"
)

// fixedPlan is a Decider that returns its plan (what a Sieve script would).
type fixedPlan struct {
	plan Plan
	err  error
}

func (f fixedPlan) Decide(context.Context, *Target, Request, *message.Message) (Plan, error) {
	return f.plan, f.err
}

// otherAction is an action this version cannot carry out.
type otherAction struct{}

func (otherAction) action() {}

func planAgent(t *testing.T, d Decider) (*Agent, *Target) {
	t.Helper()
	a := NewAgent(config.Defaults(), fakeDB{}, slog.New(slog.DiscardHandler), WithDecider(d))
	uid, base := os.Geteuid(), t.TempDir()
	home := filepath.Join(base, "u")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if uid == 0 {
		uid = 1001                          // as root, deliveries switch to the mailbox owner
		os.Chmod(filepath.Dir(base), 0o755) // t.TempDir makes both 0700
		os.Chmod(base, 0o755)
		if err := os.Chown(home, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	return a, &Target{Recipient: "bob@example.org", Maildir: filepath.Join(home, "Maildir"), UID: uid, GID: uid,
		Mailbox: location.Mailbox{RootOwn: home, InboxOwn: home, Naming: a.loc.Naming()}}
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name()+"|"+string(b))
	}
	return names
}

// A plan of several stores, from a stream (deliver's stdin): every store
// gets the whole message, the flagged one in cur/ with its info (the
// keyword's letter from the new folder's dovecot-keywords), and the
// folder asked to be created is.
func TestPlanSeveralStores(t *testing.T) {
	a, tg := planAgent(t, fixedPlan{plan: Plan{
		Store{},
		Store{Folder: "Archive", Flags: []string{`\Seen`, `\Flagged`, "$Label1"}, Create: true},
	}})
	msg, err := message.ReadStream(strings.NewReader("Subject: s\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer msg.Close()
	res, err := a.Deliver(t.Context(), tg, Request{ID: NewID(), Sender: "s@example.org"}, msg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Folder != "" || len(res.Also) != 1 || res.Also[0].Folder != "Archive" || !strings.HasSuffix(res.Also[0].File, ":2,FSa") {
		t.Fatalf("result %+v", res)
	}
	if kw, err := os.ReadFile(filepath.Join(tg.Maildir, ".Archive", "dovecot-keywords")); string(kw) != "0 $Label1\n" {
		t.Fatalf("dovecot-keywords %q, %v", kw, err)
	}
	inbox, archive := files(t, filepath.Join(tg.Maildir, "new")), files(t, filepath.Join(tg.Maildir, ".Archive", "cur"))
	if len(inbox) != 1 || len(archive) != 1 {
		t.Fatalf("INBOX %q, Archive %q", inbox, archive)
	}
	body := func(s string) string { _, b, _ := strings.Cut(s, "|"); return b }
	if body(inbox[0]) != body(archive[0]) || !strings.HasSuffix(body(inbox[0]), "Subject: s\n\nbody\n") {
		t.Fatalf("INBOX %q, Archive %q", inbox, archive)
	}
}

// An empty plan (Sieve's discard) stores nothing and succeeds; a Decider's
// error keeps its code; an action this version cannot do is temporary.
func TestPlanOutcomes(t *testing.T) {
	deliver := func(d Decider) (*Target, error) {
		a, tg := planAgent(t, d)
		msg, _ := message.ReadStream(strings.NewReader("Subject: s\n\nb\n"))
		_, err := a.Deliver(t.Context(), tg, Request{ID: NewID()}, msg)
		return tg, err
	}
	tg, err := deliver(fixedPlan{plan: Plan{}})
	if err != nil {
		t.Fatalf("empty plan: %v", err)
	}
	if _, serr := os.Stat(tg.Maildir); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("empty plan touched the mailbox: %v", serr)
	}
	if _, err := deliver(fixedPlan{err: status.UserUnknown("x@y")}); status.From(err).Enhanced != "5.1.1" {
		t.Fatalf("decider error: %v", err)
	}
	if _, err := deliver(fixedPlan{err: errors.New("script broken")}); !status.From(err).Temporary() {
		t.Fatalf("decider plain error: %v", err)
	}
	if _, err := deliver(fixedPlan{plan: Plan{otherAction{}}}); !status.From(err).Temporary() {
		t.Fatalf("unknown action: %v", err)
	}
}

// A plan with a Reject stores nothing, whatever else it holds, and fails
// 5.7.1 with the reason (exit 77); a Note goes on the result, and a plan
// of notes alone is a discard.
func TestPlanRejectNote(t *testing.T) {
	a, tg := planAgent(t, fixedPlan{plan: Plan{Store{}, Reject{Reason: "no thanks"}}})
	msg, _ := message.ReadStream(strings.NewReader("Subject: s\n\nb\n"))
	_, err := a.Deliver(t.Context(), tg, Request{ID: NewID()}, msg)
	if st := status.From(err); st.Enhanced != "5.7.1" || st.ExitCode() != status.ExitNoPerm || st.Reason != "no thanks" {
		t.Fatalf("reject: %v", err)
	}
	if _, serr := os.Stat(tg.Maildir); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("reject touched the mailbox: %v", serr)
	}
	a, tg = planAgent(t, fixedPlan{plan: Plan{Note{Key: "sieve", Value: "error"}, Store{}}})
	msg, _ = message.ReadStream(strings.NewReader("Subject: s\n\nb\n"))
	res, err := a.Deliver(t.Context(), tg, Request{ID: NewID()}, msg)
	if err != nil || res.File == "" || res.Discarded || len(res.Notes) != 1 || res.Notes[0].Key != "sieve" {
		t.Fatalf("note + store: %+v, %v", res, err)
	}
	a, tg = planAgent(t, fixedPlan{plan: Plan{Note{Key: "sieve", Value: "error"}}})
	msg, _ = message.ReadStream(strings.NewReader("Subject: s\n\nb\n"))
	if res, err = a.Deliver(t.Context(), tg, Request{ID: NewID()}, msg); err != nil || !res.Discarded {
		t.Fatalf("notes only: %+v, %v", res, err)
	}
}

func TestMaildirInfo(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{nil, ""},
		{[]string{"$Junk"}, ""},
		{[]string{`\Seen`}, "2,S"},
		{[]string{`\seen`, `\Answered`, `\Draft`, `\Deleted`, `\Flagged`, `\Seen`}, "2,DFRST"},
	} {
		if got := MaildirInfo(tc.flags); got != tc.want {
			t.Errorf("MaildirInfo(%q) = %q, want %q", tc.flags, got, tc.want)
		}
	}
}

func TestKeywords(t *testing.T) {
	got := Keywords([]string{`\Seen`, "$Label1", "Junk", `\Recent`, "junk", "$label1", `\Foo`, "Work"})
	if strings.Join(got, " ") != "$Label1 Junk Work" {
		t.Errorf("Keywords = %q", got)
	}
}

// outcomes is an Observer that keeps what it is told.
type outcomes []string

func (o *outcomes) ObserveDelivery(result, code string, _ time.Duration, _ int64) {
	*o = append(*o, result+" "+code)
}

// The Observer (lmtpd's metrics) is told the result the log line says: a
// plan that stored nothing (Sieve's discard, a redirect) is "discarded",
// not "delivered".
func TestObserverDiscarded(t *testing.T) {
	var seen outcomes
	for _, plan := range []Plan{{Store{}}, {Note{Key: "sieve", Value: "x"}}} {
		a, tg := planAgent(t, fixedPlan{plan: plan})
		a.observer = &seen
		msg, _ := message.ReadStream(strings.NewReader("Subject: s\n\nb\n"))
		req := Request{ID: NewID()}
		start := time.Now()
		res, err := a.Deliver(t.Context(), tg, req, msg)
		a.Report(Outcome{ID: req.ID, Recipient: tg.Recipient, Result: res, Err: err, Start: start})
	}
	if want := []string{"delivered 2.0.0", "discarded 2.0.0"}; strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("observed %q, want %q", seen, want)
	}
}
