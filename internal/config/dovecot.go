package config

import (
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"

	"maildeliver/internal/dovecotconf"
)

// applyDovecotConfig fills [userdb] driver, connect and user_query, and
// [mail] separator and prefix (from a dovecot.conf's inbox namespace), from the
// Dovecot configuration named by [userdb] dovecot_config (package
// dovecotconf), each one unless the TOML file sets it: an explicit key
// wins. It records where each value came from for -check (Effective).
func (c *Config) applyDovecotConfig(md toml.MetaData, name string) error {
	path := c.Userdb.DovecotConfig
	if path == "" {
		return nil
	}
	fields := []struct {
		key string
		dst *string
		get func(*dovecotconf.Userdb) dovecotconf.Setting
	}{
		{"driver", &c.Userdb.Driver, func(u *dovecotconf.Userdb) dovecotconf.Setting { return u.Driver }},
		{"connect", &c.Userdb.Connect, func(u *dovecotconf.Userdb) dovecotconf.Setting { return u.Connect }},
		{"user_query", &c.Userdb.UserQuery, func(u *dovecotconf.Userdb) dovecotconf.Setting { return u.UserQuery }},
	}
	if md.IsDefined("userdb", "driver") && md.IsDefined("userdb", "connect") && md.IsDefined("userdb", "user_query") &&
		md.IsDefined("mail", "separator") && md.IsDefined("mail", "prefix") {
		// Nothing to take from Dovecot: do not run doveconf for nothing.
		c.userdbFrom = []string{"userdb.driver, connect, user_query, mail.separator, prefix: " + name + " (all set there; dovecot_config not read)"}
		return nil
	}
	u, err := dovecotconf.Read(path)
	if err != nil {
		return fmt.Errorf("userdb.dovecot_config: %w", err)
	}
	c.userdbFrom = nil
	for _, f := range fields {
		if md.IsDefined("userdb", f.key) {
			c.userdbFrom = append(c.userdbFrom, fmt.Sprintf("userdb.%s: %s ([userdb] %s is set there and wins)", f.key, name, f.key))
			continue
		}
		s := f.get(u)
		if s.Missing != "" {
			return fmt.Errorf("userdb.dovecot_config: %s", s.Missing)
		}
		*f.dst = s.Value
		c.userdbFrom = append(c.userdbFrom, fmt.Sprintf("userdb.%s: %s", f.key, s.From))
	}
	// The folder separator and prefix of Dovecot's inbox namespace, where
	// a dovecot.conf says (a dovecot-sql.conf.ext cannot).
	for _, ns := range []struct {
		key string
		dst *string
		s   dovecotconf.Setting
	}{{"separator", &c.Mail.Separator, u.Separator}, {"prefix", &c.Mail.Prefix, u.Prefix}} {
		switch {
		case ns.s.From == "":
		case md.IsDefined("mail", ns.key):
			c.userdbFrom = append(c.userdbFrom, fmt.Sprintf("mail.%s: %s ([mail] %s is set there and wins over %s)", ns.key, name, ns.key, ns.s.From))
		default:
			*ns.dst = ns.s.Value
			c.userdbFrom = append(c.userdbFrom, "mail."+ns.key+": "+ns.s.From)
		}
	}
	return nil
}

// UserdbSources says, one line per key, which file [userdb] driver,
// connect and user_query (and [mail] separator and prefix, from a dovecot.conf) came
// from when dovecot_config is set (nil otherwise): what -check prints.
func (c *Config) UserdbSources() []string { return c.userdbFrom }

// sourcesComment renders UserdbSources as TOML comments.
func (c *Config) sourcesComment() string {
	if len(c.userdbFrom) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("# [userdb] values and where they came from (dovecot_config)\n")
	for _, l := range c.userdbFrom {
		b.WriteString("#   " + l + "\n")
	}
	return b.String()
}
