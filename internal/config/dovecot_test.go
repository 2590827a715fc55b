package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDovecotConfig(t *testing.T) {
	dir := t.TempDir()
	sqlFile := filepath.Join(dir, "dovecot-sql.conf.ext")
	os.WriteFile(sqlFile, []byte(`# seed 001
driver = pgsql
connect = host=localhost dbname=mails user=mailreader password=secret
user_query = SELECT '/home/'||home AS home, uid, gid \
  FROM users WHERE userid = '%u'
`), 0o644)
	c, err := Parse([]byte("[userdb]\ndovecot_config = \""+sqlFile+"\"\n"), "md.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Userdb.Driver != "pgsql" || c.Userdb.Connect != "host=localhost dbname=mails user=mailreader password=secret" ||
		c.Userdb.UserQuery != "SELECT '/home/'||home AS home, uid, gid FROM users WHERE userid = '%u'" {
		t.Fatalf("got %+v", c.Userdb)
	}
	eff := c.Effective()
	for _, want := range []string{
		"#   userdb.driver: " + sqlFile + " line 2 (driver)\n",
		"#   userdb.connect: " + sqlFile + " line 3 (connect)\n",
		"#   userdb.user_query: " + sqlFile + " line 4 (user_query)\n",
	} {
		if !strings.Contains(eff, want) {
			t.Errorf("Effective lacks %q:\n%s", want, eff)
		}
	}
	if strings.Contains(eff, "secret") {
		t.Errorf("password shown:\n%s", eff)
	}
	if _, err := Parse([]byte(eff), "effective"); err != nil {
		t.Errorf("effective config does not load: %v", err)
	}

	// Keys set in [userdb] win, and -check says so.
	c, err = Parse([]byte("[userdb]\ndovecot_config = \""+sqlFile+"\"\nconnect = \"host=/run/postgresql dbname=mails\"\n"), "md.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Userdb.Connect != "host=/run/postgresql dbname=mails" || c.Userdb.Driver != "pgsql" {
		t.Errorf("got %+v", c.Userdb)
	}
	if want := "userdb.connect: md.toml ([userdb] connect is set there and wins)"; c.UserdbSources()[1] != want {
		t.Errorf("sources %q", c.UserdbSources())
	}

	// A file without user_query is fine when [userdb] sets it, an error otherwise.
	noQuery := filepath.Join(dir, "no-query.conf.ext")
	os.WriteFile(noQuery, []byte("driver = mysql\nconnect = host=127.0.0.1 dbname=mail\n"), 0o644)
	if _, err := Parse([]byte("[userdb]\ndovecot_config = \""+noQuery+"\"\nuser_query = \"SELECT 1 FROM users WHERE email = '%u'\"\n"), "md.toml"); err != nil {
		t.Errorf("user_query set in [userdb]: %v", err)
	}
	_, err = Parse([]byte("[userdb]\ndovecot_config = \""+noQuery+"\"\n"), "md.toml")
	if err == nil || !strings.HasPrefix(err.Error(), "config md.toml: userdb.dovecot_config: "+noQuery+": no user_query") || strings.Contains(err.Error(), "\n") {
		t.Errorf("no user_query: %v", err)
	}
	_, err = Parse([]byte("[userdb]\ndovecot_config = \""+filepath.Join(dir, "missing.conf")+"\"\n"), "md.toml")
	if err == nil || err.Error() != "config md.toml: userdb.dovecot_config: cannot read "+filepath.Join(dir, "missing.conf")+": no such file or directory" {
		t.Errorf("missing: %v", err)
	}
	// With all three keys and [mail] separator and prefix set, the file is
	// not even read; without the [mail] keys it is, for its namespace.
	allSet := "[userdb]\ndovecot_config = \"/nonexistent/dovecot.conf\"\ndriver = \"sqlite\"\nconnect = \"/x.db\"\nuser_query = \"SELECT 1 FROM u WHERE a = '%u'\"\n"
	if c, err := Parse([]byte(allSet+"[mail]\nseparator = \"\"\nprefix = \"\"\n"), "md.toml"); err != nil ||
		c.UserdbSources()[0] != "userdb.driver, connect, user_query, mail.separator, prefix: md.toml (all set there; dovecot_config not read)" {
		t.Errorf("all set: %v", err)
	}
	if _, err := Parse([]byte(allSet), "md.toml"); err == nil || !strings.Contains(err.Error(), "/nonexistent/dovecot.conf") {
		t.Errorf("namespace not read: %v", err)
	}
	// Without dovecot_config nothing is read and -check prints no sources.
	if c, err := Parse(nil, "empty"); err != nil || c.UserdbSources() != nil || strings.Contains(c.Effective(), "came from") {
		t.Errorf("default: %v %q", err, c.UserdbSources())
	}
}

// [mail] separator comes from the dovecot.conf's inbox namespace unless
// the TOML file sets it.
func TestDovecotConfigSeparator(t *testing.T) {
	dir := t.TempDir()
	sqlFile := filepath.Join(dir, "dovecot-sql.conf.ext")
	os.WriteFile(sqlFile, []byte("driver = sqlite\nconnect = /x.db\nuser_query = SELECT 1 FROM u WHERE a = '%u'\n"), 0o644)
	conf := filepath.Join(dir, "dovecot.conf")
	os.WriteFile(conf, []byte("namespace {\n  inbox = yes\n  prefix = INBOX.\n  separator = .\n}\nuserdb {\n  driver = sql\n  args = "+sqlFile+"\n}\n"), 0o644)
	c, err := Parse([]byte("[userdb]\ndovecot_config = \""+conf+"\"\n"), "md.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Mail.Separator != "." || !strings.Contains(c.Effective(), "#   mail.separator: "+conf) {
		t.Errorf("separator %q:\n%s", c.Mail.Separator, c.Effective())
	}
	if c.Mail.Prefix != "INBOX." || !strings.Contains(c.Effective(), "#   mail.prefix: "+conf) {
		t.Errorf("prefix %q:\n%s", c.Mail.Prefix, c.Effective())
	}
	c, err = Parse([]byte("[userdb]\ndovecot_config = \""+conf+"\"\n[mail]\nseparator = \"/\"\nprefix = \"INBOX/\"\n"), "md.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Mail.Prefix != "INBOX/" || !strings.Contains(c.Effective(), "mail.prefix: md.toml ([mail] prefix is set there and wins") {
		t.Errorf("explicit prefix %q:\n%s", c.Mail.Prefix, c.Effective())
	}
	// A prefix that does not end with the separator is Dovecot's fatal
	// "list=yes requires prefix=INBOX. to end with separator /".
	if _, err = Parse([]byte("[userdb]\ndovecot_config = \""+conf+"\"\n[mail]\nseparator = \"/\"\n"), "md.toml"); err == nil ||
		!strings.Contains(err.Error(), `mail.prefix: namespace prefix "INBOX." must end with the separator "/"`) {
		t.Errorf("prefix INBOX. with separator /: %v", err)
	}
	if c.Mail.Separator != "/" || !strings.Contains(c.Effective(), "mail.separator: md.toml ([mail] separator is set there and wins") {
		t.Errorf("explicit separator %q:\n%s", c.Mail.Separator, c.Effective())
	}
}
