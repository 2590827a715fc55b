package sievedeliver

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/location"
	"maildeliver/internal/lookup"
	"maildeliver/internal/message"
)

// benchSieveMessage is a 4 KB message as the bench sends it (bench/lib/
// stack.sh), behind the header a real one has on arrival: a Received
// trail, a DKIM signature, spam filter verdicts, list-less.
func benchSieveMessage() []byte {
	var b strings.Builder
	b.WriteString("Return-Path: <sender@example.net>\r\n")
	b.WriteString("Received: from mx.example.net (mx.example.net [192.0.2.1])\r\n\tby relay.example.org (Postfix) with ESMTPS id 4XyZ\r\n\tfor <u0@d0.example>; Mon, 01 Jan 2024 00:00:00 +0000\r\n")
	b.WriteString("Received: from [10.0.0.7] (unknown [198.51.100.7])\r\n\tby mx.example.net (Postfix) with ESMTPSA id 9QrS\r\n\tfor <u0@d0.example>; Mon, 01 Jan 2024 00:00:00 +0000\r\n")
	b.WriteString("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=mail;\r\n\tt=1704067200; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\th=From:To:Subject:Date:Message-ID;\r\n\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBqdXN0IGJ5dGVzIGZvciB0aGUgYmVuY2g=\r\n")
	b.WriteString("X-Spam-Status: No, score=-0.1 required=5.0 tests=DKIM_SIGNED,DKIM_VALID\r\n")
	b.WriteString("X-Spam-Score: -0.1\r\n")
	b.WriteString("From: Bench Sender <sender@example.net>\r\nTo: Bench Box <u0@d0.example>\r\nCc: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.org>\r\n")
	b.WriteString("Subject: maildeliver bench 4k\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\n")
	b.WriteString("Message-ID: <bench-4k@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	for b.Len() < 4096 {
		b.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit 0123456789 abcdefghij\r\n")
	}
	return []byte(b.String()[:4094] + "\r\n")
}

// benchSieveDecider is a Decider with the bench's scripts as lmtpd runs
// them: the global before script, the user's 20-rule Roundcube-style
// script in ~/sieve/ made active by the ~/.dovecot.sieve symlink
// ManageSieve leaves. As root, the scripts are read as uid 1001.
func benchSieveDecider(b *testing.B) (*Decider, *delivery.Target) {
	src := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join("..", "..", "bench", "sieve", name))
		if err != nil {
			b.Fatal(err)
		}
		return data
	}
	dir := b.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755) // the user reaches their home
	}
	before := filepath.Join(dir, "before.sieve")
	if err := os.WriteFile(before, src("before.sieve"), 0o644); err != nil {
		b.Fatal(err)
	}
	home := filepath.Join(dir, "u0")
	os.MkdirAll(filepath.Join(home, "sieve"), 0o700)
	if err := os.WriteFile(filepath.Join(home, "sieve", "roundcube.sieve"), src("user.sieve"), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink("sieve/roundcube.sieve", filepath.Join(home, ".dovecot.sieve")); err != nil {
		b.Fatal(err)
	}
	uid := os.Geteuid()
	if uid == 0 {
		uid = 1001
		for _, p := range []string{home, filepath.Join(home, "sieve"), filepath.Join(home, "sieve", "roundcube.sieve")} {
			os.Lchown(p, uid, uid)
		}
	}
	cfg := config.Defaults()
	cfg.Sieve.Enabled, cfg.Sieve.Before = true, []string{before}
	d, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	t := &delivery.Target{Recipient: "u0@d0.example", UID: uid, GID: uid, Folder: "",
		User: &lookup.User{Address: "u0@d0.example", Home: home}}
	return d, t
}

// BenchmarkDecide is Sieve's CPU share of one lmtpd delivery: the
// Decider (and the After it adds to the plan) on a 4 KB message with the bench's scripts (compiled once,
// then taken from the cache as in lmtpd), the message parsed as lmtpd
// parses it. "parse" is the parse alone, the part of a delivery without
// Sieve that the message costs, for scale.
func BenchmarkDecide(b *testing.B) {
	raw := benchSieveMessage()
	d, t := benchSieveDecider(b)
	req := delivery.Request{ID: "bench", Sender: "sender@example.net"}
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := message.Read(strings.NewReader(string(raw)), int64(len(raw))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sieve", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			msg, err := message.Read(strings.NewReader(string(raw)), int64(len(raw)))
			if err != nil {
				b.Fatal(err)
			}
			plan, err := d.Decide(context.Background(), t, req, msg)
			if err != nil {
				b.Fatal(err)
			}
			if st, ok := plan[0].(delivery.Store); !ok || st.Folder != "Bench" {
				b.Fatalf("plan %+v", plan)
			}
			for _, a := range plan[1:] { // what the core runs after storing
				if after, ok := a.(delivery.After); ok {
					if err := after.Do(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	})
}

// fixedPlan is a Decider that files every message as the bench's user
// script does (fileinto :create "Bench" with \Seen), without running a
// script: the part of a Sieve row's cost that is storing into a folder
// with a flag rather than into INBOX.
type fixedPlan struct{}

func (fixedPlan) Decide(context.Context, *delivery.Target, delivery.Request, *message.Message) (delivery.Plan, error) {
	return delivery.Plan{delivery.Store{Folder: "Bench", Flags: []string{`\Seen`}, Create: true}}, nil
}

// BenchmarkDeliverSieve is a whole delivery of the 4 KB message (parse,
// plan, durable store into the maildir on the test's file system) as
// the bench's Sieve row against its row without Sieve: "inbox" without
// a Decider, "folder" the same store as the script's (fixedPlan), "sieve"
// the bench's scripts. cpu-µs/op is the process's user+system time per
// delivery (getrusage), which the fsync waits do not inflate; the
// difference sieve − folder is what running the scripts costs.
func BenchmarkDeliverSieve(b *testing.B) {
	raw := benchSieveMessage()
	d, t := benchSieveDecider(b)
	t.Maildir = filepath.Join(t.User.Home, "Maildir")
	t.Mailbox = location.Mailbox{RootOwn: t.User.Home, InboxOwn: t.User.Home}
	req := delivery.Request{ID: "bench", Sender: "sender@example.net"}
	cfg := config.Defaults()
	log := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		name string
		opts []delivery.Option
	}{
		{"inbox", nil},
		{"folder", []delivery.Option{delivery.WithDecider(fixedPlan{})}},
		{"sieve", []delivery.Option{delivery.WithDecider(d)}},
	} {
		agent := delivery.NewAgent(cfg, nil, log, c.opts...)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				msg, err := message.Read(strings.NewReader(string(raw)), int64(len(raw)))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := agent.Deliver(context.Background(), t, req, msg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
		})
	}
}

// processCPU is the process's user+system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
