package sieve

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"maildeliver/internal/smtpsink"
)

func TestRedirectOverSMTP(t *testing.T) {
	k, addr := smtpsink.Start(t)
	m := &Mailer{Outbox: SMTPOutbox{Addr: addr, Hostname: "mx.test"}, EnvelopeFrom: "recipient"}
	env := Envelope{From: "alice@example.org", To: "bob@example.com"}
	if err := m.Redirect(context.Background(), []byte(plainMsg), Redirect{Address: "carol@example.net"}, env, ""); err != nil {
		t.Fatal(err)
	}
	if len(k.Messages()) != 1 {
		t.Fatalf("sink got %d messages", len(k.Messages()))
	}
	g := k.Messages()[0]
	if g.From != "bob@example.com" || strings.Join(g.To, ",") != "carol@example.net" {
		t.Errorf("envelope %q -> %q", g.From, g.To)
	}
	if !strings.HasPrefix(g.Data, RedirectedHeader+": bob@example.com\r\n") || !strings.HasSuffix(g.Data, plainMsg) {
		t.Errorf("redirected bytes changed beyond our header:\n%s", g.Data)
	}
	// The redirected copy coming back to bob and redirected again is a loop.
	err := m.Redirect(context.Background(), []byte(g.Data), Redirect{Address: "carol@example.net"}, env, "")
	if !errors.Is(err, ErrRedirectLoop) {
		t.Fatalf("second redirect by the same recipient: %v", err)
	}
	// A refused recipient comes back as the server's SMTP error (4xx here).
	k.RefuseRcpt("dave@example.net")
	err = m.Redirect(context.Background(), []byte(plainMsg), Redirect{Address: "dave@example.net"}, env, "")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 450 {
		t.Fatalf("refused RCPT: %v", err)
	}
}

func TestSMTPOutboxDown(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	err := SMTPOutbox{Addr: addr, Timeout: 5 * time.Second}.Send(context.Background(), "", []string{"x@y.org"}, []byte(plainMsg))
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("send to a closed port: %v", err)
	}
}

func TestRedirectEnvelopeFrom(t *testing.T) {
	env := Envelope{From: "alice@example.org", To: "bob@example.com", OrigTo: "b@example.com"}
	for setting, want := range map[string]string{
		"": "alice@example.org", "sender": "alice@example.org", "recipient": "bob@example.com",
		"orig_recipient": "b@example.com", "user_email": "robert@example.com",
		"postmaster": "postmaster@example.com", "<bounces@example.com>": "bounces@example.com",
	} {
		m := &Mailer{EnvelopeFrom: setting}
		if got := m.redirectFrom(env, "robert@example.com"); got != want {
			t.Errorf("%q: %q, want %q", setting, got, want)
		}
	}
	m := &Mailer{EnvelopeFrom: "postmaster", Postmaster: "pm@example.net"}
	if got := m.redirectFrom(env, ""); got != "pm@example.net" {
		t.Errorf("postmaster_address: %q", got)
	}
}

// The vacation reply goes out once per sender per period, from the null
// sender, with the RFC 3834 header fields, and is remembered in the record.
func TestSendVacationOncePerPeriod(t *testing.T) {
	k, addr := smtpsink.Start(t)
	home := t.TempDir()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	rec := NewRecord(home, VacationRecordFile, -1, -1)
	rec.Now = func() time.Time { return now }
	m := &Mailer{Outbox: SMTPOutbox{Addr: addr}, Hostname: "mx.test", Now: rec.Now}
	e := newEngine(t, Options{})
	raw := "From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.de>\r\nTo: bob@example.com\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <g1@example.de>\r\nReferences: <g0@example.de>\r\n\r\nHallo\r\n"
	sc := Scripts{User: writeScript(t, home, "u.sieve", `require "vacation"; vacation :days 1 "Bin weg. Grüße";`)}
	env := Envelope{From: "juergen@example.de", To: "bob@example.com"}
	send := func() bool {
		p, err := e.Decide(context.Background(), &Input{Envelope: env, Message: NewMessage([]byte(raw)), Scripts: sc})
		if err != nil {
			t.Fatal(err)
		}
		v := p.Actions[0].(Vacation)
		sent, err := m.SendVacation(context.Background(), v, NewMessage([]byte(raw)), env, rec)
		if err != nil {
			t.Fatal(err)
		}
		return sent
	}
	if !send() {
		t.Fatal("first reply not sent")
	}
	if send() {
		t.Fatal("second reply within the period was sent")
	}
	now = now.Add(25 * time.Hour)
	if !send() {
		t.Fatal("reply after the period not sent")
	}
	if len(k.Messages()) != 2 {
		t.Fatalf("sink got %d", len(k.Messages()))
	}
	g := k.Messages()[0]
	if g.From != "" || strings.Join(g.To, ",") != "juergen@example.de" {
		t.Errorf("envelope %q -> %q", g.From, g.To)
	}
	mr, err := mail.CreateReader(strings.NewReader(g.Data))
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := mr.Header.Subject()
	for field, want := range map[string]string{
		"Auto-Submitted": "auto-replied (vacation)", "In-Reply-To": "<g1@example.de>",
		"References": "<g0@example.de> <g1@example.de>", "From": "<bob@example.com>",
	} {
		if got := mr.Header.Get(field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	if subj != "Auto: Grüße" {
		t.Errorf("Subject = %q", subj)
	}
	p, _ := mr.NextPart()
	body, _ := io.ReadAll(p.Body)
	if strings.TrimSpace(string(body)) != "Bin weg. Grüße" {
		t.Errorf("body %q", body)
	}
	st, err := os.Stat(filepath.Join(home, VacationRecordFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("record file: %v %v", st, err)
	}
}

func TestSendmailOutbox(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := writeScript(t, dir, "sendmail", "#!/bin/sh\necho \"$@\" > "+out+".args\ncat > "+out+"\n")
	os.Chmod(script, 0o755)
	if err := (SendmailOutbox{Path: script}).Send(context.Background(), "", []string{"x@y.org"}, []byte(plainMsg)); err != nil {
		t.Fatal(err)
	}
	args, _ := os.ReadFile(out + ".args")
	body, _ := os.ReadFile(out)
	if strings.TrimSpace(string(args)) != "-i -f <> -- x@y.org" || string(body) != plainMsg {
		t.Errorf("args %q body %q", args, body)
	}
	// with arguments, as Dovecot's sendmail_path takes them (split at blanks)
	if err := (SendmailOutbox{Path: script + " -C /etc/postfix-out"}).Send(context.Background(), "a@b.org", []string{"x@y.org"}, []byte(plainMsg)); err != nil {
		t.Fatalf("with arguments: %v", err)
	}
	if args, _ := os.ReadFile(out + ".args"); strings.TrimSpace(string(args)) != "-C /etc/postfix-out -i -f a@b.org -- x@y.org" {
		t.Errorf("with arguments: args %q", args)
	}
	fail := writeScript(t, dir, "fail", "#!/bin/sh\necho 'queue file write error' >&2\nexit 75\n")
	os.Chmod(fail, 0o755)
	err := (SendmailOutbox{Path: fail}).Send(context.Background(), "a@b.org", []string{"x@y.org"}, []byte(plainMsg))
	if err == nil || !strings.Contains(err.Error(), "queue file write error") {
		t.Fatalf("failing sendmail: %v", err)
	}
}

func TestRecordExpiresAndSurvivesGarbage(t *testing.T) {
	home := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	rec := NewRecord(home, VacationRecordFile, -1, -1)
	rec.Now = func() time.Time { return now }
	os.WriteFile(rec.Path, []byte("garbage line\n12 short\n"), 0o600)
	if seen, err := rec.CheckAndMark("k", time.Hour, false); err != nil || seen {
		t.Fatalf("first: %v %v", seen, err)
	}
	if seen, _ := rec.CheckAndMark("k", time.Hour, false); !seen {
		t.Fatal("second within the hour not seen")
	}
	now = now.Add(2 * time.Hour)
	if seen, _ := rec.Seen("k"); seen {
		t.Fatal("expired entry still seen")
	}
	b, _ := os.ReadFile(rec.Path)
	if strings.Contains(string(b), "garbage") || strings.Contains(string(b), "k") && len(strings.Fields(string(b))) != 2 {
		t.Errorf("record file %q", b)
	}
}
