package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"maildeliver/internal/quota"
)

// QuotaWarning is one [quota] warning threshold (see quota.Warning, which
// applies it); config parses it:
//
//	"80%"            80% of the storage or of the message limit
//	"storage=95%"    95% of the storage limit only
//	"messages=90%"   90% of the message limit only
//
// Dovecot's quota_warning writes "storage=95%%" (its settings escape %);
// the doubled form is accepted too.
type QuotaWarning = quota.Warning

// ParseQuotaWarning reads one [quota] warning entry.
func ParseQuotaWarning(s string) (QuotaWarning, error) { return quota.ParseWarning(s) }

// QuotaWarnings returns the parsed [quota] warning thresholds (validated
// at load).
func (c *Config) QuotaWarnings() []QuotaWarning {
	var ws []QuotaWarning
	for _, s := range c.Quota.Warning {
		if w, err := ParseQuotaWarning(s); err == nil {
			ws = append(ws, w)
		}
	}
	return ws
}

// WarningTemplate is the message of [quota] warning_message: header
// fields, a blank line, the body (a file whose first line is blank has
// no fields of its own). Variables, in fields and body:
//
//	%u %{user}       the user's address      %n %{username}  its local part
//	%d %{domain}     its domain              %%              a literal %
//
// A % followed by neither a letter, { nor % is itself ("80% full").
//
//	%{percent}       the threshold crossed, e.g. 80
//	%{resource}      storage or messages
//	%{usage}         the usage after the delivery (e.g. "820 MiB" or "820 messages")
//	%{limit}         the limit (e.g. "1 GiB" or "1000 messages")
//
// The fields To, Date, Message-ID and Auto-Submitted (and the trace
// fields Return-Path, Delivered-To, Received) are always maildeliver's
// own, so a template may not set them; From and Subject default to
// postmaster@<the user's domain> and a built-in subject.
type WarningTemplate struct {
	Fields []string // "Name: value" with continuation lines, no final newline
	Body   string
}

// warningVars are the names a template may use, with a sample value
// each for validation.
var warningVars = map[string]string{
	"u": "user@example.org", "user": "user@example.org",
	"n": "user", "username": "user",
	"d": "example.org", "domain": "example.org",
	"percent": "80", "resource": "storage", "usage": "820 MiB", "limit": "1 GiB",
}

// reservedFields may not appear in a template: maildeliver writes them.
var reservedFields = map[string]bool{
	"to": true, "cc": true, "bcc": true, "date": true, "message-id": true,
	"auto-submitted": true, "return-path": true, "delivered-to": true, "received": true,
}

// ParseWarningTemplate reads a warning_message file's text.
func ParseWarningTemplate(text string) (*WarningTemplate, error) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	if strings.ContainsAny(text, "\x00\r") {
		return nil, errors.New("NUL or bare CR in the template")
	}
	head, body, ok := strings.Cut(text, "\n\n")
	if strings.HasPrefix(text, "\n") {
		head, body, ok = "", text[1:], true
	}
	if !ok {
		return nil, errors.New("want header fields (e.g. Subject:), a blank line, then the body")
	}
	t := &WarningTemplate{Body: body}
	for _, line := range strings.Split(head, "\n") {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(t.Fields) == 0 {
				return nil, fmt.Errorf("continuation line %q before any field", line)
			}
			t.Fields[len(t.Fields)-1] += "\n" + line
			continue
		}
		name, _, found := strings.Cut(line, ":")
		if !found || !fieldName(name) {
			return nil, fmt.Errorf("%q is not a header field (want Name: value, then a blank line, then the body)", line)
		}
		if reservedFields[strings.ToLower(name)] {
			return nil, fmt.Errorf("field %s is written by maildeliver and may not be set in the template", name)
		}
		t.Fields = append(t.Fields, line)
	}
	if _, err := t.Expand(warningVars); err != nil {
		return nil, err
	}
	return t, nil
}

// fieldName: RFC 5322 ftext, printable ASCII but ':' and space.
func fieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Expand substitutes vars into a copy of t. CR, LF and NUL in a value
// become spaces, so a value can never add a header field.
func (t *WarningTemplate) Expand(vars map[string]string) (*WarningTemplate, error) {
	out := &WarningTemplate{}
	for _, f := range t.Fields {
		s, err := expandWarning(f, vars)
		if err != nil {
			return nil, err
		}
		out.Fields = append(out.Fields, s)
	}
	var err error
	out.Body, err = expandWarning(t.Body, vars)
	return out, err
}

// HasField reports whether t sets the field name (case-insensitive).
func (t *WarningTemplate) HasField(name string) bool {
	for _, f := range t.Fields {
		n, _, _ := strings.Cut(f, ":")
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

func expandWarning(s string, vars map[string]string) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i+1:]
		var name string
		switch {
		case s == "" || !isLetter(s[0]) && s[0] != '%' && s[0] != '{':
			b.WriteByte('%') // "80% full": a % before no name is itself
			continue
		case s[0] == '%':
			b.WriteByte('%')
			s = s[1:]
			continue
		case s[0] == '{':
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return "", errors.New("template has %{ without }")
			}
			name, s = s[1:end], s[end+1:]
		default:
			name, s = s[:1], s[1:]
		}
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("unknown variable %%%s in the template (known: %%u %%n %%d %%{percent} %%{resource} %%{usage} %%{limit} %%%%)", bracket(name))
		}
		b.WriteString(strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == 0 {
				return ' '
			}
			return r
		}, v))
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func bracket(name string) string {
	if len(name) == 1 {
		return name
	}
	return "{" + name + "}"
}

// loadWarningTemplate reads [quota] warning_message at load time, so that
// -check finds a bad template and deliveries (running as the mailbox
// owner) need not read a file that may be readable by root only.
func (c *Config) loadWarningTemplate() error {
	c.warningTemplate = nil
	p := c.Quota.WarningMessage
	if p == "" {
		return nil
	}
	if !filepath.IsAbs(p) {
		return fmt.Errorf("quota.warning_message %q: want an absolute path", p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("quota.warning_message: %w", err)
	}
	if len(data) > 64<<10 {
		return fmt.Errorf("quota.warning_message %s: larger than 64 KiB", p)
	}
	if !bytes.Equal(bytes.ToValidUTF8(data, nil), data) {
		return fmt.Errorf("quota.warning_message %s: not UTF-8", p)
	}
	t, err := ParseWarningTemplate(string(data))
	if err != nil {
		return fmt.Errorf("quota.warning_message %s: %w", p, err)
	}
	c.warningTemplate = t
	return nil
}

// WarningTemplate returns the template of [quota] warning_message as Load
// and Parse read it; nil when it is "" (the built-in text) or for a
// Config not made by them.
func (c *Config) WarningTemplate() *WarningTemplate { return c.warningTemplate }

// validate checks [quota_status].
func (q QuotaStatus) validate() []error {
	var errs []error
	if q.Listen != "" {
		network, _, err := ParseListen(q.Listen)
		if err == nil && network == "systemd" {
			err = fmt.Errorf("%q: want unix:PATH or tcp:HOST:PORT", q.Listen)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("quota_status.listen: %w", err))
		}
	}
	if q.SocketMode&^0o777 != 0 {
		errs = append(errs, fmt.Errorf("quota_status.socket_mode %o is not a permission mode", uint32(q.SocketMode)))
	}
	if q.MaxConnections < 1 {
		errs = append(errs, errors.New("quota_status.max_connections must be at least 1"))
	}
	if q.Timeout <= 0 || q.IdleTimeout <= 0 {
		errs = append(errs, errors.New("quota_status timeouts must be positive"))
	}
	return errs
}
