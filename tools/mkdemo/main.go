// Command mkdemo prepares the README's first-run demo: a SQLite userdb with
// the schema of the classic Postfix + Dovecot + SQL howto (seed 000/001),
// two users owned by the given uid, and a maildeliver.toml pointing at a
// mail directory inside the work tree. It never touches anything outside
// the directory it is given.
//
//	mkdemo -dir DIR -uid UID -gid GID
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"maildeliver/internal/testdb"

	_ "modernc.org/sqlite"
)

func main() {
	dir := flag.String("dir", "demo", "demo directory (created)")
	uid := flag.Int("uid", os.Getuid(), "uid owning the demo mailboxes")
	gid := flag.Int("gid", os.Getgid(), "gid owning the demo mailboxes")
	flag.Parse()
	if err := run(*dir, *uid, *gid); err != nil {
		fmt.Fprintln(os.Stderr, "mkdemo:", err)
		os.Exit(1)
	}
}

func run(dir string, uid, gid int) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	mail := filepath.Join(abs, "mail")
	if err := os.MkdirAll(mail, 0o755); err != nil {
		return err
	}
	if err := os.Chown(mail, uid, gid); err != nil {
		return err
	}
	dbPath := filepath.Join(abs, "users.db")
	os.Remove(dbPath)
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	rows := fmt.Sprintf(`insert into transport (domain, transport) values ('example.org', 'virtual:');
insert into users (userid, uid, gid, home) values ('user@example.org', %[1]d, %[2]d, 'example.org/mails/user');
insert into users (userid, uid, gid, home) values ('info@example.org', %[1]d, %[2]d, 'example.org/mails/info');
insert into virtual (address, userid) values ('postmaster@example.org', 'user@example.org')`, uid, gid)
	for _, s := range strings.Split(testdb.Seed000+rows, ";\n") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		if _, err := db.Exec(s); err != nil {
			return fmt.Errorf("%v: %s", err, s)
		}
	}
	minUID := 500
	if uid < minUID {
		minUID = 1
	}
	conf := fmt.Sprintf(`# maildeliver demo configuration (made by tools/mkdemo)
hostname = "mx.example.org"

[log]
target = "file:%[1]s/deliver.log"

[userdb]
driver = "sqlite"
connect = "%[1]s/users.db"
# Dovecot's user_query from the howto, pasted as is (only the base differs)
user_query = "SELECT '%[2]s/'||home AS home, uid, gid FROM users WHERE userid = '%%u'"
alias_query = "SELECT userid FROM virtual WHERE address = '%%u'"

[mail]
location = "maildir:~/Maildir"
min_uid = %[3]d
`, abs, mail, minUID)
	if err := os.WriteFile(filepath.Join(abs, "maildeliver.toml"), []byte(conf), 0o644); err != nil {
		return err
	}
	logf := filepath.Join(abs, "deliver.log")
	if err := os.WriteFile(logf, nil, 0o666); err != nil {
		return err
	}
	return os.Chmod(logf, 0o666)
}
