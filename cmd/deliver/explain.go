package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"maildeliver/internal/config"
	"maildeliver/internal/delivery"
	"maildeliver/internal/lookup"
	"maildeliver/internal/sievedeliver"
	"maildeliver/internal/status"
	"maildeliver/internal/userdbsock"
)

// explain is -explain ADDRESS (delivery.ExplainTo). It asks the SQL userdb
// itself when this binary has the driver, so that the queries show, even
// when deliver would ask lmtpd's [userdb] socket (which runs the same
// lookup); otherwise the socket answers and the queries are not shown.
func explain(cfg *config.Config, opt options, stdout, stderr io.Writer) int {
	var db lookup.Userdb
	var err error
	if lookup.Builtin(cfg.Userdb.Driver) {
		db, err = lookup.Open(cfg.Userdb, cfg.Mail.RecipientDelimiter)
	} else {
		fmt.Fprintf(stdout, "userdb: driver %s not built in: asking the socket %s (queries not shown)\n",
			cfg.Userdb.Driver, cfg.Userdb.Socket)
		db, err = userdbsock.Open(cfg, slog.New(slog.DiscardHandler))
	}
	if err != nil {
		return status.Fail(stderr, status.Usage("configuration error: userdb: "+status.OneLine(err.Error())))
	}
	defer db.Close()
	req := delivery.ExplainRequest{Recipient: opt.explain, Folder: opt.folder,
		MaxSize: int64(cfg.Mail.MaxMessageSize)}
	if opt.file != "" {
		f, err := os.Open(opt.file)
		if err != nil {
			return status.Fail(stderr, status.Usage("cannot read -p file: "+status.OneLine(err.Error())))
		}
		defer f.Close()
		req.Message = f
	}
	return delivery.ExplainTo(context.Background(), cfg, db, req, stdout,
		sievedeliver.Option(cfg, slog.New(slog.DiscardHandler), nil))
}
