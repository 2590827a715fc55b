package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"maildeliver/internal/config"
	"maildeliver/internal/sieve"
	"maildeliver/internal/status"
	"maildeliver/internal/uservars"
)

// sieveTest is -sieve-test SCRIPT: run SCRIPT alone for -d on the message
// and print the plan, one action per line (Action.String), then the
// header edits and any failure; nothing is stored or sent. include
// :personal looks beside SCRIPT, include :global in [sieve] global. Exit 0
// when the script ran, 65 when it failed (the delivery would keep the
// message in INBOX and log sieve=error).
func sieveTest(cfg *config.Config, opt options, stdin io.Reader, stdout, stderr io.Writer) int {
	in := stdin
	if opt.file != "" {
		f, err := os.Open(opt.file)
		if err != nil {
			return status.Fail(stderr, status.Usage("cannot read -p file: "+status.OneLine(err.Error())))
		}
		defer f.Close()
		in = f
	}
	raw, err := io.ReadAll(in)
	if err != nil {
		return status.Fail(stderr, status.Usage("cannot read the message: "+status.OneLine(err.Error())))
	}
	eng, err := sieve.New(cfg.Sieve.EngineOptions(cfg.Mail.RecipientDelimiter))
	if err != nil {
		return status.Fail(stderr, status.Usage("configuration error: "+status.OneLine(err.Error())))
	}
	msg := sieve.NewMessage(raw)
	sender := opt.sender
	if !opt.senderSet {
		sender = strings.Trim(strings.TrimSpace(msg.Header("Return-Path")), "<>")
	}
	global, _ := expandAddressOnly(cfg.Sieve.Global, opt.rcpt)
	plan, err := eng.Decide(context.Background(), &sieve.Input{
		Envelope: sieve.Envelope{From: strings.Trim(sender, "<>"), To: opt.rcpt, OrigTo: opt.orig},
		Message:  msg,
		Scripts:  sieve.Scripts{User: opt.sieveTest, PersonalDir: filepath.Dir(opt.sieveTest), GlobalDir: global},
	})
	if err != nil {
		return status.Fail(stderr, status.Temp(status.OneLine(err.Error())))
	}
	var out bytes.Buffer
	for _, a := range plan.Actions {
		fmt.Fprintln(&out, a.String())
	}
	for _, e := range plan.Edits {
		fmt.Fprintln(&out, editLine(e))
	}
	for _, f := range plan.Failures {
		fmt.Fprintln(&out, "error "+status.OneLine(f.Error()))
	}
	stdout.Write(out.Bytes())
	if len(plan.Failures) > 0 {
		return status.ExitDataErr
	}
	return status.ExitOK
}

func editLine(e sieve.HeaderEdit) string {
	if e.Add {
		where := "first"
		if e.Last {
			where = "last"
		}
		return fmt.Sprintf("addheader %s %q %s", e.Name, e.Value, where)
	}
	return fmt.Sprintf("deleteheader %s index=%d last=%v value=%q", e.Name, e.Index, e.Last, e.Value)
}

// expandAddressOnly expands a [sieve] path for -sieve-test, which looks
// nobody up: a path that needs the home is not available ("").
func expandAddressOnly(tmpl, addr string) (string, error) {
	if tmpl == "" {
		return "", nil
	}
	t, err := uservars.Parse(tmpl, uservars.Path)
	if err != nil {
		return "", err
	}
	return t.ExpandPath(uservars.Values{User: addr})
}
