package lookup

import (
	"fmt"
	"strings"
)

// source is the value a variable starts from.
type source int

const (
	srcUser     source = iota // %u, %{user}: the whole address
	srcUsername               // %n, %{username}: the local part
	srcDomain                 // %d, %{domain}: the domain
)

// filter transforms a variable's value, left to right.
type filter int

const (
	filterLower    filter = iota // %L modifier, |lower
	filterUpper                  // %U modifier, |upper
	filterUsername               // |username: local part of the value
	filterDomain                 // |domain: domain of the value
)

// piece is one part of a bind value: fixed text, or a variable.
type piece struct {
	text    string // when !isVar
	isVar   bool
	src     source
	filters []filter
}

func (p piece) value(address string) string {
	if !p.isVar {
		return p.text
	}
	v := address
	switch p.src {
	case srcUsername:
		v, _ = splitAddress(address)
	case srcDomain:
		_, v = splitAddress(address)
	}
	for _, f := range p.filters {
		switch f {
		case filterLower:
			v = strings.ToLower(v)
		case filterUpper:
			v = strings.ToUpper(v)
		case filterUsername:
			v, _ = splitAddress(v)
		case filterDomain:
			_, v = splitAddress(v)
		}
	}
	return v
}

// splitAddress splits at the last '@' (a quoted local part may hold one);
// without '@' the whole string is the local part and the domain is "".
func splitAddress(a string) (local, domain string) {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return a[:i], a[i+1:]
	}
	return a, ""
}

var (
	sources = map[string]source{"user": srcUser, "username": srcUsername, "domain": srcDomain}
	filters = map[string]filter{"lower": filterLower, "upper": filterUpper, "username": filterUsername, "domain": filterDomain}
)

// parseVar reads the %-sequence at s[i]. It returns a text piece "%" for
// %%, or a variable, and the index after it. off is added to positions in
// messages.
func parseVar(s string, i, off int) (piece, int, error) {
	pos := i + off
	j := i + 1
	if j >= len(s) {
		return piece{}, 0, fmt.Errorf("offset %d: lone %% at the end; write %%%% for a literal %%", pos)
	}
	if s[j] == '%' {
		return piece{text: "%"}, j + 1, nil
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
		return piece{}, 0, fmt.Errorf("offset %d: %q is not a variable", pos, s[i:])
	}
	p := piece{isVar: true}
	switch s[j] {
	case 'u':
		p.src = srcUser
	case 'n':
		p.src = srcUsername
	case 'd':
		p.src = srcDomain
	case '{':
		k := strings.IndexByte(s[j:], '}')
		if k < 0 {
			return piece{}, 0, fmt.Errorf("offset %d: %%{ without }", pos)
		}
		body := s[j+1 : j+k]
		if strings.ContainsAny(body, "'\"`\n%{") {
			return piece{}, 0, fmt.Errorf("offset %d: %%{ without }", pos)
		}
		parts := strings.Split(body, "|")
		src, ok := sources[strings.TrimSpace(parts[0])]
		if !ok {
			return piece{}, 0, fmt.Errorf("offset %d: unknown variable %%{%s}; known: user, username, domain", pos, body)
		}
		p.src = src
		for _, f := range parts[1:] {
			fl, ok := filters[strings.TrimSpace(f)]
			if !ok {
				return piece{}, 0, fmt.Errorf("offset %d: unknown filter %q in %%{%s}; known: lower, upper, username, domain", pos, strings.TrimSpace(f), body)
			}
			p.filters = append(p.filters, fl)
		}
		p.filters = append(p.filters, mod...)
		return p, j + k + 1, nil
	case 's':
		return piece{}, 0, fmt.Errorf("offset %d: %%s is Postfix map syntax; in user_query the address is %%u", pos)
	default:
		return piece{}, 0, fmt.Errorf("offset %d: unknown variable %q (known: %%u %%n %%d %%{user} %%{username} %%{domain}; write %%%% for a literal %%)", pos, s[i:j+1])
	}
	p.filters = mod
	return p, j + 1, nil
}

// parseTemplate splits literal content into text and variables. %% becomes
// a literal %; text pieces stay raw (still escaped) so that the caller can
// copy a literal without variables unchanged. off is the content's offset
// in the query, for messages.
func parseTemplate(raw string, off int) ([]piece, error) {
	var ps []piece
	var text strings.Builder
	for i := 0; i < len(raw); {
		if raw[i] != '%' {
			n := strings.IndexByte(raw[i:], '%')
			if n < 0 {
				n = len(raw) - i
			}
			text.WriteString(raw[i : i+n])
			i += n
			continue
		}
		p, end, err := parseVar(raw, i, off)
		if err != nil {
			return nil, err
		}
		i = end
		if !p.isVar {
			text.WriteString(p.text)
			continue
		}
		if text.Len() > 0 {
			ps = append(ps, piece{text: text.String()})
			text.Reset()
		}
		ps = append(ps, p)
	}
	if text.Len() > 0 || len(ps) == 0 {
		ps = append(ps, piece{text: text.String()})
	}
	return ps, nil
}
