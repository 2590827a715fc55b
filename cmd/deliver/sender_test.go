package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSenderFromMessage: deliver without -f takes the sender from the
// message, with dovecot-lda 2.3 (run on this machine with a private
// config) as the oracle. What dovecot-lda does without -f:
//
//	message starts with                     envelope (log)   stored Return-Path
//	From x@y <date>                         x@y              none
//	Return-Path: <a@b>                      MAILER-DAEMON    <a@b> (kept as is)
//	From x@y <date> + Return-Path: <a@b>    x@y              <a@b>
//	neither                                 MAILER-DAEMON    none
//	Return-Path: <>                         MAILER-DAEMON    <>
//	From <x@y> / From - / From MAILER-DAEMON / From x@y (no date): MAILER-DAEMON
//
// maildeliver writes exactly one Return-Path (SPEC), so it takes the
// message's Return-Path first (the stored file then carries the same one
// as Dovecot's), else the From line's address, else <> (MAILER-DAEMON is
// Dovecot's spelling of the null sender). -f, even -f "", always wins.
func TestSenderFromMessage(t *testing.T) {
	requireRoot(t)
	e := sqliteEnv(t, "")
	const rest = "Subject: t\n\nbody\n"
	const from = "From x@y Mon Jan  1 00:00:00 2024\n"
	for _, tc := range []struct {
		name, msg string
		args      []string
		want      string // the stored Return-Path address
	}{
		{"mbox From line", from + rest, nil, "x@y"},
		{"Return-Path", "Return-Path: <a@b>\n" + rest, nil, "a@b"},
		{"both", from + "Return-Path: <a@b>\n" + rest, nil, "a@b"},
		{"neither", rest, nil, ""},
		{"null Return-Path", "Return-Path: <>\n" + rest, nil, ""},
		{"null Return-Path and From line", from + "Return-Path: <>\n" + rest, nil, ""},
		{"From line in brackets", "From <x@y> Mon Jan  1 00:00:00 2024\n" + rest, nil, ""},
		{"From line without domain", "From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n" + rest, nil, ""},
		{"From line without date", "From x@y\n" + rest, nil, ""},
		{"Return-Path too long", from + "Return-Path: <" + strings.Repeat("a", 300) + "@b>\n" + rest, nil, "x@y"},
		{"-f wins", from + "Return-Path: <a@b>\n" + rest, []string{"-f", "s@t"}, "s@t"},
		{"-f empty wins", from + "Return-Path: <a@b>\n" + rest, []string{"-f", ""}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.deliver(tc.msg, append(tc.args, "-d", "user@domain.org")...)
			checkOutcome(t, r, 0, "")
			newDir := filepath.Join(e.dir, "home/domain.org/mails/user/Maildir/new")
			p := onlyFile(t, newDir)
			defer os.Remove(p)
			data, _ := os.ReadFile(p)
			want := "Return-Path: <" + tc.want + ">\nDelivered-To: user@domain.org\n" + rest
			if string(data) != want {
				t.Errorf("stored\n%q\nwant\n%q", data, want)
			}
		})
	}
}

// TestOrigRecipientInjection: -a is an envelope address: CR, LF, NUL or
// over 256 octets refused with 5.1.3 (exit 65), nothing stored (issue 15:
// "-a $'orig@example.org\nX-Injected: yes'" exited 0 and stored the field).
func TestOrigRecipientInjection(t *testing.T) {
	requireRoot(t)
	e := sqliteEnv(t, "")
	newDir := filepath.Join(e.dir, "home/domain.org/mails/user/Maildir/new")
	for _, a := range []string{
		"orig@example.org\nX-Injected: yes",
		"orig@example.org\rX-Injected: yes",
		"orig@example.org\r\nX-Injected: yes",
		strings.Repeat("o", 300) + "@example.org",
	} {
		r := e.deliver(testMsg, "-f", "s@t", "-a", a, "-d", "user@domain.org")
		checkOutcome(t, r, 65, "5.1.3 ")
		if ents, _ := os.ReadDir(newDir); len(ents) != 0 {
			t.Fatalf("-a %q: %d messages stored", a, len(ents))
		}
	}
	r := e.deliver(testMsg, "-f", "s@t", "-a", "orig@example.org", "-d", "user@domain.org")
	checkOutcome(t, r, 0, "")
	if data, _ := os.ReadFile(onlyFile(t, newDir)); !strings.HasPrefix(string(data), "Return-Path: <s@t>\nDelivered-To: user@domain.org\nX-Original-To: orig@example.org\nFrom: ") {
		t.Errorf("stored %q", data)
	}
}
