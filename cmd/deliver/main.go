// Command deliver delivers one message from stdin to one recipient's
// Maildir: Postfix's pipe(8) transport (flags=DRhu user=vmail), an
// administrator redelivering a saved message, or a script looping over many.
//
//	deliver [-c CONFIG] [-f SENDER] [-a ORIGINAL_RCPT] [-m FOLDER] [-p FILE] [-q QUEUE_ID] -d RECIPIENT
//	deliver [-c CONFIG] -check [-d ADDRESS]
//	deliver [-c CONFIG] -quota RECIPIENT [-quota-recalc]
//	deliver [-c CONFIG] [-m FOLDER] [-mbox-format F] -d RECIPIENT -import PATH...
//	deliver [-c CONFIG] [-m FOLDER] [-p FILE] -explain ADDRESS
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
	"time"

	"maildeliver/internal/cli"
	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/logging"
	"maildeliver/internal/lookup"
	"maildeliver/internal/status"
	"maildeliver/internal/userdbsock"
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
  -h, -help   this text
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

type options struct {
	config, sender, orig, folder, file, rcpt string
	queueID, quota, explain                  string
	check, recalc, version                   bool
	senderSet                                bool // -f given (even as "")
	imports                                  importOptions
}

// run is deliver's whole life; it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if p := recover(); p != nil {
			// Never exit 2 (Go's panic status): Postfix would bounce.
			code = cli.Fail(stderr, status.Internal(fmt.Errorf("panic: %v", p)))
		}
	}()
	opt, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return status.ExitOK
	}
	if opt.version {
		fmt.Fprint(stdout, cli.Version("deliver"))
		return status.ExitOK
	}
	if err != nil {
		return cli.Fail(stderr, status.Usage("usage: "+cli.OneLine(err.Error())))
	}
	cfg, err := config.Load(opt.config)
	if err != nil {
		// The detail (file name, key) is the administrator's, not secret.
		return cli.Fail(stderr, status.Usage("configuration error: "+cli.OneLine(err.Error())))
	}
	if opt.check {
		return check(cfg, opt.rcpt, stdout, stderr)
	}
	if opt.explain != "" {
		return explain(cfg, opt, stdout, stderr)
	}
	log, closer, err := logging.New(logging.Options{Target: cfg.Log.Target, Level: cfg.Log.Level,
		Tag: "maildeliver/deliver", StderrIsOutput: true})
	if err != nil {
		return cli.Fail(stderr, status.Usage("configuration error: "+cli.OneLine(err.Error())))
	}
	defer closer.Close()
	log, detail := withDetail(log, stderr)
	db, err := openUserdb(cfg, log)
	if err != nil {
		return cli.Fail(stderr, status.Usage("configuration error: userdb: "+cli.OneLine(err.Error())))
	}
	defer db.Close()
	agent := delivery.NewAgent(cfg, db, log)
	if opt.imports.on {
		return runImport(agent, opt, stdout, stderr)
	}
	if opt.quota != "" {
		rep, err := agent.Quota(context.Background(), opt.quota, opt.recalc)
		if err != nil {
			return cli.Fail(stderr, status.From(err))
		}
		fmt.Fprintln(stdout, rep)
		return status.ExitOK
	}
	in := wrapInput(stdin)
	if opt.file != "" {
		f, err := os.Open(opt.file)
		if err != nil {
			return cli.Fail(stderr, status.Usage("cannot read -p file: "+cli.OneLine(err.Error())))
		}
		defer f.Close()
		in = wrapInput(f)
	}
	res, err := agent.Pipe(context.Background(), delivery.PipeRequest{
		Sender: opt.sender, SenderFromMessage: !opt.senderSet,
		Recipient: opt.rcpt, OrigRecipient: opt.orig, Folder: opt.folder,
		MaxSize: int64(cfg.Mail.MaxMessageSize), QueueID: opt.queueID,
	}, in)
	if err == nil && res.File == "" {
		// Exit 0 only for an explicit success: a file named in new/.
		err = status.Internal(nil)
	}
	if err != nil {
		code := cli.Fail(stderr, status.From(err))
		detail.print(stderr) // after the DSN line, and only on a terminal
		return code
	}
	return status.ExitOK
}

// openUserdb returns the SQL userdb or, with [userdb] socket set, lmtpd's
// answers on that socket: then the SQL userdb is opened only if nobody can
// be asked there, which spares each message a database connection.
func openUserdb(cfg *config.Config, log *slog.Logger) (lookup.Userdb, error) {
	openSQL := func() (lookup.Userdb, error) {
		db, err := lookup.Open(cfg.Userdb, cfg.Mail.RecipientDelimiter)
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	if cfg.Userdb.Socket == "" {
		return openSQL()
	}
	// lmtpd's lookup has [userdb] timeout; wait a little longer, so that
	// its answer rather than our clock reports a slow database.
	timeout := cfg.Userdb.Timeout.D() + time.Second
	return userdbsock.NewFallback(cfg.Userdb.Socket, timeout, openSQL, log), nil
}

// check is -check: the configuration, the SQL userdb when this binary has
// its driver, and lmtpd's userdb socket when one is set; with -d ADDRESS
// also the dry run of a delivery to that address (cli.CheckAddress).
func check(cfg *config.Config, rcpt string, stdout, stderr io.Writer) int {
	defer fmt.Fprintln(stdout, supervisionLine())
	code := checkUserdb(cfg, stdout, stderr)
	if code != status.ExitOK || rcpt == "" {
		return code
	}
	db, err := openUserdb(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return cli.Fail(stderr, status.Usage("configuration error: userdb: "+cli.OneLine(err.Error())))
	}
	defer db.Close()
	return cli.CheckAddress(context.Background(), cfg, db, rcpt, stdout, stderr)
}

// checkUserdb is -check without -d.
func checkUserdb(cfg *config.Config, stdout, stderr io.Writer) int {
	withSQL := lookup.Builtin(cfg.Userdb.Driver)
	if withSQL || cfg.Userdb.Socket == "" {
		// Without the driver and without a socket this fails, as it must.
		if code := cli.Check(cfg, stdout, stderr); code != status.ExitOK || cfg.Userdb.Socket == "" {
			return code
		}
	} else {
		cli.PrintConfig(cfg, stdout)
		fmt.Fprintf(stdout, "# userdb: driver %s not built in (-tags maildeliver_nosql): deliver asks the socket only\n",
			cfg.Userdb.Driver)
	}
	return checkSocket(cfg, withSQL, stdout, stderr)
}

// checkSocket asks lmtpd's userdb socket about a made-up address, as the
// user -check runs as: run as the pipe user, it shows whether deliver will
// be answered there or open the SQL userdb itself. An unavailable socket
// is a warning when deliver can fall back to SQL and a failure otherwise;
// an error answer fails the check: every delivery would be deferred.
func checkSocket(cfg *config.Config, withSQL bool, stdout, stderr io.Writer) int {
	c := userdbsock.Client{Path: cfg.Userdb.Socket, Timeout: cfg.Userdb.Timeout.D() + time.Second}
	_, err := c.Lookup(context.Background(), "maildeliver-check@invalid")
	switch {
	case err == nil || errors.Is(err, lookup.ErrNotFound):
		fmt.Fprintf(stdout, "# userdb socket %s: ok\n", cfg.Userdb.Socket)
	case errors.Is(err, userdbsock.ErrUnavailable) && !withSQL:
		return cli.Fail(stderr, status.Temp(fmt.Sprintf("userdb socket unavailable to uid %d and no SQL driver built in: %s",
			os.Geteuid(), cli.OneLine(err.Error()))))
	case errors.Is(err, userdbsock.ErrUnavailable):
		fmt.Fprintf(stdout, "# userdb socket: unavailable to uid %d, deliver asks the SQL userdb itself (%s)\n",
			os.Geteuid(), cli.OneLine(err.Error()))
	default:
		return cli.Fail(stderr, status.Temp("userdb socket: "+cli.OneLine(config.MaskText(err.Error(), cfg.Userdb.Connect))))
	}
	return status.ExitOK
}

// wrapInput is the identity except in test builds (tag faultinject), where
// it injects a fault that cannot be caused from outside: a panic.
var wrapInput = func(r io.Reader) io.Reader { return r }

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
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.check:
		return o, nil
	case o.rcpt == "":
		return o, errors.New("-d RECIPIENT is required")
	}
	return o, nil
}
