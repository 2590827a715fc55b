package config

import (
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"

	"maildeliver/internal/dovecotconf"
)

// applyDovecotConfig fills [userdb] driver, connect and user_query, and
// [mail] separator (from a dovecot.conf's inbox namespace), from the
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
	if md.IsDefined("userdb", "driver") && md.IsDefined("userdb", "connect") && md.IsDefined("userdb", "user_query") {
		// Nothing to take from Dovecot: do not run doveconf for nothing.
		c.userdbFrom = []string{"userdb.driver, connect, user_query: " + name + " (all set there; dovecot_config not read)"}
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
	// The folder separator Dovecot's inbox namespace uses, where a
	// dovecot.conf says (a dovecot-sql.conf.ext cannot).
	if sep := u.Separator; sep.From != "" {
		if md.IsDefined("mail", "separator") {
			c.userdbFrom = append(c.userdbFrom, fmt.Sprintf("mail.separator: %s ([mail] separator is set there and wins over %s)", name, sep.From))
		} else {
			c.Mail.Separator = sep.Value
			c.userdbFrom = append(c.userdbFrom, "mail.separator: "+sep.From)
		}
	}
	return nil
}

// UserdbSources says, one line per key, which file [userdb] driver,
// connect and user_query (and [mail] separator, from a dovecot.conf) came
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
