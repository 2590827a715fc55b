package sievedeliver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/location"
	"maildeliver/internal/lookup"
	"maildeliver/internal/message"
	"maildeliver/internal/sieve"
	"maildeliver/internal/smtpsink"
)

// The scripts of a user: the userdb column overrides [sieve] script
// (relative to the home); without a home only the global scripts run,
// and a relative column is not taken relative to the process's directory.
func TestScripts(t *testing.T) {
	dir := t.TempDir()
	before := filepath.Join(dir, "before.sieve")
	os.WriteFile(before, []byte("keep;\n"), 0o644)
	cfg := config.Defaults()
	cfg.Sieve.Enabled, cfg.Sieve.Before = true, []string{before}
	d, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	target := func(home, col string) *delivery.Target {
		return &delivery.Target{Recipient: "bob@example.org", User: &lookup.User{Address: "bob@example.org", Home: home, Sieve: col}}
	}
	for _, tc := range []struct {
		home, col, user string
	}{
		{dir, "", filepath.Join(dir, ".dovecot.sieve")},
		{dir, "own.sieve", filepath.Join(dir, "own.sieve")},
		{dir, "/srv/sieve/bob.sieve", "/srv/sieve/bob.sieve"},
		{"", "", ""},
		{"", "own.sieve", ""},
		{"", "/srv/sieve/bob.sieve", "/srv/sieve/bob.sieve"},
	} {
		s := d.scripts(target(tc.home, tc.col))
		if s.User != tc.user || len(s.Before) != 1 || s.Before[0] != before {
			t.Errorf("home %q column %q: %+v, want user %q", tc.home, tc.col, s, tc.user)
		}
	}
	if got := d.Describe(target(dir, "")); !strings.HasPrefix(got, "on: before "+before+", no user script") {
		t.Errorf("Describe: %q", got)
	}
}

// sentMail is an Outbox that keeps what it is given.
type sentMail struct{ to []string }

func (s *sentMail) Send(_ context.Context, _ string, to []string, _ []byte) error {
	s.to = append(s.to, to...)
	return nil
}

// A second message from the same sender within the period gets no reply,
// and the delivery's log says why (as Pigeonhole logs its "discarded
// duplicate vacation response"): the administrator's answer to "why did
// my correspondent get no reply".
func TestVacationOncePerPeriodLogged(t *testing.T) {
	uid, base := os.Geteuid(), t.TempDir()
	home := filepath.Join(base, "bob")
	os.Mkdir(home, 0o700)
	if uid == 0 { // as root, the record is written as the user
		uid = 1001
		os.Chmod(filepath.Dir(base), 0o755)
		os.Chmod(base, 0o755)
		os.Chown(home, uid, uid)
	}
	var logged bytes.Buffer
	out := &sentMail{}
	d := &Decider{log: slog.New(slog.NewTextHandler(&logged, nil)), mailer: &sieve.Mailer{Outbox: out}, obs: noObserver{}}
	tg := &delivery.Target{Recipient: "bob@example.org", UID: uid, GID: uid,
		User: &lookup.User{Address: "bob@example.org", Home: home}}
	in := &sieve.Input{Envelope: sieve.Envelope{From: "alice@example.net", To: "bob@example.org"},
		Message: sieve.NewMessage([]byte("From: alice@example.net\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nhello\r\n"))}
	v := sieve.Vacation{To: "alice@example.net", Subject: "away", Body: "away", Seconds: 86400}
	for i := range 2 {
		if err := d.vacation(tg, "d"+strconv.Itoa(i), in, v).Do(t.Context()); err != nil {
			t.Fatalf("vacation %d: %v", i, err)
		}
	}
	if len(out.to) != 1 {
		t.Fatalf("replies sent to %q, want one", out.to)
	}
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `msg="sieve: vacation reply sent" id=d0`) ||
		!strings.Contains(lines[1], `msg="sieve: vacation reply not sent" id=d1`) || !strings.Contains(lines[1], "already replied") {
		t.Errorf("log:\n%s", logged.String())
	}
}

// A 50 MB message to four recipients with Sieve on, their scripts testing
// the header and the size, keeping, redirecting: the engine reads the
// header, the size test reads the body through without keeping it, the
// stores and the redirect (to sendmail_path, a real program that reads
// it) stream it. What the whole delivery allocates stays far below one
// copy of the message (before: each recipient read the body into memory,
// twice).
func TestLargeMessageMemory(t *testing.T) {
	const size = 50 << 20
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // t.TempDir makes both 0700; the users reach their homes
	os.Chmod(dir, 0o755)
	src, err := os.Create(filepath.Join(dir, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	w := bufio.NewWriter(src)
	w.WriteString("From: a@example.net\r\nTo: bob@example.org\r\nSubject: big\r\n\r\n")
	line := strings.Repeat("x", 76) + "\r\n"
	for n := 0; n < size; n += len(line) {
		w.WriteString(line)
	}
	w.Flush()
	st, _ := src.Stat()

	sendmail := filepath.Join(dir, "sendmail")
	if err := os.WriteFile(sendmail, []byte("#!/bin/sh\nexec cat >/dev/null\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Sieve.Enabled = true
	cfg.Sieve.SendmailPath = sendmail
	d, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	agent := delivery.NewAgent(cfg, nil, slog.New(slog.DiscardHandler), delivery.WithDecider(d))
	uid := os.Geteuid()
	if uid == 0 {
		uid = 1001
	}
	scripts := []string{
		"require [\"fileinto\", \"mailbox\"];\nif header :contains \"subject\" \"big\" { fileinto :create \"Big\"; }\n",
		"require [\"fileinto\", \"mailbox\"];\nif size :over 10M { fileinto :create \"Large\"; }\n",
		"keep;\n",
		"redirect \"carol@example.net\";\n",
	}
	var targets []*delivery.Target
	for i, s := range scripts {
		home := filepath.Join(dir, fmt.Sprintf("u%d", i))
		os.Mkdir(home, 0o755)
		os.Chown(home, uid, uid)
		if err := os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		rcpt := fmt.Sprintf("u%d@example.org", i)
		targets = append(targets, &delivery.Target{Recipient: rcpt, User: &lookup.User{Address: rcpt, Home: home},
			Maildir: filepath.Join(home, "Maildir"), UID: uid, GID: uid,
			Mailbox: location.Mailbox{RootOwn: home, InboxOwn: home}})
	}
	msg, err := message.Read(src, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, tg := range targets {
		res, err := agent.Deliver(t.Context(), tg, delivery.Request{ID: delivery.NewID(), Sender: "a@example.net"}, msg)
		if err != nil || (res.Size < size*77/78) != res.Discarded { // CRLF stored as LF; the redirect stores nothing
			t.Fatalf("%s: %+v, %v", tg.Recipient, res, err)
		}
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d recipients of a %d MB message: %.1f MB allocated", len(targets), size>>20, float64(alloc)/(1<<20))
	if alloc > 4<<20 {
		t.Errorf("%d bytes allocated for %d recipients of a %d byte message: the body was read into memory", alloc, len(targets), size)
	}
	for i, folder := range []string{".Big", ".Large", ""} {
		if ents, _ := os.ReadDir(filepath.Join(targets[i].Maildir, folder, "new")); len(ents) != 1 {
			t.Errorf("%s: %s/new holds %d files", targets[i].Recipient, folder, len(ents))
		}
	}
}

// A message delivered twice (an MTA retry, a second copy) is redirected
// once per address, as Pigeonhole's sieve_redirect_duplicate_period does:
// the record is in the user's home, written after the redirect went out.
// Another message is redirected again.
func TestRedirectOncePerMessage(t *testing.T) {
	sink, addr := smtpsink.Start(t)
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("redirect \"carol@example.net\";\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Sieve.Enabled, cfg.Sieve.SubmissionHost = true, addr
	d, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 { // as the mailbox user, never root: a home that user owns
		uid, gid = 1001, 1001
		for d := home; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		if err := os.Chown(home, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	target := &delivery.Target{Recipient: "bob@example.org", UID: uid, GID: gid,
		User: &lookup.User{Address: "bob@example.org", Home: home}}
	deliver := func(msgid string) {
		raw := "From: a@example.net\nMessage-ID: <" + msgid + ">\nSubject: s\n\nbody\n"
		msg, err := message.Read(strings.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := d.Decide(context.Background(), target, delivery.Request{ID: "t", Sender: "a@example.net"}, msg)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range plan {
			if s, ok := a.(delivery.Send); ok {
				if err := s.Do(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	deliver("m1@example.net")
	deliver("m1@example.net")
	deliver("m2@example.net")
	var got []string
	for _, m := range sink.Messages() {
		got = append(got, strings.Join(m.To, ","))
	}
	if len(got) != 2 {
		t.Fatalf("redirects sent: %q, want two (m1 once, m2 once)", got)
	}
}
