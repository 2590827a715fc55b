package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"maildeliver/internal/sieve"
	"maildeliver/internal/uservars"
)

// Sieve is [sieve]: Sieve at delivery, with Pigeonhole's setting names
// (sieve, sieve_dir, sieve_global, sieve_before, sieve_after,
// sieve_default, sieve_extensions, sieve_max_redirects, ...). Paths take
// uservars' variables and "~" (the user's home).
type Sieve struct {
	Enabled    bool     `toml:"enabled"`
	Script     string   `toml:"script"` // the active script, ManageSieve's symlink into dir
	Dir        string   `toml:"dir"`    // the user's scripts (include :personal)
	Global     string   `toml:"global"` // include :global scripts; "" = none
	Before     []string `toml:"before"`
	After      []string `toml:"after"`
	Default    string   `toml:"default"`
	Extensions []string `toml:"extensions"`

	MaxRedirects  int      `toml:"max_redirects"`
	MaxActions    int      `toml:"max_actions"`
	MaxScriptSize Size     `toml:"max_script_size"`
	RunTimeout    Duration `toml:"run_timeout"`

	VacationMinPeriod Interval `toml:"vacation_min_period"`
	VacationMaxPeriod Interval `toml:"vacation_max_period"`

	RedirectEnvelopeFrom string `toml:"redirect_envelope_from"`
	PostmasterAddress    string `toml:"postmaster_address"`
	SubmissionHost       string `toml:"submission_host"`
	SendmailPath         string `toml:"sendmail_path"`
}

func defaultSieve() Sieve {
	return Sieve{
		Script:               "~/.dovecot.sieve",
		Dir:                  "~/sieve",
		Before:               []string{},
		After:                []string{},
		Extensions:           []string{},
		MaxRedirects:         4,
		MaxActions:           32,
		MaxScriptSize:        1 << 20,
		RunTimeout:           Duration(10 * time.Second),
		VacationMinPeriod:    Interval(24 * time.Hour),
		VacationMaxPeriod:    Interval(60 * 24 * time.Hour),
		RedirectEnvelopeFrom: "sender",
		SendmailPath:         "/usr/sbin/sendmail",
	}
}

// Interval is a period written as Dovecot writes them: "1d", "60d",
// "12h", "30m", "90s" or a plain number of seconds.
type Interval time.Duration

func (iv *Interval) UnmarshalText(b []byte) error {
	d, err := ParseInterval(string(b))
	if err != nil {
		return err
	}
	*iv = Interval(d)
	return nil
}

func (iv Interval) MarshalText() ([]byte, error) {
	d := time.Duration(iv)
	if d%(24*time.Hour) == 0 && d != 0 {
		return []byte(strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"), nil
	}
	return []byte(d.String()), nil
}

// D returns the value as a time.Duration.
func (iv Interval) D() time.Duration { return time.Duration(iv) }

// ParseInterval reads "1d", "2w", "12h", "90s", "1h30m" or seconds.
func ParseInterval(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if num, ok := strings.CutSuffix(s, suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("interval %q: want a number before %q", s, suffix)
			}
			return time.Duration(n) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("interval %q: want e.g. 1d, 12h, 30m or seconds", s)
	}
	return d, nil
}

// validate checks [sieve]; the path templates are compiled here so an
// unknown variable is a load error, not a delivery error.
func (s *Sieve) validate() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("sieve."+format, a...)) }
	paths := map[string]string{"script": s.Script, "dir": s.Dir, "global": s.Global, "default": s.Default}
	for i, p := range s.Before {
		paths[fmt.Sprintf("before[%d]", i)] = p
	}
	for i, p := range s.After {
		paths[fmt.Sprintf("after[%d]", i)] = p
	}
	for key, p := range paths {
		if p == "" {
			continue
		}
		if _, err := uservars.Parse(p, uservars.Path); err != nil {
			bad("%s %q: %v", key, p, err)
		}
	}
	for _, x := range s.Extensions {
		if !contains(sieve.Supported, x) {
			bad("extensions: %q is not supported (supported: %s)", x, strings.Join(sieve.Supported, " "))
		}
	}
	if s.MaxRedirects < 1 || s.MaxActions < 1 {
		bad("max_redirects and max_actions must be at least 1")
	}
	if s.MaxScriptSize < 1 || s.RunTimeout <= 0 {
		bad("max_script_size and run_timeout must be positive")
	}
	if s.VacationMinPeriod > s.VacationMaxPeriod && s.VacationMaxPeriod != 0 {
		bad("vacation_min_period %s is above vacation_max_period %s", s.VacationMinPeriod.D(), s.VacationMaxPeriod.D())
	}
	switch f := s.RedirectEnvelopeFrom; {
	case f == "sender", f == "recipient", f == "orig_recipient", f == "user_email", f == "postmaster":
	case strings.Contains(f, "@") || f == "<>":
	default:
		bad("redirect_envelope_from %q: want sender, recipient, orig_recipient, user_email, postmaster or an address", f)
	}
	if a := s.PostmasterAddress; a != "" && !strings.Contains(a, "@") {
		bad("postmaster_address %q: want an address", a)
	}
	if h := s.SubmissionHost; h != "" {
		if _, _, err := net.SplitHostPort(h); err != nil {
			bad("submission_host %q: want HOST:PORT (e.g. 127.0.0.1:25): %v", h, err)
		}
	} else if f := strings.Fields(s.SendmailPath); len(f) == 0 || !filepath.IsAbs(f[0]) {
		bad("sendmail_path %q: want an absolute path, then arguments if any (used when submission_host is \"\")", s.SendmailPath)
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Locations returns the script path templates for package sieve.
func (s *Sieve) Locations() sieve.Locations {
	return sieve.Locations{Script: s.Script, Dir: s.Dir, Global: s.Global, Default: s.Default,
		Before: s.Before, After: s.After}
}

// EngineOptions returns the engine's options; delimiter is [mail]
// recipient_delimiter.
func (s *Sieve) EngineOptions(delimiter string) sieve.Options {
	return sieve.Options{
		Limits: sieve.Limits{MaxScriptSize: int64(s.MaxScriptSize), MaxActions: s.MaxActions,
			MaxRedirects: s.MaxRedirects, RunTime: s.RunTimeout.D()},
		Extensions:         s.Extensions,
		VacationMinPeriod:  s.VacationMinPeriod.D(),
		VacationMaxPeriod:  s.VacationMaxPeriod.D(),
		RecipientDelimiter: delimiter,
	}
}

// Outbox returns where Sieve's outgoing mail goes: submission_host over
// SMTP when set, else sendmail_path.
func (s *Sieve) Outbox(hostname string) sieve.Outbox {
	if s.SubmissionHost != "" {
		return sieve.SMTPOutbox{Addr: s.SubmissionHost, Hostname: hostname}
	}
	return sieve.SendmailOutbox{Path: s.SendmailPath}
}
