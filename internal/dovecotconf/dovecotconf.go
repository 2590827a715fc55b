// Package dovecotconf owns reading Dovecot's own configuration for
// [userdb] dovecot_config: given the file an administrator already has, it
// returns the SQL driver, connect string and user query Dovecot would use
// for a userdb lookup, and from a dovecot.conf the inbox namespace's
// folder separator and prefix, each with the file and line it came from (what -check
// prints). It reads three formats:
//
//   - Dovecot 2.3's dovecot-sql.conf.ext: driver, connect, user_query (and
//     password_query), with "#" comments, "\" continuation lines, quoted
//     values and !include / !include_try, as Dovecot's lib-settings reads it.
//   - Dovecot 2.3's dovecot.conf: the first userdb (prefetch skipped) must be
//     driver = sql, whose args name the file above; or driver = static with
//     a passdb sql, whose password_query then tells whether a user exists
//     (Dovecot's static userdb asks the passdb the same). Its passdb and
//     userdb sections are read through "doveconf -c FILE -n passdb userdb"
//     when doveconf is installed, so includes, defaults and errors are
//     Dovecot's own; otherwise the file is parsed here. A relative args
//     path is refused: Dovecot's auth process resolves it elsewhere.
//   - Dovecot 2.4's dovecot.conf (its first setting is
//     dovecot_config_version): sql_driver, the mysql HOST { } and
//     pgsql HOST { parameters { } } named list filters, sqlite_path, and the
//     query of "userdb sql { }" (query, sql_query or userdb_sql_query,
//     inside the block or global). It is always parsed here: this package
//     builds the connect string package lookup takes from those settings.
//
// Queries are returned as written: their variables (2.3's %u, %Lu, 2.4's
// %{user | lower}) are the query expander's business. Every error is one
// line that names the file and, where there is one, the line.
package dovecotconf

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Setting is one value taken from Dovecot's configuration and where it
// was found ("/etc/dovecot/dovecot-sql.conf.ext line 3 (connect)").
// Missing is set instead when the configuration does not say: a one-line
// reason, an error only if [userdb] does not set the key itself.
type Setting struct {
	Value   string
	From    string
	Missing string
}

// Userdb is what Read found: maildeliver's [userdb] driver (pgsql, mysql,
// sqlite), connect and user_query, and [mail] separator: the inbox
// namespace's separator (Value "" = the layout's own; From "" when the
// file cannot say, as a dovecot-sql.conf.ext).
type Userdb struct {
	Driver, Connect, UserQuery Setting
	Separator                  Setting
	// Prefix is the inbox namespace's prefix ([mail] prefix), like
	// Separator.
	Prefix Setting
}

// inboxSeparator is the separator of the inbox namespace (inbox = yes), in
// a dovecot.conf read into top: "" when it sets none or there is no inbox
// namespace (Dovecot then uses the layout's). get finds a setting of a
// block (2.3: the block's own; 2.4: also its global form).
func inboxSeparator(top []*entry, get func(b *entry, key string) *entry, place func(*entry) string, path string) Setting {
	return inboxSetting(top, get, place, path, "separator", "the layout's")
}

// inboxPrefix is the prefix of the inbox namespace ("INBOX." on sites
// migrated from Courier): "" when it sets none or there is no inbox
// namespace, as in Dovecot.
func inboxPrefix(top []*entry, get func(b *entry, key string) *entry, place func(*entry) string, path string) Setting {
	return inboxSetting(top, get, place, path, "prefix", "none")
}

// inboxSetting is the inbox namespace's key (see inboxSeparator); dflt
// says what its absence means.
func inboxSetting(top []*entry, get func(b *entry, key string) *entry, place func(*entry) string, path, key, dflt string) Setting {
	for _, ns := range blocks(top, "namespace") {
		if in := get(ns, "inbox"); in == nil || in.value != "yes" {
			continue
		}
		if e := get(ns, key); e != nil {
			return Setting{Value: e.value, From: place(e) + " (inbox namespace " + key + ")"}
		}
		return Setting{From: place(ns) + " (inbox namespace without a " + key + ": " + dflt + ")"}
	}
	return Setting{From: path + " (no inbox namespace: " + dflt + " " + key + ")"}
}

// Read reads the Dovecot configuration at path (a dovecot-sql.conf.ext or
// a 2.3 or 2.4 dovecot.conf, told apart by their content).
func Read(path string) (*Userdb, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%q: want an absolute path", path)
	}
	top, err := parseFile(path, confSyntax, true)
	if err != nil {
		return nil, err
	}
	switch {
	case isV24(top):
		return readV24(path)
	case find(top, "driver") != nil:
		return readSQLFile(path, "", "")
	}
	return readV23(path)
}

// isV24 reports whether the first setting is dovecot_config_version, which
// Dovecot 2.4 requires and 2.3 does not know.
func isV24(top []*entry) bool {
	return len(top) > 0 && !top[0].block && top[0].key == "dovecot_config_version"
}

// find returns the last setting key among entries (later lines win, as
// in Dovecot), or nil.
func find(entries []*entry, key string) *entry {
	var found *entry
	for _, e := range entries {
		if !e.block && e.key == key {
			found = e
		}
	}
	return found
}

// blocks returns the blocks of one kind, in file order.
func blocks(entries []*entry, kind string) []*entry {
	var out []*entry
	for _, e := range entries {
		if e.block && e.key == kind {
			out = append(out, e)
		}
	}
	return out
}

// sqlKeys are the settings Dovecot 2.3's db-sql.c knows; any other key
// makes Dovecot refuse the file, so it is refused here too.
var sqlKeys = map[string]bool{
	"driver": true, "connect": true, "password_query": true, "user_query": true,
	"update_query": true, "iterate_query": true, "default_pass_scheme": true,
	"userdb_warning_disable": true,
}

// driverName maps Dovecot's SQL driver names to maildeliver's.
func driverName(e *entry) (string, error) {
	switch e.value {
	case "pgsql", "postgresql":
		return "pgsql", nil
	case "mysql", "sqlite":
		return e.value, nil
	}
	return "", fmt.Errorf("%s: unknown driver %q: maildeliver reads pgsql, mysql or sqlite", e.where(), e.value)
}

// readSQLFile reads a 2.3 dovecot-sql.conf.ext. queryKey is the setting
// that serves as the user query ("" = user_query); why (how dovecot.conf
// led here) is added to the provenance of what is found.
func readSQLFile(path, queryKey, why string) (*Userdb, error) {
	top, err := parseFile(path, sqlSyntax, false)
	if err != nil {
		return nil, err
	}
	for _, e := range top {
		if !e.block && !sqlKeys[e.key] {
			return nil, fmt.Errorf("%s: unknown setting %q in an SQL file (known: driver connect user_query password_query iterate_query update_query default_pass_scheme)", e.where(), e.key)
		}
	}
	if queryKey == "" {
		queryKey = "user_query"
	}
	u := &Userdb{
		Driver:    Setting{Missing: path + ": no driver (want driver = pgsql, mysql or sqlite)"},
		Connect:   Setting{Missing: path + ": no connect"},
		UserQuery: Setting{Missing: path + ": no " + queryKey + " (Dovecot's built-in default query is not assumed: set it there or [userdb] user_query)"},
	}
	if d := find(top, "driver"); d != nil && d.value != "" {
		v, err := driverName(d)
		if err != nil {
			return nil, err
		}
		u.Driver = Setting{Value: v, From: d.where() + " (driver)"}
	}
	if c := find(top, "connect"); c != nil && strings.TrimSpace(c.value) != "" {
		u.Connect = Setting{Value: c.value, From: c.where() + " (connect)"}
	}
	if q := find(top, queryKey); q != nil && strings.TrimSpace(q.value) != "" {
		u.UserQuery = Setting{Value: q.value, From: q.where() + " (" + queryKey + ")"}
	}
	for _, s := range []*Setting{&u.Driver, &u.Connect, &u.UserQuery} {
		if s.From != "" {
			s.From += why
		}
	}
	return u, nil
}
