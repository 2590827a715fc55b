package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
)

const usage = `usage: deliver [-c CONFIG] [-f SENDER] [-a ORIGINAL_RCPT] [-m FOLDER] [-p FILE] [-q QUEUE_ID] -d RECIPIENT
       deliver [-c CONFIG] -check [-d ADDRESS]

Delivers one message (stdin, or -p FILE) into RECIPIENT's Maildir.
  -c CONFIG   configuration file (default ` + config.DefaultPath + `)
  -f SENDER   envelope sender; "" or "<>" is the null sender; without -f,
              the message's Return-Path, else its mbox "From " line, else <>
  -a ADDRESS  original recipient (written as X-Original-To when it differs)
  -m FOLDER   Maildir++ folder to save into; "" = INBOX
  -p FILE     read the message from FILE instead of stdin
  -q QUEUE_ID Postfix queue id (${queue_id}), logged as queue_id=
  -d ADDRESS  recipient (required)
  -check      validate the configuration, print it (secrets masked), test the userdb;
              with -d ADDRESS also look ADDRESS up, expand its mailbox and check
              that its owner can write there (a dry run: nothing is written)
  -quota ADDRESS   print the recipient's quota limit and usage (key=value)
  -quota-recalc    recount the maildir first (with -quota, or -quota-recalc ADDRESS)
  -import PATH...  import mbox files, maildirs and message files for -d (paths last;
                   a re-run skips what was imported; summary on stdout)
  -mbox-format F   with -import: "mboxrd" (default) or "mboxo"
  -version   print the version and build information
  -explain ADDRESS print every step of the decision for ADDRESS, one per line, without
              delivering (with -m FOLDER, and -p FILE for the loop check and the
              message's size); exit 0 when it would deliver, else the code it would get
  -sieve-test SCRIPT  run the Sieve SCRIPT for -d ADDRESS on the message (stdin or -p FILE)
              and print the actions it would take, one per line; performs none
  -h, -help   this text
`

type options struct {
	config, sender, orig, folder, file, rcpt string
	queueID, quota, explain                  string
	sieveTest                                string
	check, recalc, version                   bool
	senderSet                                bool // -f given (even as "")
	imports                                  importOptions
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("deliver", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.config, "c", config.DefaultPath, "")
	fs.StringVar(&o.sender, "f", "", "")
	fs.StringVar(&o.orig, "a", "", "")
	fs.StringVar(&o.folder, "m", "", "")
	fs.StringVar(&o.file, "p", "", "")
	fs.StringVar(&o.rcpt, "d", "", "")
	fs.StringVar(&o.queueID, "q", "", "")
	fs.BoolVar(&o.check, "check", false, "")
	fs.StringVar(&o.quota, "quota", "", "")
	fs.BoolVar(&o.recalc, "quota-recalc", false, "")
	o.imports.flags(fs)
	fs.BoolVar(&o.version, "version", false, "")
	fs.StringVar(&o.explain, "explain", "", "")
	fs.StringVar(&o.sieveTest, "sieve-test", "", "")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.imports.on {
		return o, o.imports.parsed(fs, o.rcpt)
	}
	fs.Visit(func(f *flag.Flag) { o.senderSet = o.senderSet || f.Name == "f" })
	if err := delivery.CheckQueueID(o.queueID); err != nil {
		// A master.cf mistake: 4.3.5, the mail stays queued.
		return o, fmt.Errorf("-q: %w", err)
	}
	if o.recalc && o.quota == "" && fs.NArg() == 1 {
		o.quota = fs.Arg(0)
		return o, nil
	}
	switch {
	case o.version:
		return o, nil
	case o.recalc && o.quota == "":
		return o, errors.New("-quota-recalc needs a recipient")
	case o.quota != "" || o.explain != "":
		return o, nil
	case o.sieveTest != "" && o.rcpt == "":
		return o, errors.New("-sieve-test needs -d ADDRESS")
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.check:
		return o, nil
	case o.rcpt == "":
		return o, errors.New("-d RECIPIENT is required")
	}
	return o, nil
}
