package dovecotconf

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// doveconfPath finds doveconf: in $PATH, or where Debian, RPM and source
// installs put it (Postfix's pipe(8) gives deliver a minimal $PATH). ""
// means not installed. Tests replace it to exercise the parser.
var doveconfPath = func() string {
	if p, err := exec.LookPath("doveconf"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/doveconf", "/usr/sbin/doveconf", "/usr/local/bin/doveconf", "/usr/local/sbin/doveconf"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// doveconfTimeout bounds doveconf: a hung one must not hold a delivery.
const doveconfTimeout = 10 * time.Second

// readV23 reads a Dovecot 2.3 dovecot.conf and follows its userdb to the
// SQL file.
func readV23(path string) (*Userdb, error) {
	top, via, err := v23Tree(path)
	if err != nil {
		return nil, err
	}
	res, err := readV23Userdb(top, path, via)
	if err != nil {
		return nil, err
	}
	get, place := func(b *entry, key string) *entry { return find(b.sub, key) },
		func(e *entry) string { return where(e, path, via) }
	res.Separator = inboxSeparator(top, get, place, path)
	res.Prefix = inboxPrefix(top, get, place, path)
	return res, nil
}

// readV23Userdb follows the first userdb of a 2.3 dovecot.conf to its SQL
// file.
func readV23Userdb(top []*entry, path, via string) (*Userdb, error) {
	for _, u := range blocks(top, "userdb") {
		drv := find(u.sub, "driver")
		switch {
		case drv == nil || drv.value == "":
			return nil, fmt.Errorf("%s: a userdb has no driver%s", where(u, path, via), hintName(u))
		case drv.value == "prefetch": // takes fields from the passdb's login lookup, which deliver never does
			continue
		case drv.value == "sql":
			file, err := sqlArgs(u, path, via)
			if err != nil {
				return nil, err
			}
			res, err := readSQLFile(file, "", "; named by "+where(u, path, via)+": userdb args")
			if err != nil {
				return nil, fmt.Errorf("%s: userdb args: %w", path, err)
			}
			return res, nil
		case drv.value == "static":
			return staticUserdb(top, u, path, via)
		}
		return nil, fmt.Errorf("%s: the userdb's driver is %q: maildeliver reads only SQL userdbs", where(u, path, via), drv.value)
	}
	return nil, fmt.Errorf("%s: no userdb { driver = sql } block", path)
}

// staticUserdb: "userdb { driver = static }" looks nobody up in SQL; Dovecot
// asks the passdb whether the user exists (unless allow_all_users=yes,
// where it accepts anybody). maildeliver needs a query to tell a user from
// an unknown address, so the passdb sql's password_query serves as one.
func staticUserdb(top []*entry, u *entry, path, via string) (*Userdb, error) {
	for _, p := range blocks(top, "passdb") {
		if d := find(p.sub, "driver"); d != nil && d.value == "sql" {
			file, err := sqlArgs(p, path, via)
			if err != nil {
				return nil, err
			}
			res, err := readSQLFile(file, "password_query", "; named by "+where(p, path, via)+": passdb args; the userdb is static, so the passdb tells who exists")
			if err != nil {
				return nil, fmt.Errorf("%s: passdb args: %w", path, err)
			}
			return res, nil
		}
	}
	return nil, fmt.Errorf("%s: the userdb is static and there is no passdb sql to tell which users exist", where(u, path, via))
}

// sqlArgs is a sql passdb's or userdb's args: the SQL file. Dovecot's
// auth process opens it from its own working directory, so only an
// absolute path names the same file here.
func sqlArgs(b *entry, path, via string) (string, error) {
	a := find(b.sub, "args")
	if a == nil || strings.TrimSpace(a.value) == "" {
		return "", fmt.Errorf("%s: %s { driver = sql } has no args (the SQL file)", where(b, path, via), b.key)
	}
	file := strings.TrimSpace(a.value)
	if !filepath.IsAbs(file) {
		return "", fmt.Errorf("%s: %s args %q: want an absolute path", where(b, path, via), b.key, file)
	}
	return file, nil
}

func hintName(b *entry) string {
	if b.name == "sql" {
		return ` ("userdb sql {" is Dovecot 2.4 syntax; 2.3 wants driver = sql inside the block)`
	}
	return ""
}

// where names a block: its file and line when parsed here, else the file
// and how it was read.
func where(b *entry, path, via string) string {
	if via != "" {
		return path + " (" + via + ")"
	}
	return b.where()
}

// v23Tree reads a 2.3 dovecot.conf: its passdb, userdb and namespace sections
// through "doveconf -n" if installed (via says so), else with the parser.
func v23Tree(path string) (top []*entry, via string, err error) {
	dc := doveconfPath()
	if dc == "" {
		top, err = parseFile(path, confSyntax, false)
		return top, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), doveconfTimeout)
	defer cancel()
	// Only these sections: nothing else of doveconf's output is parsed.
	cmd := exec.CommandContext(ctx, dc, "-c", path, "-n", "passdb", "userdb", "namespace")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, "", fmt.Errorf("%s: doveconf -n: %s", path, doveconfError(stderr.String(), err))
	}
	top, err = parseData(path+" (doveconf -n output)", stdout.String(), confSyntax)
	if err != nil {
		return nil, "", err
	}
	return top, "read with " + filepath.Base(dc) + " -n", nil
}

// doveconfError is the one line that says why doveconf failed: its
// Fatal line, else its last line, else the exit status.
func doveconfError(stderr string, err error) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		if i := strings.Index(l, "Fatal: "); i >= 0 {
			return l[i+len("Fatal: "):]
		}
	}
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return err.Error()
}
