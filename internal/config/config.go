// Package config owns maildeliver's one configuration file, shared by
// deliver and lmtpd: a TOML file, default /etc/maildeliver/maildeliver.toml.
// Unknown keys are an error; every key has a default (Defaults).
//
//	hostname = ""                     # default: the system host name
//
//	[log]
//	level = "info"                    # debug | info | warn | error
//	target = "auto"                   # auto | syslog | stderr | file:/PATH (see package logging)
//
//	[userdb]
//	driver = "sqlite"                 # pgsql | mysql | sqlite
//	connect = "/var/lib/maildeliver/users.db"
//	user_query = "SELECT home, uid, gid FROM users WHERE userid = '%u'"
//	alias_query = ""                  # address -> canonical user, followed up to 8 hops
//	timeout = "5s"                    # per lookup
//	max_connections = 4               # pool size (lmtpd); deliver uses one
//	cache_ttl = "0s"                  # positive lookup cache (lmtpd); 0 = off
//	negative_cache_ttl = "0s"         # "user unknown" cache (lmtpd); 0 = off
//	socket = ""                       # lmtpd serves lookups here, deliver asks it; "" = off
//	socket_mode = "0660"
//	socket_group = ""                 # "" = lmtpd's own group
//	username_format = "%Lu"           # Dovecot's auth_username_format; "" = as given
//	dovecot_config = ""               # Dovecot's dovecot-sql.conf.ext or dovecot.conf: driver,
//	                                  # connect and user_query from there (set keys win)
//
//	[mail]
//	location = "maildir:~/Maildir"    # Dovecot 2.3 form, options too (package location)
//	uid = 0                           # used when the query returns no uid
//	gid = 0
//	min_uid = 500                     # uids below this (and 0) are refused, 4.3.0
//	recipient_delimiter = "+"
//	detail_folder = true
//	autocreate = true
//	file_mode = "0600"                # 0600 | 0660
//	max_message_size = "0"            # deliver's limit (5.2.3); 0 = unlimited
//	allowed_roots = []                # if set, every maildir must lie under one of these
//	autosubscribe = true              # folders created at delivery go into "subscriptions"
//	separator = ""                    # Dovecot's namespace separator; "" = the layout's
//	prefix = ""                       # Dovecot's inbox namespace prefix ("INBOX.")
//	driver = ""                       # Dovecot 2.4 form of location (mail_driver, mail_path,
//	path = ""                         #   mail_inbox_path, mailbox_list_layout,
//	inbox_path = ""                   #   mailbox_list_utf8); not together with location
//	layout = ""
//	utf8 = false
//
//	[quota]
//	default = ""                      # e.g. "1G"; "" = unlimited
//	full = "bounce"                   # bounce | defer
//	grace = ""                        # e.g. "10%" or "10M"
//	lock_timeout = "10s"              # longest wait for a maildir's quota lock; then 4.2.0
//	warning = []                      # e.g. ["95%", "80%"]: warn once when a delivery crosses one
//	warning_message = ""              # template file of the warning; "" = built-in text
//
//	[quota_status]                    # Postfix check_policy_service (package quotastatus)
//	listen = ""                       # unix:PATH | tcp:HOST:PORT; "" = off
//	socket_mode = "0660"
//	socket_group = "postfix"
//	max_connections = 200
//	timeout = "5s"                    # per request; past it the answer is DUNNO
//	idle_timeout = "10m"              # an idle keep-alive connection is closed after this
//
//	[lmtp]
//	listen = ["unix:/var/spool/postfix/private/lmtp"]   # unix:PATH | tcp:HOST:PORT | systemd
//	socket_mode = "0660"
//	socket_group = "postfix"
//	max_message_size = "50M"
//	max_recipients = 1000
//	max_connections = 256
//	command_timeout = "5m"
//	data_timeout = "10m"
//	shutdown_timeout = "30s"
//	spool_dir = ""                    # where message bodies over spool_memory are spooled; "" = $TMPDIR
//	spool_memory = "1M"
//	dsn = true                        # advertise DSN: ORCPT becomes X-Original-To
//
//	[metrics]
//	listen = ""                       # lmtpd's /metrics and /healthz, e.g. "127.0.0.1:9317"; "" = off
//
// Every template ([userdb] username_format, the queries' bind values,
// [mail] location and the path keys) takes package uservars' variables and
// is compiled when the file loads: an unknown variable, modifier, filter
// or location option is an error here, not at delivery.
//
// [userdb] socket is maildeliver's counterpart of Dovecot's auth-userdb
// socket: lmtpd, which keeps a pool of database connections (and the
// cache), answers userdb lookups on this unix socket (package userdbsock),
// and deliver asks it instead of opening a database connection per message.
// deliver falls back to the SQL userdb when nobody listens there. lmtpd
// creates the socket like its LMTP socket (a stale one is replaced) with
// socket_mode and socket_group; deliver running as the mailbox user needs
// to be able to connect (e.g. socket_group = "vmail").
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"

	"maildeliver/internal/location"
	"maildeliver/internal/maildir"
	"maildeliver/internal/uservars"
)

// DefaultPath is where both binaries look when -c is not given.
const DefaultPath = "/etc/maildeliver/maildeliver.toml"

// Config is the whole file.
type Config struct {
	Hostname string  `toml:"hostname"`
	Log      Log     `toml:"log"`
	Userdb   Userdb  `toml:"userdb"`
	Mail     Mail    `toml:"mail"`
	Quota    Quota   `toml:"quota"`
	LMTP     LMTP    `toml:"lmtp"`
	Metrics  Metrics `toml:"metrics"`

	QuotaStatus QuotaStatus `toml:"quota_status"`
	Sieve       Sieve       `toml:"sieve"`

	userdbFrom      []string         // where dovecot_config's values came from (UserdbSources)
	warningTemplate *WarningTemplate // [quota] warning_message, read at load
}

type Log struct {
	Level  string `toml:"level"`
	Target string `toml:"target"`
}

type Userdb struct {
	Driver           string   `toml:"driver"`
	Connect          string   `toml:"connect"`
	UserQuery        string   `toml:"user_query"`
	AliasQuery       string   `toml:"alias_query"`
	Timeout          Duration `toml:"timeout"`
	MaxConnections   int      `toml:"max_connections"`
	CacheTTL         Duration `toml:"cache_ttl"`
	NegativeCacheTTL Duration `toml:"negative_cache_ttl"`
	Socket           string   `toml:"socket"`
	SocketMode       Mode     `toml:"socket_mode"`
	SocketGroup      string   `toml:"socket_group"`
	UsernameFormat   string   `toml:"username_format"`
	DovecotConfig    string   `toml:"dovecot_config"`
}

type Mail struct {
	Location           string   `toml:"location"`
	UID                int64    `toml:"uid"`
	GID                int64    `toml:"gid"`
	MinUID             int64    `toml:"min_uid"`
	RecipientDelimiter string   `toml:"recipient_delimiter"`
	DetailFolder       bool     `toml:"detail_folder"`
	Autocreate         bool     `toml:"autocreate"`
	FileMode           Mode     `toml:"file_mode"`
	MaxMessageSize     Size     `toml:"max_message_size"`
	AllowedRoots       []string `toml:"allowed_roots"`
	Autosubscribe      bool     `toml:"autosubscribe"`
	// Separator is Dovecot's namespace separator: what splits a folder
	// name into levels. "" = the layout's own ('.' Maildir++, '/' fs).
	Separator string `toml:"separator"`
	// Prefix is the prefix of Dovecot's inbox namespace ("INBOX."): folder
	// names as delivered (-m, fileinto) carry it; "" = none.
	Prefix string `toml:"prefix"`
	// Dovecot 2.4's mail_driver, mail_path, mail_inbox_path,
	// mailbox_list_layout, mailbox_list_utf8: the other form of location.
	Driver    string `toml:"driver"`
	Path      string `toml:"path"`
	InboxPath string `toml:"inbox_path"`
	Layout    string `toml:"layout"`
	UTF8      bool   `toml:"utf8"`
}

// DefaultLocation is [mail] location's default.
const DefaultLocation = "maildir:~/Maildir"

// naming is the configured location's folder naming with [mail]
// separator and prefix (the default layout when the location is bad:
// Validate reports that itself).
func (m *Mail) naming() maildir.Naming {
	var n maildir.Naming
	if l, err := m.MailLocation(); err == nil {
		n = l.Naming()
	}
	if m.Separator != "" {
		n.Sep = m.Separator[0]
	}
	n.Prefix = m.Prefix
	return n
}

// keys returns the 2.4 form's keys.
func (m *Mail) keys() location.Keys {
	return location.Keys{Driver: m.Driver, Path: m.Path, InboxPath: m.InboxPath, Layout: m.Layout, UTF8: m.UTF8}
}

// MailLocation compiles the mail location: the 2.4 keys when any is set,
// else location. Setting both forms is an error (Validate; Parse also
// refuses an explicit location beside them).
func (m *Mail) MailLocation() (*location.Location, error) {
	if m.keys().Set() {
		if m.Location != DefaultLocation && m.Location != "" {
			return nil, fmt.Errorf("mail.location %q and mail.driver/path/inbox_path/layout/utf8 are both set: use one form", m.Location)
		}
		l, err := location.FromKeys(m.keys())
		if err != nil {
			return nil, fmt.Errorf("mail.driver/path/inbox_path/layout: %w", err)
		}
		return l, nil
	}
	l, err := location.Parse(m.Location)
	if err != nil {
		return nil, fmt.Errorf("mail.location %q: %w", m.Location, err)
	}
	return l, nil
}

// UsernameTemplate compiles [userdb] username_format; nil when it is ""
// (the recipient is kept as given).
func (u *Userdb) UsernameTemplate() (*uservars.Template, error) {
	if u.UsernameFormat == "" {
		return nil, nil
	}
	t, err := uservars.Parse(u.UsernameFormat, uservars.Address)
	if err != nil {
		return nil, fmt.Errorf("userdb.username_format %q: %w", u.UsernameFormat, err)
	}
	if !t.HasVars() {
		return nil, fmt.Errorf("userdb.username_format %q: has no variable, every recipient would be the same user", u.UsernameFormat)
	}
	return t, nil
}

type Quota struct {
	Default string `toml:"default"`
	Full    string `toml:"full"`
	Grace   string `toml:"grace"`
	// LockTimeout bounds the wait for the maildir's quota lock (held
	// exclusively by a recalculation for one rename, or by anyone who can
	// flock the maildir, such as its owner); past it the delivery is
	// deferred.
	LockTimeout Duration `toml:"lock_timeout"`
	// Warning lists thresholds ("80%", "storage=95%", "messages=90%"):
	// a delivery that takes usage across one upward delivers one warning
	// message into the INBOX.
	Warning []string `toml:"warning"`
	// WarningMessage is the warning's template file; "" = built-in text.
	WarningMessage string `toml:"warning_message"`
}

// QuotaStatus is the quota policy service for Postfix's
// check_policy_service, served by lmtpd (package quotastatus).
type QuotaStatus struct {
	Listen         string   `toml:"listen"`
	SocketMode     Mode     `toml:"socket_mode"`
	SocketGroup    string   `toml:"socket_group"`
	MaxConnections int      `toml:"max_connections"`
	Timeout        Duration `toml:"timeout"`
	IdleTimeout    Duration `toml:"idle_timeout"`
}

type LMTP struct {
	Listen          []string `toml:"listen"`
	SocketMode      Mode     `toml:"socket_mode"`
	SocketGroup     string   `toml:"socket_group"`
	MaxMessageSize  Size     `toml:"max_message_size"`
	MaxRecipients   int      `toml:"max_recipients"`
	MaxConnections  int      `toml:"max_connections"`
	CommandTimeout  Duration `toml:"command_timeout"`
	DataTimeout     Duration `toml:"data_timeout"`
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	SpoolDir        string   `toml:"spool_dir"`
	SpoolMemory     Size     `toml:"spool_memory"`
	DSN             bool     `toml:"dsn"`
	// Proxy mode (package lmtpproxy): recipients whose userdb row has
	// proxy/proxy_maybe with a host are forwarded over LMTP.
	Proxy            bool     `toml:"proxy"`
	ProxyTimeout     Duration `toml:"proxy_timeout"`
	ProxyIdleTimeout Duration `toml:"proxy_idle_timeout"`
	ProxySelf        []string `toml:"proxy_self"`
	// UserConcurrencyLimit is Dovecot's lmtp_user_concurrency_limit:
	// transactions holding one user at once; 0 = unlimited.
	UserConcurrencyLimit int `toml:"user_concurrency_limit"`
}

// Metrics is lmtpd's Prometheus endpoint (package metrics).
type Metrics struct {
	// Listen is "HOST:PORT" for /metrics and /healthz over HTTP; "" = off.
	Listen string `toml:"listen"`
}

// Defaults returns the configuration used for every key the file leaves out.
func Defaults() *Config {
	host, _ := os.Hostname()
	return &Config{
		Hostname: host,
		Log:      Log{Level: "info", Target: "auto"},
		Userdb: Userdb{
			Driver:         "sqlite",
			Connect:        "/var/lib/maildeliver/users.db",
			UserQuery:      "SELECT home, uid, gid FROM users WHERE userid = '%u'",
			Timeout:        Duration(5 * time.Second),
			MaxConnections: 4,
			SocketMode:     0o660,
			UsernameFormat: "%Lu",
		},
		Mail: Mail{
			Location:           DefaultLocation,
			Autosubscribe:      true,
			MinUID:             500,
			RecipientDelimiter: "+",
			DetailFolder:       true,
			Autocreate:         true,
			FileMode:           0o600,
		},
		Quota: Quota{Full: "bounce", LockTimeout: Duration(10 * time.Second), Warning: []string{}},
		QuotaStatus: QuotaStatus{
			SocketMode:     0o660,
			SocketGroup:    "postfix",
			MaxConnections: 200,
			Timeout:        Duration(5 * time.Second),
			IdleTimeout:    Duration(10 * time.Minute),
		},
		LMTP: LMTP{
			Listen:          []string{"unix:/var/spool/postfix/private/lmtp"},
			SocketMode:      0o660,
			SocketGroup:     "postfix",
			MaxMessageSize:  50 << 20,
			MaxRecipients:   1000,
			MaxConnections:  256,
			CommandTimeout:  Duration(5 * time.Minute),
			DataTimeout:     Duration(10 * time.Minute),
			ShutdownTimeout: Duration(30 * time.Second),
			SpoolMemory:     1 << 20,
			DSN:             true,
			// Dovecot's LMTP proxy timeout (LMTP_PROXY_DEFAULT_TIMEOUT_MSECS).
			ProxyTimeout:     Duration(125 * time.Second),
			ProxyIdleTimeout: Duration(time.Minute),
			ProxySelf:        []string{},
			// Dovecot 2.4's default (2.3 had 0, unlimited).
			UserConcurrencyLimit: 10,
		},
		Sieve: defaultSieve(),
	}
}

// Load reads path over the defaults and validates the result.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse reads TOML text over the defaults; name is used in messages.
func Parse(data []byte, name string) (*Config, error) {
	c := Defaults()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("config %s: unknown keys: %s", name, strings.Join(keys, ", "))
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname() // "" means the default, as when absent
	}
	if md.IsDefined("mail", "location") && c.Mail.Location != "" && c.Mail.keys().Set() {
		return nil, fmt.Errorf("config %s: mail.location and mail.driver/path/inbox_path/layout/utf8 are both set: use one form", name)
	}
	if err := c.applyDovecotConfig(md, name); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	if err := c.loadWarningTemplate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	return c, nil
}

// Validate checks values that TOML types alone cannot.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	c.validateHostLog(bad)
	c.validateUserdb(bad)
	c.validateMail(bad)
	c.validateQuota(bad)
	errs = append(errs, c.QuotaStatus.validate()...)
	errs = append(errs, c.Sieve.validate()...)
	c.validateLMTP(bad)
	return errors.Join(errs...)
}

// badFunc records one validation error.
type badFunc func(format string, a ...any)

func (c *Config) validateHostLog(bad badFunc) {
	if c.Hostname == "" {
		bad("hostname is empty and the system host name is unknown")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch t := c.Log.Target; {
	case t == "auto", t == "syslog", t == "stderr":
	case strings.HasPrefix(t, "file:/"):
	default:
		bad("log.target %q: want auto, syslog, stderr or file:/PATH", t)
	}
}

func (c *Config) validateUserdb(bad badFunc) {
	switch c.Userdb.Driver {
	case "pgsql", "mysql", "sqlite":
	default:
		bad("userdb.driver %q: want pgsql, mysql or sqlite", c.Userdb.Driver)
	}
	if strings.TrimSpace(c.Userdb.Connect) == "" {
		bad("userdb.connect is empty")
	}
	if strings.TrimSpace(c.Userdb.UserQuery) == "" {
		bad("userdb.user_query is empty")
	}
	if c.Userdb.Timeout <= 0 {
		bad("userdb.timeout must be positive")
	}
	if c.Userdb.MaxConnections < 1 {
		bad("userdb.max_connections must be at least 1")
	}
	if c.Userdb.CacheTTL < 0 || c.Userdb.NegativeCacheTTL < 0 {
		bad("userdb cache TTLs must not be negative")
	}
	if c.Userdb.Socket != "" && !filepath.IsAbs(c.Userdb.Socket) {
		bad("userdb.socket %q: want an absolute path", c.Userdb.Socket)
	}
	if c.Userdb.SocketMode&^0o777 != 0 {
		bad("userdb.socket_mode %o is not a permission mode", uint32(c.Userdb.SocketMode))
	}
}

func (c *Config) validateMail(bad badFunc) {
	if !c.Mail.keys().Set() && !strings.HasPrefix(c.Mail.Location, "maildir:") {
		bad("mail.location %q: want maildir:PATH", c.Mail.Location)
	} else if _, err := c.Mail.MailLocation(); err != nil {
		bad("%v", err)
	}
	if _, err := c.Userdb.UsernameTemplate(); err != nil {
		bad("%v", err)
	}
	if c.Mail.UID < 0 || c.Mail.GID < 0 {
		bad("mail.uid and mail.gid must not be negative")
	}
	if c.Mail.MinUID < 1 {
		bad("mail.min_uid must be at least 1 (uid 0 is never used for mail)")
	}
	if strings.ContainsAny(c.Mail.RecipientDelimiter, "@\x00\r\n") {
		bad("mail.recipient_delimiter %q contains a forbidden character", c.Mail.RecipientDelimiter)
	}
	if !maildir.ValidSeparator(c.Mail.Separator) {
		bad("mail.separator %q: want one printable ASCII character, or \"\" for the layout's own", c.Mail.Separator)
	} else if err := c.Mail.naming().CheckPrefix(); err != nil {
		bad("mail.prefix: %v", err)
	}
	if c.Mail.FileMode != 0o600 && c.Mail.FileMode != 0o660 {
		bad("mail.file_mode %04o: want 0600 or 0660", uint32(c.Mail.FileMode))
	}
	for _, r := range c.Mail.AllowedRoots {
		if !filepath.IsAbs(r) {
			bad("mail.allowed_roots: %q is not an absolute path", r)
		}
	}
}

func (c *Config) validateQuota(bad badFunc) {
	switch c.Quota.Full {
	case "bounce", "defer":
	default:
		bad("quota.full %q: want bounce or defer", c.Quota.Full)
	}
	if c.Quota.Default != "" {
		if _, err := ParseSize(c.Quota.Default); err != nil {
			bad("quota.default: %v", err)
		}
	}
	if c.Quota.Grace != "" {
		if _, err := ParseGrace(c.Quota.Grace); err != nil {
			bad("quota.grace: %v", err)
		}
	}
	if c.Quota.LockTimeout <= 0 {
		bad("quota.lock_timeout must be positive")
	}
	for _, w := range c.Quota.Warning {
		if _, err := ParseQuotaWarning(w); err != nil {
			bad("quota.warning: %v", err)
		}
	}
	if p := c.Quota.WarningMessage; p != "" && !filepath.IsAbs(p) {
		bad("quota.warning_message %q: want an absolute path", p)
	}
}

// validateLMTP checks [lmtp] and [metrics] (lmtpd's own).
func (c *Config) validateLMTP(bad badFunc) {
	if len(c.LMTP.Listen) == 0 {
		bad("lmtp.listen is empty")
	}
	for _, l := range c.LMTP.Listen {
		if _, _, err := ParseListen(l); err != nil {
			bad("lmtp.listen: %v", err)
		}
	}
	if c.LMTP.SocketMode&^0o777 != 0 {
		bad("lmtp.socket_mode %o is not a permission mode", uint32(c.LMTP.SocketMode))
	}
	if c.LMTP.MaxRecipients < 1 {
		bad("lmtp.max_recipients must be at least 1")
	}
	if c.LMTP.MaxConnections < 1 {
		bad("lmtp.max_connections must be at least 1")
	}
	if c.LMTP.CommandTimeout <= 0 || c.LMTP.DataTimeout <= 0 || c.LMTP.ShutdownTimeout <= 0 {
		bad("lmtp timeouts must be positive")
	}
	if c.LMTP.ProxyTimeout <= 0 || c.LMTP.ProxyIdleTimeout <= 0 {
		bad("lmtp.proxy_timeout and lmtp.proxy_idle_timeout must be positive")
	}
	for _, a := range c.LMTP.ProxySelf {
		if _, err := netip.ParseAddr(a); err != nil {
			bad("lmtp.proxy_self %q: want an IP address", a)
		}
	}
	if c.LMTP.UserConcurrencyLimit < 0 {
		bad("lmtp.user_concurrency_limit must be 0 (unlimited) or more")
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			bad("metrics.listen %q: want HOST:PORT (e.g. 127.0.0.1:9317): %v", c.Metrics.Listen, err)
		}
	}
}

// ParseListen splits an lmtp.listen entry into network and address:
// "unix:/path", "tcp:host:port" or "systemd" (sockets passed by systemd).
func ParseListen(s string) (network, addr string, err error) {
	switch {
	case s == "systemd":
		return "systemd", "", nil
	case strings.HasPrefix(s, "unix:") && len(s) > len("unix:"):
		p := s[len("unix:"):]
		if !filepath.IsAbs(p) {
			return "", "", fmt.Errorf("%q: unix socket path must be absolute", s)
		}
		return "unix", p, nil
	case strings.HasPrefix(s, "tcp:"):
		a := s[len("tcp:"):]
		i := strings.LastIndex(a, ":")
		if i < 0 {
			return "", "", fmt.Errorf("%q: want tcp:HOST:PORT", s)
		}
		if p, err := strconv.Atoi(a[i+1:]); err != nil || p < 0 || p > 65535 {
			return "", "", fmt.Errorf("%q: bad port", s)
		}
		return "tcp", a, nil
	}
	return "", "", fmt.Errorf("%q: want unix:PATH, tcp:HOST:PORT or systemd", s)
}

// Compiled on first use, not at every start of deliver.
var (
	maskKV  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|"[^"]*"|\S+)`) })
	maskURL = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(://[^:/@\s]*:)([^@\s]*)(@)`) })
)

// MaskSecrets hides passwords in a connect string (key=value, URL or
// go-sql-driver DSN form). It reads its argument as a connect string; for
// a text that may quote one (a driver's error message) use MaskText.
func MaskSecrets(s string) string {
	s = maskKV().ReplaceAllString(s, "${1}********")
	if strings.Contains(s, "://") {
		return maskURL().ReplaceAllString(s, "${1}********${3}")
	}
	if from, to, ok := dsnPassword(s); ok {
		s = s[:from] + "********" + s[to:]
	}
	return s
}

// dsnPassword finds the password in a go-sql-driver DSN
// ([user[:password]@][net[(addr)]]/dbname[?params]) the way the driver
// parses it: up to the last '@' before the last '/', from the first ':'.
// A password may hold '@' and ':'; key=value strings are not DSNs.
func dsnPassword(s string) (from, to int, ok bool) {
	slash := strings.LastIndexByte(s, '/')
	if slash < 0 {
		return 0, 0, false
	}
	at := strings.LastIndexByte(s[:slash], '@')
	if at < 0 || strings.ContainsAny(s[:at], "= ") {
		return 0, 0, false
	}
	colon := strings.IndexByte(s[:at], ':')
	if colon < 0 {
		return 0, 0, false
	}
	return colon + 1, at, true
}

// connectPassword returns the password of a connect string in any of the
// forms MaskSecrets knows, "" if it has none.
func connectPassword(connect string) string {
	if strings.Contains(connect, "://") {
		if u, err := url.Parse(connect); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				return p
			}
		}
	}
	if m := maskKV().FindStringSubmatch(connect); m != nil {
		return strings.Trim(m[2], `'"`)
	}
	if from, to, ok := dsnPassword(connect); ok {
		return connect[from:to]
	}
	return ""
}

// MaskText hides the secrets of connect wherever text quotes them (driver
// errors may): the connect string, its password, any password=... and URL
// user information. Unlike MaskSecrets it never parses text itself as a
// connect string, so an error such as "Access denied for user
// 'x'@'host'" stays readable (MaskSecrets took "lookup:" for a DSN user
// and masked up to that '@').
func MaskText(text, connect string) string {
	if connect != "" {
		text = strings.ReplaceAll(text, connect, MaskSecrets(connect))
	}
	if p := connectPassword(connect); p != "" {
		text = strings.ReplaceAll(text, p, "********")
	}
	text = maskKV().ReplaceAllString(text, "${1}********")
	return maskURL().ReplaceAllString(text, "${1}********${3}")
}

// Effective renders the configuration as TOML, secrets masked: what
// -check prints.
func (c *Config) Effective() string {
	masked := *c
	masked.Userdb.Connect = MaskSecrets(c.Userdb.Connect)
	if c.Mail.keys().Set() {
		masked.Mail.Location = "" // the 2.4 keys are the location
	}
	if masked.Mail.AllowedRoots == nil {
		masked.Mail.AllowedRoots = []string{}
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(masked); err != nil {
		return "# cannot render config: " + err.Error()
	}
	return c.sourcesComment() + b.String()
}
