//go:build !maildeliver_nosql

package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// -check with [userdb] dovecot_config says where driver, connect and
// user_query came from, and tests the userdb they name.
func TestCheckDovecotConfig(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "users.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE users (userid TEXT, home TEXT, uid INT, gid INT)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	sqlFile := filepath.Join(dir, "dovecot-sql.conf.ext")
	os.WriteFile(sqlFile, []byte("driver = sqlite\nconnect = "+dbPath+"\nuser_query = SELECT home, uid, gid \\\n  FROM users WHERE userid = '%u'\n"), 0o644)
	conf := filepath.Join(dir, "maildeliver.toml")
	os.WriteFile(conf, []byte("[userdb]\ndovecot_config = \""+sqlFile+"\"\n"), 0o644)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-c", conf, "-check"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("-check = %d: %s%s", code, stderr.String(), stdout.String())
	}
	for _, want := range []string{
		"#   userdb.driver: " + sqlFile + " line 1 (driver)\n",
		"#   userdb.connect: " + sqlFile + " line 2 (connect)\n",
		"#   userdb.user_query: " + sqlFile + " line 3 (user_query)\n",
		`user_query = "SELECT home, uid, gid FROM users WHERE userid = '%u'"`,
		"# userdb: ok",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("-check output lacks %q:\n%s", want, stdout.String())
		}
	}
}
