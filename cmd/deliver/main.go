// Command deliver delivers one message from stdin to one recipient's
// Maildir: Postfix's pipe(8) transport (flags=DRhu user=vmail), an
// administrator redelivering a saved message, or a script looping over many.
//
//	deliver [-c CONFIG] [-f SENDER] [-a ORIGINAL_RCPT] [-m FOLDER] [-p FILE] [-q QUEUE_ID] -d RECIPIENT
//	deliver [-c CONFIG] -check [-d ADDRESS]
//	deliver [-c CONFIG] -quota RECIPIENT [-quota-recalc]
//	deliver [-c CONFIG] [-m FOLDER] [-mbox-format F] -d RECIPIENT -import PATH...
//	deliver [-c CONFIG] [-m FOLDER] [-p FILE] -explain ADDRESS
//	deliver [-c CONFIG] [-f SENDER] [-a ORIGINAL_RCPT] [-p FILE] -sieve-test SCRIPT -d ADDRESS
//	deliver [-c CONFIG] [-f SENDER] [-a ORIGINAL_RCPT] [-p FILE] -sieve-test SCRIPT -d ADDRESS
//
// On failure it writes exactly one line to stderr, starting with an RFC 3463
// enhanced status code, and exits with a sysexits(3) code (see package
// status). Anything unforeseen, a panic included, is a temporary failure
// (exit 75): Postfix bounces every other code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/logging"
	"maildeliver/internal/sievedeliver"
	"maildeliver/internal/status"
	"maildeliver/internal/userdbsock"
	"maildeliver/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is deliver's whole life; it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if p := recover(); p != nil {
			// Never exit 2 (Go's panic status): Postfix would bounce.
			code = status.Fail(stderr, status.Internal(fmt.Errorf("panic: %v", p)))
		}
	}()
	opt, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return status.ExitOK
	}
	if opt.version {
		fmt.Fprint(stdout, version.String("deliver"))
		return status.ExitOK
	}
	if err != nil {
		return status.Fail(stderr, status.Usage("usage: "+status.OneLine(err.Error())))
	}
	cfg, err := config.Load(opt.config)
	if err != nil {
		// The detail (file name, key) is the administrator's, not secret.
		return status.Fail(stderr, status.Usage("configuration error: "+status.OneLine(err.Error())))
	}
	if opt.check {
		return check(cfg, opt.rcpt, stdout, stderr)
	}
	if opt.explain != "" {
		return explain(cfg, opt, stdout, stderr)
	}
	if opt.sieveTest != "" {
		return sieveTest(cfg, opt, stdin, stdout, stderr)
	}
	log, closer, err := logging.New(logging.Options{Target: cfg.Log.Target, Level: cfg.Log.Level,
		Tag: "maildeliver/deliver", StderrIsOutput: true})
	if err != nil {
		return status.Fail(stderr, status.Usage("configuration error: "+status.OneLine(err.Error())))
	}
	defer closer.Close()
	log, detail := withDetail(log, stderr)
	db, err := userdbsock.Open(cfg, log)
	if err != nil {
		return status.Fail(stderr, status.Usage("configuration error: userdb: "+status.OneLine(err.Error())))
	}
	defer db.Close()
	agent := delivery.NewAgent(cfg, db, log, sievedeliver.Option(cfg, log, nil))
	if opt.imports.on {
		return runImport(agent, opt, stdout, stderr)
	}
	if opt.quota != "" {
		rep, err := agent.Quota(context.Background(), opt.quota, opt.recalc)
		if err != nil {
			return status.Fail(stderr, status.From(err))
		}
		fmt.Fprintln(stdout, rep)
		return status.ExitOK
	}
	in := wrapInput(stdin)
	if opt.file != "" {
		f, err := os.Open(opt.file)
		if err != nil {
			return status.Fail(stderr, status.Usage("cannot read -p file: "+status.OneLine(err.Error())))
		}
		defer f.Close()
		in = wrapInput(f)
	}
	res, err := agent.Pipe(context.Background(), delivery.PipeRequest{
		Sender: opt.sender, SenderFromMessage: !opt.senderSet,
		Recipient: opt.rcpt, OrigRecipient: opt.orig, Folder: opt.folder,
		MaxSize: int64(cfg.Mail.MaxMessageSize), QueueID: opt.queueID,
	}, in)
	if err == nil && res.File == "" && !res.Discarded {
		// Exit 0 only for an explicit success: a file named in new/ (or a discard).
		err = status.Internal(nil)
	}
	if err != nil {
		code := status.Fail(stderr, status.From(err))
		detail.print(stderr) // after the DSN line, and only on a terminal
		return code
	}
	return status.ExitOK
}

// check is -check: the configuration, the SQL userdb when this binary has
// its driver, lmtpd's userdb socket when one is set, the global Sieve
// scripts (sievedeliver.Check); with -d ADDRESS
// also the dry run of a delivery to that address (delivery.CheckAddress).
func check(cfg *config.Config, rcpt string, stdout, stderr io.Writer) int {
	defer fmt.Fprintln(stdout, supervisionLine())
	code := userdbsock.Check(cfg, stdout, stderr)
	if code == status.ExitOK {
		code = sievedeliver.Check(cfg, stdout, stderr)
	}
	if code != status.ExitOK || rcpt == "" {
		return code
	}
	db, err := userdbsock.Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return status.Fail(stderr, status.Usage("configuration error: userdb: "+status.OneLine(err.Error())))
	}
	defer db.Close()
	return delivery.CheckAddress(context.Background(), cfg, db, rcpt, stdout, stderr)
}

// wrapInput is the identity except in test builds (tag faultinject), where
// it injects a fault that cannot be caused from outside: a panic.
var wrapInput = func(r io.Reader) io.Reader { return r }
