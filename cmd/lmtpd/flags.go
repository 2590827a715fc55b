package main

import (
	"flag"
	"fmt"
	"io"

	"maildeliver/internal/config"
)

const usage = `usage: lmtpd [-c CONFIG]
       lmtpd [-c CONFIG] -check

Serves LMTP where [lmtp] listen says and delivers into Maildirs.
  -c CONFIG   configuration file (default ` + config.DefaultPath + `)
  -check      validate the configuration, print it (secrets masked), test the userdb
  -version   print the version and build information
  -h, -help   this text

Signals: SIGTERM/SIGINT shut down gracefully ([lmtp] shutdown_timeout);
SIGHUP re-reads the configuration: the userdb and [mail]/[quota] apply to
new transactions, [lmtp], [log] and [metrics] changes need a restart.
`

type options struct {
	config         string
	check, version bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("lmtpd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.config, "c", config.DefaultPath, "")
	fs.BoolVar(&o.check, "check", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, nil
}
