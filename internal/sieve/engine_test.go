package sieve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/migadu/go-sieve/interp"
)

const plainMsg = "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: Hello\r\nMessage-ID: <m1@example.org>\r\n\r\nHi\r\n"

func newEngine(t *testing.T, o Options) *Engine {
	t.Helper()
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func writeScript(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func decide(t *testing.T, e *Engine, sc Scripts, from, raw string) *Plan {
	t.Helper()
	p, err := e.Decide(context.Background(), &Input{
		Envelope: Envelope{From: from, To: "bob@example.com"},
		Message:  NewMessage([]byte(raw)),
		Scripts:  sc,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func actionLines(p *Plan) string {
	var out []string
	for _, a := range p.Actions {
		out = append(out, a.String())
	}
	return strings.Join(out, "\n")
}

// A user's broken script never loses mail: each failure ends in exactly
// the implicit keep into INBOX, with the failure recorded for the log.
func TestUserScriptFailuresKeep(t *testing.T) {
	dir := t.TempDir()
	var many strings.Builder
	many.WriteString(`require "fileinto";` + "\n")
	for i := 0; i < 1000; i++ {
		many.WriteString(`fileinto "F` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `";` + "\n")
	}
	writeScript(t, dir, "loop-a.sieve", `require "include"; include :personal "loop-b";`)
	writeScript(t, dir, "loop-b.sieve", `require "include"; include :personal "loop-a";`)
	cases := map[string]struct{ src, want string }{
		"compile error":      {`require "fileinto"; fileinto "A" "B";`, "compile"},
		"unknown extension":  {`require "notify"; keep;`, "compile"},
		"runtime conflict":   {`require "reject"; reject "no"; keep;`, "conflicts"},
		"too many redirects": {`redirect "a@x.org"; redirect "b@x.org"; redirect "c@x.org"; redirect "d@x.org"; redirect "e@x.org";`, "too many redirect"},
		"include loop":       {`require "include"; include :personal "loop-a";`, "include loop"},
		"1000 fileinto":      {many.String(), "too many actions"},
	}
	e := newEngine(t, Options{})
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := decide(t, e, Scripts{User: writeScript(t, dir, "user.sieve", c.src), PersonalDir: dir}, "alice@example.org", plainMsg)
			if got := actionLines(p); got != "keep implicit" {
				t.Errorf("actions = %q, want only the implicit keep", got)
			}
			if !p.UserFailed() || !strings.Contains(p.Failures[0].Err.Error(), c.want) {
				t.Errorf("failures = %v, want one containing %q", p.Failures, c.want)
			}
		})
	}
}

func TestRunTimeLimit(t *testing.T) {
	e := newEngine(t, Options{Limits: Limits{RunTime: time.Nanosecond}})
	dir := t.TempDir()
	p := decide(t, e, Scripts{User: writeScript(t, dir, "u.sieve", `require "fileinto"; fileinto "A";`)}, "a@b.org", plainMsg)
	if actionLines(p) != "keep implicit" || !p.UserFailed() || !strings.Contains(p.Failures[0].Error(), "run time limit") {
		t.Fatalf("plan = %q %v", actionLines(p), p.Failures)
	}
}

func TestScriptSizeLimit(t *testing.T) {
	e := newEngine(t, Options{Limits: Limits{MaxScriptSize: 64}})
	dir := t.TempDir()
	p := decide(t, e, Scripts{User: writeScript(t, dir, "u.sieve", "# "+strings.Repeat("x", 100)+"\ndiscard;\n")}, "a@b.org", plainMsg)
	if actionLines(p) != "keep implicit" || !strings.Contains(p.Failures[0].Error(), "size limit") {
		t.Fatalf("plan = %q %v", actionLines(p), p.Failures)
	}
}

// A global script that fails is reported as global and the user's script
// still runs (SPEC).
func TestGlobalFailureUserRuns(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Options{})
	p := decide(t, e, Scripts{
		Before: []string{writeScript(t, dir, "g.sieve", `this is not sieve`)},
		User:   writeScript(t, dir, "u.sieve", `require "fileinto"; fileinto "User";`),
	}, "a@b.org", plainMsg)
	if got := actionLines(p); got != `fileinto "User"` {
		t.Errorf("actions = %q", got)
	}
	if len(p.Failures) != 1 || !p.Failures[0].Global || p.UserFailed() {
		t.Errorf("failures = %+v", p.Failures)
	}
}

// Missing user script: the default script runs; no scripts: implicit keep.
func TestDefaultScript(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Options{})
	def := writeScript(t, dir, "default.sieve", `require "fileinto"; fileinto "Default";`)
	p := decide(t, e, Scripts{User: filepath.Join(dir, "missing.sieve"), Default: def}, "a@b.org", plainMsg)
	if got := actionLines(p); got != `fileinto "Default"` {
		t.Errorf("actions = %q", got)
	}
	p = decide(t, e, Scripts{}, "a@b.org", plainMsg)
	if got := actionLines(p); got != "keep implicit" {
		t.Errorf("no scripts: actions = %q", got)
	}
}

// RFC 5232 section 5: :flags belongs to one fileinto; the implicit keep
// takes the variable.
func TestFlagsPerAction(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Options{})
	p := decide(t, e, Scripts{User: writeScript(t, dir, "u.sieve", `require ["fileinto","imap4flags","copy"];
setflag "\\seen";
fileinto :copy :flags "\\flagged $Work" "A";
fileinto :copy "B";
addflag "later";`)}, "a@b.org", plainMsg)
	want := `fileinto "A" copy flags=\Flagged,$Work
fileinto "B" copy flags=\Seen
keep implicit flags=\Seen,later`
	if got := actionLines(p); got != want {
		t.Errorf("actions:\n%s\nwant:\n%s", got, want)
	}
}

func TestVacationSuppression(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Options{})
	sc := Scripts{User: writeScript(t, dir, "u.sieve", `require "vacation"; vacation :days 2 "away";`)}
	cases := []struct{ name, from, msg, want string }{
		{"plain", "alice@example.org", plainMsg, ""},
		{"null sender", "", plainMsg, "null sender"},
		{"list", "alice@example.org", "List-Id: <l.example.org>\r\n" + plainMsg, "mailing list"},
		{"precedence", "alice@example.org", "Precedence: bulk\r\n" + plainMsg, "Precedence"},
		{"auto-submitted", "alice@example.org", "Auto-Submitted: auto-replied\r\n" + plainMsg, "Auto-Submitted"},
		{"auto-submitted no", "alice@example.org", "Auto-Submitted: no\r\n" + plainMsg, ""},
		{"mailer-daemon", "MAILER-DAEMON@example.org", plainMsg, "system address"},
		{"owner-", "owner-list@example.org", plainMsg, "system address"},
		{"-request", "list-request@example.org", plainMsg, "system address"},
		{"not addressed", "alice@example.org", strings.Replace(plainMsg, "To: bob@", "To: team@", 1), "not in To/Cc"},
	}
	for _, c := range cases {
		p := decide(t, e, sc, c.from, c.msg)
		var v *Vacation
		for _, a := range p.Actions {
			if a, ok := a.(Vacation); ok {
				v = &a
			}
		}
		if v == nil {
			t.Fatalf("%s: no vacation action in %q", c.name, actionLines(p))
		}
		if (c.want == "") != (v.Suppressed == "") || !strings.Contains(v.Suppressed, c.want) {
			t.Errorf("%s: suppressed = %q, want %q", c.name, v.Suppressed, c.want)
		}
		if v.Subject != "Auto: Hello" || v.Seconds != 2*86400 {
			t.Errorf("%s: subject %q seconds %d", c.name, v.Subject, v.Seconds)
		}
	}
}

func TestVacationPeriodClamped(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Options{VacationMinPeriod: time.Hour, VacationMaxPeriod: 48 * time.Hour})
	for src, want := range map[string]int{
		`require ["vacation","vacation-seconds"]; vacation :seconds 60 "x";`: 3600,
		`require "vacation"; vacation :days 30 "x";`:                         48 * 3600,
		`require "vacation"; vacation "x";`:                                  48 * 3600,
	} {
		p := decide(t, e, Scripts{User: writeScript(t, dir, "u.sieve", src)}, "alice@example.org", plainMsg)
		if v, ok := p.Actions[0].(Vacation); !ok || v.Seconds != want {
			t.Errorf("%s: %q, want period %d", src, actionLines(p), want)
		}
	}
}

func TestCompileCache(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Options{})
	p := writeScript(t, dir, "u.sieve", `discard;`)
	s1, err := e.CompileFile(p, "", "")
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := e.CompileFile(p, "", "")
	if s1 != s2 {
		t.Error("unchanged script compiled twice")
	}
	writeScript(t, dir, "u.sieve", `keep; keep;`) // other size
	s3, _ := e.CompileFile(p, "", "")
	if s3 == s1 {
		t.Error("changed script served from the cache")
	}
	// An included script's change invalidates its includer.
	writeScript(t, dir, "inc.sieve", `keep;`)
	main := writeScript(t, dir, "main.sieve", `require "include"; include :personal "inc";`)
	m1, err := e.CompileFile(main, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	writeScript(t, dir, "inc.sieve", `discard; # changed`)
	if m2, _ := e.CompileFile(main, dir, ""); m2 == m1 {
		t.Error("includer served from the cache after its include changed")
	}
}

func TestDuplicateCommittedAfterDelivery(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Options{})
	rec := NewRecord(dir, DuplicateRecordFile, -1, -1)
	in := func() *Input {
		return &Input{Envelope: Envelope{From: "a@b.org", To: "bob@example.com"}, Message: NewMessage([]byte(plainMsg)),
			Scripts:    Scripts{User: writeScript(t, dir, "u.sieve", `require ["duplicate","fileinto"]; if duplicate { fileinto "Dup"; }`)},
			Duplicates: rec}
	}
	p, _ := e.Decide(context.Background(), in())
	if actionLines(p) != "keep implicit" {
		t.Fatalf("first: %q", actionLines(p))
	}
	// Not committed (delivery failed, will be retried): still not a duplicate.
	p, _ = e.Decide(context.Background(), in())
	if actionLines(p) != "keep implicit" {
		t.Fatalf("retry: %q", actionLines(p))
	}
	if err := p.Commit(rec); err != nil {
		t.Fatal(err)
	}
	p, _ = e.Decide(context.Background(), in())
	if actionLines(p) != `fileinto "Dup"` {
		t.Fatalf("after commit: %q", actionLines(p))
	}
}

func TestApplyEdits(t *testing.T) {
	raw := "Received: x\r\nX-Spam: yes\r\nSubject: s\r\nX-Spam: again\r\n\r\nbody\r\n"
	got := string(ApplyEdits([]byte(raw), []HeaderEdit{
		{Add: true, Name: "X-Top", Value: "1"},
		{Add: true, Name: "X-Bottom", Value: "2", Last: true},
		{Name: "X-Spam", Index: 1, Last: true},
	}))
	want := "X-Top: 1\r\nReceived: x\r\nX-Spam: yes\r\nSubject: s\r\nX-Bottom: 2\r\n\r\nbody\r\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if string(ApplyEdits([]byte(raw), nil)) != raw {
		t.Error("no edits changed the message")
	}
}

func TestUnknownExtensionOption(t *testing.T) {
	if _, err := New(Options{Extensions: []string{"fileinto", "enotify"}}); err == nil {
		t.Fatal("enotify accepted")
	}
	e := newEngine(t, Options{Extensions: []string{"fileinto"}})
	_, err := e.Compile("x", []byte(`require "vacation"; vacation "x";`))
	if err == nil {
		t.Fatal("vacation compiled with only fileinto allowed")
	}
	_, err = e.CompileFile(filepath.Join(t.TempDir(), "none.sieve"), "", "")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing script: %v", err)
	}
}

// The letters Dovecot writes for keep :flags [\Seen \Flagged \Answered
// \Draft \Deleted $Label1 Work] are ":2,DFRSTab" (sieve-test -e).
func TestMaildirFlags(t *testing.T) {
	letters, kw := MaildirFlags([]string{`\Seen`, `\flagged`, `\Answered`, `\Draft`, `\Deleted`, "$Label1", "Work", `\Recent`, "work"})
	if letters != "DFRST" || strings.Join(kw, " ") != "$Label1 Work" {
		t.Fatalf("letters %q keywords %q", letters, kw)
	}
}

// ManageSieve activates a script by re-pointing ~/.dovecot.sieve: the
// cache follows the link even when both scripts have one size and mtime.
func TestCacheFollowsActiveSymlink(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, "sieve"), 0o755)
	a := writeScript(t, home, "sieve/a.sieve", `require "fileinto"; fileinto "A";`)
	b := writeScript(t, home, "sieve/b.sieve", `require "fileinto"; fileinto "B";`)
	same := time.Now().Add(-time.Hour)
	os.Chtimes(a, same, same)
	os.Chtimes(b, same, same)
	active := filepath.Join(home, ".dovecot.sieve")
	os.Symlink("sieve/a.sieve", active)
	e := newEngine(t, Options{})
	if got := actionLines(decide(t, e, Scripts{User: active}, "x@y.org", plainMsg)); got != `fileinto "A"` {
		t.Fatalf("a active: %q", got)
	}
	os.Remove(active)
	os.Symlink("sieve/b.sieve", active)
	if got := actionLines(decide(t, e, Scripts{User: active}, "x@y.org", plainMsg)); got != `fileinto "B"` {
		t.Fatalf("b active: %q", got)
	}
}

// ManageSieve's PUTSCRIPT (and an editor) replaces the active script by
// rename: the next delivery runs the new one even when it has the old
// one's size and mtime (the cache compares the inode, and the ctime that
// a rewrite in place cannot set back).
func TestCacheSeesReplacedScript(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, "sieve"), 0o755)
	script := writeScript(t, home, "sieve/roundcube.sieve", `require "fileinto"; fileinto "A";`)
	same := time.Now().Add(-time.Hour)
	os.Chtimes(script, same, same)
	active := filepath.Join(home, ".dovecot.sieve")
	os.Symlink("sieve/roundcube.sieve", active)
	e := newEngine(t, Options{})
	if got := actionLines(decide(t, e, Scripts{User: active}, "x@y.org", plainMsg)); got != `fileinto "A"` {
		t.Fatalf("before: %q", got)
	}
	tmp := writeScript(t, home, "sieve/roundcube.sieve.tmp", `require "fileinto"; fileinto "B";`)
	os.Chtimes(tmp, same, same)
	if err := os.Rename(tmp, script); err != nil {
		t.Fatal(err)
	}
	if got := actionLines(decide(t, e, Scripts{User: active}, "x@y.org", plainMsg)); got != `fileinto "B"` {
		t.Fatalf("replaced by rename: %q", got)
	}
	if err := os.WriteFile(script, []byte(`require "fileinto"; fileinto "C";`), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(script, same, same)
	if got := actionLines(decide(t, e, Scripts{User: active}, "x@y.org", plainMsg)); got != `fileinto "C"` {
		t.Fatalf("rewritten in place: %q", got)
	}
}

// :detail splits on [mail] recipient_delimiter, as Pigeonhole on Dovecot's.
func TestRecipientDelimiter(t *testing.T) {
	defer func(old string) { interp.SubaddressSeparator = old }(interp.SubaddressSeparator)
	e := newEngine(t, Options{RecipientDelimiter: "-"})
	dir := t.TempDir()
	p, err := e.Decide(context.Background(), &Input{
		Envelope: Envelope{From: "a@b.org", To: "bob-lists@example.com"},
		Message:  NewMessage([]byte(plainMsg)),
		Scripts: Scripts{User: writeScript(t, dir, "u.sieve",
			`require ["envelope","subaddress","fileinto"]; if envelope :detail "to" "lists" { fileinto "Lists"; }`)},
	})
	if err != nil || actionLines(p) != `fileinto "Lists"` {
		t.Fatalf("%v %q", err, actionLines(p))
	}
}

// TestEditsPerAction: each copy carries the header edits made before its
// action ran, as Pigeonhole stores it (checked with dovecot-lda: a
// fileinto before deleteheader keeps the field); the implicit keep, at
// the end, has them all; the edits of a before script count first.
func TestEditsPerAction(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Options{})
	before := writeScript(t, dir, "b.sieve", `require ["editheader"];
addheader "X-Before" "1";`)
	p := decide(t, e, Scripts{Before: []string{before}, User: writeScript(t, dir, "u.sieve", `require ["editheader","fileinto","copy"];
fileinto :copy "one";
deleteheader "subject";
redirect :copy "x@example.net";
addheader "X-Late" "2";
fileinto :copy "two";`)}, "a@b.org", plainMsg)
	got := map[string]int{}
	for _, a := range p.Actions {
		got[a.String()] = len(p.EditsFor(a))
	}
	want := map[string]int{`fileinto "one" copy`: 1, "redirect <x@example.net> copy": 2, `fileinto "two" copy`: 3, "keep implicit": 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("edits per action %v, want %v", got, want)
	}
}

// A later script of the sequence sees the earlier ones' header edits, as
// in Pigeonhole (checked with sieve-test -s): a before script's addheader
// is there for the user's tests, its deleteheader is gone, and the
// stored copy carries both.
func TestBeforeEditsVisible(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Options{})
	before := writeScript(t, dir, "b.sieve", `require ["editheader"];
addheader "X-Spam-Tag" "yes";
deleteheader "Subject";`)
	user := writeScript(t, dir, "u.sieve", `require ["fileinto"];
if header :is "X-Spam-Tag" "yes" { fileinto "Tagged"; }
if exists "Subject" { fileinto "HasSubject"; }`)
	p := decide(t, e, Scripts{Before: []string{before}, User: user}, "a@b.org", plainMsg)
	var got []string
	for _, a := range p.Actions {
		got = append(got, a.String())
	}
	if strings.Join(got, ",") != `fileinto "Tagged"` {
		t.Fatalf("actions %q, want the before script's edits seen by the user's tests", got)
	}
	stored := string(ApplyEdits([]byte(plainMsg), p.EditsFor(p.Actions[0])))
	if !strings.Contains(stored, "X-Spam-Tag: yes") || strings.Contains(stored, "Subject:") {
		t.Errorf("stored copy:\n%s", stored)
	}
}
