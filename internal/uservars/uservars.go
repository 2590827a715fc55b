// Package uservars owns Dovecot's %-variables as maildeliver accepts them,
// in every place that takes them: the bind values of user_query and
// alias_query, [userdb] username_format, [mail] location and every path
// key. A template is compiled once, when the configuration loads, so that
// an unknown variable or modifier is a configuration error (-check fails)
// and never a per-message surprise.
//
// Dovecot 2.3 forms:
//
//	%u %{user}       the whole address (user@domain)
//	%n %{username}   the local part (the whole address when it has no '@')
//	%d %{domain}     the domain ("" when the address has no '@')
//	%h %{home}       the home directory (paths only: not known before the lookup)
//	%%               a literal %
//	%Lu %Ln %Ld %L{user} ...   lower case (modifier L), %Uu ... upper case (U)
//
// Dovecot 2.4 forms: %{user}, %{home} and filters after '|', applied left
// to right (spaces around '|' are allowed):
//
//	%{user|lower}  %{user|upper}  %{user|username}  %{user|domain}
//	%{user|username|lower}  %{user | domain | lower}
//
// Dovecot's other modifiers and filters (%E, %H, %M, %D, %R, %T, %X,
// %0.1n substrings, |md5, |hex, |default(...), ...) are not supported and
// are refused with a message naming them, as are variables Dovecot knows
// but delivery has no value for (%s, %r, %l, %p, ...).
//
// Checked against Dovecot 2.3.19 with `doveadm user -f mail` (see
// oracle_test.go): %Lu of Bob.Smith@Sub.Example.COM is
// bob.smith@sub.example.com, %Ld/%Ln is sub.example.com/bob.smith, %Lh
// lower-cases the home path, %% is %.
//
// In paths (ExpandPath) every variable but %h must expand to one safe path
// component: not empty, not "." or "..", no '/' and no NUL, so that a user
// name cannot climb directories or name another user's mailbox.
package uservars

import (
	"fmt"
	"strings"
)

// Scope says which variables a template may use.
type Scope int

const (
	// Address templates are expanded from an address alone: the queries
	// and username_format. %h is refused (no home before the lookup).
	Address Scope = iota
	// Path templates are expanded for a looked-up user: also %h.
	Path
)

// Values are what the variables expand to.
type Values struct {
	User string // the (canonical) address
	Home string // the userdb's home; "" when it returned none
}

// source is the value a variable starts from.
type source int

const (
	srcUser     source = iota // %u, %{user}
	srcUsername               // %n, %{username}
	srcDomain                 // %d, %{domain}
	srcHome                   // %h, %{home}
)

// filter transforms a variable's value.
type filter int

const (
	filterLower filter = iota
	filterUpper
	filterUsername
	filterDomain
)

// Piece is one part of a template: fixed text, or a variable.
type Piece struct {
	Text    string // when !IsVar()
	isVar   bool
	name    string // as written, for messages
	src     source
	filters []filter
}

// IsVar reports whether p is a variable (not literal text).
func (p Piece) IsVar() bool { return p.isVar }

// Name is the variable as written in the template ("%Ln", "%{user|lower}").
func (p Piece) Name() string { return p.name }

// Value returns p's expansion for v.
func (p Piece) Value(v Values) string {
	if !p.isVar {
		return p.Text
	}
	var s string
	switch p.src {
	case srcUser:
		s = v.User
	case srcUsername:
		s, _ = SplitAddress(v.User)
	case srcDomain:
		_, s = SplitAddress(v.User)
	case srcHome:
		s = v.Home
	}
	for _, f := range p.filters {
		switch f {
		case filterLower:
			s = strings.ToLower(s)
		case filterUpper:
			s = strings.ToUpper(s)
		case filterUsername:
			s, _ = SplitAddress(s)
		case filterDomain:
			_, s = SplitAddress(s)
		}
	}
	return s
}

// SplitAddress splits at the last '@' (a quoted local part may hold one);
// without '@' the whole string is the local part and the domain is "", as
// Dovecot's %n and %d do.
func SplitAddress(a string) (local, domain string) {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return a[:i], a[i+1:]
	}
	return a, ""
}

var (
	shortVars = map[byte]source{'u': srcUser, 'n': srcUsername, 'd': srcDomain, 'h': srcHome}
	longVars  = map[string]source{"user": srcUser, "username": srcUsername, "domain": srcDomain, "home": srcHome}
	filters   = map[string]filter{"lower": filterLower, "upper": filterUpper, "username": filterUsername, "domain": filterDomain}
)

const known = "known: %u %n %d %h %{user} %{username} %{domain} %{home}, modifiers %L %U, filters lower upper username domain, %% for %"

// ParseVar reads the %-sequence at s[i] (s[i] == '%'). It returns a text
// piece "%" for %%, or a variable, and the index after it.
func ParseVar(s string, i int, scope Scope) (Piece, int, error) {
	j := i + 1
	if j >= len(s) {
		return Piece{}, 0, fmt.Errorf("lone %% at the end; write %%%% for a literal %%")
	}
	if s[j] == '%' {
		return Piece{Text: "%"}, j + 1, nil
	}
	var mod []filter
	switch s[j] {
	case 'L':
		mod = []filter{filterLower}
		j++
	case 'U':
		mod = []filter{filterUpper}
		j++
	}
	if j >= len(s) {
		return Piece{}, 0, fmt.Errorf("%q is not a variable (%s)", s[i:], known)
	}
	p := Piece{isVar: true}
	if s[j] == '{' {
		end, err := parseLong(&p, s, j)
		if err != nil {
			return Piece{}, 0, err
		}
		p.filters = append(p.filters, mod...)
		p.name = s[i:end]
		return p, end, checkScope(p, scope)
	}
	src, ok := shortVars[s[j]]
	if !ok {
		return Piece{}, 0, unknownShort(s, i, j, mod != nil)
	}
	p.src, p.filters, p.name = src, mod, s[i:j+1]
	return p, j + 1, checkScope(p, scope)
}

// parseLong reads %{name|filter|...} with s[j] == '{' into p.
func parseLong(p *Piece, s string, j int) (int, error) {
	k := strings.IndexByte(s[j:], '}')
	if k < 0 {
		return 0, fmt.Errorf("%%{ without }")
	}
	body := s[j+1 : j+k]
	if strings.ContainsAny(body, "'\"`\n%{") {
		return 0, fmt.Errorf("%%{ without }")
	}
	parts := strings.Split(body, "|")
	name := strings.TrimSpace(parts[0])
	src, ok := longVars[name]
	if !ok {
		if strings.Contains(name, ":") {
			return 0, fmt.Errorf("%%{%s}: Dovecot's %%{name:default} form is not supported (%s)", body, known)
		}
		return 0, fmt.Errorf("unknown variable %%{%s} (%s)", name, known)
	}
	p.src = src
	for _, f := range parts[1:] {
		f = strings.TrimSpace(f)
		fl, ok := filters[f]
		if !ok {
			return 0, fmt.Errorf("unknown filter %q in %%{%s} (%s)", f, body, known)
		}
		p.filters = append(p.filters, fl)
	}
	return j + k + 1, nil
}

// unknownShort explains an unsupported %-sequence.
func unknownShort(s string, i, j int, modified bool) error {
	c := s[j]
	switch {
	case c == 's':
		return fmt.Errorf("%%s is Postfix map syntax; the address is %%u")
	case c >= '0' && c <= '9' || c == '-' || c == '.':
		return fmt.Errorf("%q: Dovecot's %%N.Mx substring form is not supported (%s)", s[i:j+1], known)
	case strings.IndexByte("EHMDRTXN", c) >= 0 && !modified:
		return fmt.Errorf("unknown modifier %%%c in %q (%s)", c, s[i:min(j+2, len(s))], known)
	}
	return fmt.Errorf("unknown variable %q (%s)", s[i:j+1], known)
}

func checkScope(p Piece, scope Scope) error {
	if p.src == srcHome && scope == Address {
		return fmt.Errorf("%s: the home is not known here (only in paths, after the lookup)", p.name)
	}
	for _, f := range p.filters {
		if p.src == srcHome && (f == filterUsername || f == filterDomain) {
			return fmt.Errorf("%s: |username and |domain apply to an address, not to the home", p.name)
		}
	}
	return nil
}

// SyntaxError is a bad %-sequence at Offset (bytes) in a template.
type SyntaxError struct {
	Offset int
	Err    error
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("offset %d: %v", e.Offset, e.Err) }
func (e *SyntaxError) Unwrap() error { return e.Err }

// Template is a compiled template: its pieces, literal text merged.
type Template struct {
	raw    string
	pieces []Piece
}

// Parse compiles s. %% becomes a literal %.
func Parse(s string, scope Scope) (*Template, error) {
	ps, err := Pieces(s, scope)
	if err != nil {
		return nil, err
	}
	return &Template{raw: s, pieces: ps}, nil
}

// MustParse is Parse for templates fixed in the program; it panics on error.
func MustParse(s string, scope Scope) *Template {
	t, err := Parse(s, scope)
	if err != nil {
		panic(err)
	}
	return t
}

// Pieces splits s into literal text and variables; %% becomes a literal
// %. A message names the offset of the bad sequence in s.
func Pieces(s string, scope Scope) ([]Piece, error) {
	var ps []Piece
	var text strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '%' {
			n := strings.IndexByte(s[i:], '%')
			if n < 0 {
				n = len(s) - i
			}
			text.WriteString(s[i : i+n])
			i += n
			continue
		}
		p, end, err := ParseVar(s, i, scope)
		if err != nil {
			return nil, &SyntaxError{Offset: i, Err: err}
		}
		i = end
		if !p.isVar {
			text.WriteString(p.Text)
			continue
		}
		if text.Len() > 0 {
			ps = append(ps, Piece{Text: text.String()})
			text.Reset()
		}
		ps = append(ps, p)
	}
	if text.Len() > 0 || len(ps) == 0 {
		ps = append(ps, Piece{Text: text.String()})
	}
	return ps, nil
}

// String returns the template as written.
func (t *Template) String() string { return t.raw }

// HasVars reports whether the template has any variable.
func (t *Template) HasVars() bool {
	for _, p := range t.pieces {
		if p.isVar {
			return true
		}
	}
	return false
}

// Expand returns the template's value for v.
func (t *Template) Expand(v Values) string {
	var b strings.Builder
	for _, p := range t.pieces {
		b.WriteString(p.Value(v))
	}
	return b.String()
}

// ExpandPath expands a path template: a leading "~" is the home, %h is the
// home, and every other variable must expand to one safe path component.
func (t *Template) ExpandPath(v Values) (string, error) {
	var b strings.Builder
	for k, p := range t.pieces {
		s := p.Value(v)
		switch {
		case !p.isVar:
			if k == 0 && strings.HasPrefix(s, "~") {
				if v.Home == "" {
					return "", fmt.Errorf("%q needs a home (~), and the userdb returned none", t.raw)
				}
				s = v.Home + s[1:]
			}
		case p.src == srcHome:
			if s == "" {
				return "", fmt.Errorf("%q needs a home (%s), and the userdb returned none", t.raw, p.name)
			}
		case s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00"):
			return "", fmt.Errorf("variable %s = %q is not a safe path component", p.name, s)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// ExpandPathOwn is ExpandPath that also returns own: the expanded path up
// to the end of the component that holds the template's last variable (a
// leading "~" counts as %h), "" when the template has none. That is the
// user's own directory in Dovecot's sense (mailbox_list_try_mkdir_root_parent):
// for /var/vmail/%d/%n/Maildir it is /var/vmail/<domain>/<name>, and the
// directories above it are shared with other users.
func (t *Template) ExpandPathOwn(v Values) (path, own string, err error) {
	path, err = t.ExpandPath(v)
	if err != nil {
		return "", "", err
	}
	end := -1 // offset in path just after the last variable's value
	n := 0
	for k, p := range t.pieces {
		s := p.Value(v)
		if !p.isVar && k == 0 && strings.HasPrefix(s, "~") {
			s = v.Home + s[1:]
			end = len(v.Home)
		}
		n += len(s)
		if p.isVar {
			end = n
		}
	}
	if end <= 0 {
		return path, "", nil
	}
	if path[end-1] == '/' { // a home ending in '/': its last component
		return path, strings.TrimRight(path[:end], "/"), nil
	}
	if i := strings.IndexByte(path[end:], '/'); i >= 0 {
		return path, path[:end+i], nil
	}
	return path, path, nil
}
