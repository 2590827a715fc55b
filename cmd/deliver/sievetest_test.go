package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/status"
)

// -sieve-test prints the plan, one action per line, and performs none: no
// userdb is opened (the configured one does not exist) and nothing is
// written beside the script.
func TestSieveTestPrintsActions(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "maildeliver.toml")
	os.WriteFile(conf, []byte("[userdb]\nconnect = \""+filepath.Join(dir, "missing.db")+"\"\n[sieve]\nsendmail_path = \"/nonexistent/sendmail\"\n"), 0o644)
	script := filepath.Join(dir, "user.sieve")
	os.WriteFile(script, []byte(`require ["fileinto","imap4flags","vacation","copy","editheader","include"];
include :personal "spam";
if header :contains "subject" "Grüße" { fileinto :flags "\\Seen" "Greetings"; }
redirect :copy "carol@example.net";
addheader "X-Sieve" "tested";
vacation :days 3 :subject "away" "I am away";
`), 0o644)
	os.WriteFile(filepath.Join(dir, "spam.sieve"), []byte(`require "fileinto"; if exists "x-spam-flag" { fileinto "Junk"; stop; }`), 0o644)
	msg := filepath.Join(dir, "m.eml")
	os.WriteFile(msg, []byte("Return-Path: <alice@example.org>\r\nFrom: alice@example.org\r\nTo: bob@example.com\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\r\nhi\r\n"), 0o644)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-c", conf, "-p", msg, "-sieve-test", script, "-d", "bob@example.com"}, strings.NewReader(""), &stdout, &stderr)
	want := `fileinto "Greetings" flags=\Seen
redirect <carol@example.net> copy
vacation to <alice@example.org> from "" subject "away" period 259200s
addheader X-Sieve "tested" first
`
	if code != status.ExitOK || stdout.String() != want {
		t.Fatalf("exit %d, stdout:\n%s\nwant:\n%s\nstderr: %s", code, stdout.String(), want, stderr.String())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 4 {
		t.Errorf("-sieve-test wrote files: %v", ents)
	}

	// A broken script: the implicit keep and the error, exit 65.
	os.WriteFile(script, []byte(`fileinto "x";`), 0o644)
	stdout.Reset()
	code = run([]string{"-c", conf, "-f", "", "-sieve-test", script, "-d", "bob@example.com"}, strings.NewReader("Subject: x\r\n\r\nb\r\n"), &stdout, &stderr)
	if code != status.ExitDataErr || !strings.HasPrefix(stdout.String(), "keep implicit\nerror "+script+": compile:") {
		t.Fatalf("broken script: exit %d, stdout %q", code, stdout.String())
	}

	// -sieve-test without -d is a usage error (temporary, as every usage error).
	code = run([]string{"-c", conf, "-sieve-test", script}, strings.NewReader(""), &stdout, &stderr)
	if code != status.ExitTempFail || !strings.Contains(stderr.String(), "-sieve-test needs -d") {
		t.Fatalf("no -d: exit %d, stderr %q", code, stderr.String())
	}
}
