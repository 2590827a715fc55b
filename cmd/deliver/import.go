package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"maildeliver/internal/delivery"
	"maildeliver/internal/mailimport"
	"maildeliver/internal/status"
)

// importOptions are -import's flags; the paths are the arguments after
// the options.
type importOptions struct {
	on     bool
	format string
	paths  []string
}

func (o *importOptions) flags(fs *flag.FlagSet) {
	fs.BoolVar(&o.on, "import", false, "")
	fs.StringVar(&o.format, "mbox-format", "mboxrd", "")
}

func (o *importOptions) parsed(fs *flag.FlagSet, rcpt string) error {
	o.paths = fs.Args()
	var other string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "f", "a", "p", "check", "quota", "quota-recalc":
			other = f.Name
		}
	})
	switch {
	case other != "":
		// Silently ignoring -f or -p would store something else than asked.
		return fmt.Errorf("-%s cannot be combined with -import", other)
	case rcpt == "":
		return errors.New("-import needs -d RECIPIENT")
	case len(o.paths) == 0:
		return errors.New("-import needs at least one path (after the options)")
	}
	_, err := mailimport.ParseFormat(o.format)
	return err
}

// runImport is -import: the summary line on stdout, one line per failed
// message on stderr, a progress line there when it is a terminal, and the
// worst failure's exit code (0 when every message was imported or skipped).
func runImport(agent *delivery.Agent, opt options, stdout, stderr io.Writer) int {
	format, _ := mailimport.ParseFormat(opt.imports.format) // checked by parseFlags
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	o := mailimport.Options{Recipient: opt.rcpt, Folder: opt.folder, Paths: opt.imports.paths,
		Format: format, Failures: stderr}
	if isTerminal(stderr) {
		o.Progress = stderr
	}
	sum, err := mailimport.Run(ctx, agent, o)
	if err != nil {
		return status.Fail(stderr, status.From(err))
	}
	fmt.Fprintln(stdout, sum)
	return sum.ExitCode()
}
