package lookup

import (
	"fmt"
	"strconv"
	"strings"

	"maildeliver/internal/uservars"
)

// dialect is the SQL flavour of a driver: how string literals are quoted
// and escaped, and how a bind parameter is written.
type dialect int

const (
	dialectPostgres dialect = iota // $1..$N; '...' with '' only, E'...' with backslashes, $tag$...$tag$
	dialectMySQL                   // ?; '...' and "..." with '' / "" and backslashes
	dialectSQLite                  // ?; '...' with '' only
)

// compiled is a query rewritten once, at Open, so that every variable is a
// bind parameter: the SQL text never depends on the address.
type compiled struct {
	text   string
	params []param
}

// param is one bind value: its pieces concatenated.
type param []uservars.Piece

// args returns the bind values for address, in placeholder order.
func (c *compiled) args(address string) []any {
	a := make([]any, len(c.params))
	for i, p := range c.params {
		var b strings.Builder
		for _, pc := range p {
			b.WriteString(pc.Value(uservars.Values{User: address}))
		}
		a[i] = b.String()
	}
	return a
}

// compile rewrites a Dovecot-style query for dialect d. A quoted string
// literal holding a variable becomes one placeholder whose value is the
// literal's unescaped content with the variables expanded; a bare variable
// becomes a placeholder too. Literals without variables are kept as they
// are (only %% becomes %, as Dovecot's expansion would do). Anything this
// scanner cannot rewrite with certainty is an error, never a guess that
// could end up splicing text into SQL.
func compile(query string, d dialect) (*compiled, error) {
	// Dovecot configs often end queries with ';' (seed 002); a prepared
	// statement must be a single statement without it.
	s := strings.TrimRight(query, " \t\r\n;")
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty query")
	}
	c := &compiled{}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		ch := s[i]
		switch {
		case ch == '\'' || (ch == '"' && d == dialectMySQL):
			var err error
			out, i, err = c.literal(out, s, i, d)
			if err != nil {
				return nil, err
			}
		case ch == '"' || ch == '`' || (ch == '[' && d == dialectSQLite):
			end, err := quotedIdent(s, i)
			if err != nil {
				return nil, err
			}
			out = append(out, s[i:end]...)
			i = end
		case ch == '-' && strings.HasPrefix(s[i:], "--") && (d != dialectMySQL || mysqlDashComment(s, i)),
			ch == '#' && d == dialectMySQL:
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				end = len(s) - i
			}
			out = append(out, s[i:i+end]...)
			i += end
		case ch == '/' && strings.HasPrefix(s[i:], "/*"):
			if d == dialectMySQL && (strings.HasPrefix(s[i:], "/*!") || strings.HasPrefix(s[i:], "/*M!") || strings.HasPrefix(s[i:], "/*+")) {
				// MySQL executes the content of these comments; scan
				// it as SQL so no variable hides in it unbound.
				out = append(out, "/*"...)
				i += 2
				continue
			}
			end, err := blockComment(s, i, d == dialectPostgres)
			if err != nil {
				return nil, err
			}
			out = append(out, s[i:end]...)
			i = end
		case ch == '$' && d == dialectPostgres && !identAtEnd(out):
			if i+1 < len(s) && isDigit(s[i+1]) {
				return nil, fmt.Errorf("offset %d: the query must not contain placeholders like $1; write '%%u'", i)
			}
			if tag, ok := dollarTag(s, i); ok {
				var err error
				out, i, err = c.dollarLiteral(out, s, i, tag)
				if err != nil {
					return nil, err
				}
				continue
			}
			out = append(out, ch)
			i++
		case ch == '?' && d != dialectPostgres:
			return nil, fmt.Errorf("offset %d: the query must not contain ? placeholders; write '%%u'", i)
		case d == dialectSQLite && (ch == ':' || ch == '@' || ch == '$') && !identAtEnd(out) && i+1 < len(s) && isIdentStart(s[i+1]):
			return nil, fmt.Errorf("offset %d: the query must not contain named parameters like %c%c", i, ch, s[i+1])
		case ch == '%':
			p, end, err := parseVar(s, i)
			if err != nil {
				return nil, err
			}
			if !p.IsVar() {
				out = append(out, p.Text...)
				i = end
				continue
			}
			if identBefore(s, i) || (end < len(s) && isIdent(s[end])) {
				return nil, fmt.Errorf("offset %d: variable %s touches a name: a variable is a value, it cannot be part of an identifier", i, s[i:end])
			}
			out = c.placeholder(out, param{p}, d)
			i = end
		default:
			out = append(out, ch)
			i++
		}
	}
	c.text = string(out)
	return c, nil
}

// placeholder appends the next bind parameter. Spaces keep it from fusing
// with a neighbouring name: in PostgreSQL "x$1" is an identifier.
func (c *compiled) placeholder(out []byte, p param, d dialect) []byte {
	if identAtEnd(out) {
		out = append(out, ' ')
	}
	c.params = append(c.params, p)
	if d == dialectPostgres {
		out = append(out, '$')
		out = strconv.AppendInt(out, int64(len(c.params)), 10)
	} else {
		out = append(out, '?')
	}
	return out
}

// closePlaceholder adds a space when the SQL after the placeholder would
// otherwise fuse with it ("$1AND").
func closePlaceholder(out []byte, s string, end int) []byte {
	if end < len(s) && isIdent(s[end]) {
		out = append(out, ' ')
	}
	return out
}

// literal handles the quoted string starting at s[i].
func (c *compiled) literal(out []byte, s string, i int, d dialect) ([]byte, int, error) {
	quote := s[i]
	// The prefix is read from what was written, not from the source: in
	// %n'...' the n belongs to a variable already turned into a placeholder.
	prefix := identRunBefore(out)
	if prefix != "" && isDigit(prefix[0]) {
		// "0E'..'" is a number and an E'' string to PostgreSQL 14, an
		// error to 15: too ambiguous to rewrite.
		return nil, 0, fmt.Errorf("offset %d: string literal right after a number", i)
	}
	style := escDoubled
	switch {
	case d == dialectMySQL:
		style = escMySQL
	case d == dialectPostgres && (prefix == "E" || prefix == "e"):
		style = escPostgresE
	}
	end, err := literalEnd(s, i, quote, style != escDoubled)
	if err != nil {
		return nil, 0, err
	}
	raw := s[i+1 : end-1]
	pieces, err := parseTemplate(raw, i+1)
	if err != nil {
		return nil, 0, err
	}
	if !hasVar(pieces) {
		out = append(out, quote)
		for _, p := range pieces {
			out = append(out, p.Text...)
		}
		return append(out, quote), end, nil
	}
	switch prefix {
	case "", "E", "e", "N", "n":
	default:
		return nil, 0, fmt.Errorf("offset %d: variable inside a %s'...' literal; use a plain '...' literal", i, prefix)
	}
	for k := range pieces {
		if pieces[k].IsVar() {
			continue
		}
		t, err := unescape(pieces[k].Text, quote, style)
		if err != nil {
			return nil, 0, fmt.Errorf("offset %d: %w", i, err)
		}
		pieces[k].Text = t
	}
	out = out[:len(out)-len(prefix)] // the prefix was copied as plain SQL
	out = c.placeholder(out, pieces, d)
	return closePlaceholder(out, s, end), end, nil
}

// dollarLiteral handles a PostgreSQL $tag$...$tag$ string at s[i]; its
// content has no escapes.
func (c *compiled) dollarLiteral(out []byte, s string, i int, tag string) ([]byte, int, error) {
	start := i + len(tag)
	n := strings.Index(s[start:], tag)
	if n < 0 {
		return nil, 0, fmt.Errorf("offset %d: unterminated %s string", i, tag)
	}
	end := start + n + len(tag)
	pieces, err := parseTemplate(s[start:start+n], start)
	if err != nil {
		return nil, 0, err
	}
	if !hasVar(pieces) {
		out = append(out, tag...)
		for _, p := range pieces {
			out = append(out, p.Text...)
		}
		return append(out, tag...), end, nil
	}
	out = c.placeholder(out, pieces, dialectPostgres)
	return closePlaceholder(out, s, end), end, nil
}

// literalEnd returns the index just after the closing quote of the literal
// opened at s[i]. A doubled quote is part of the content; with backslash,
// a backslash escapes the next byte.
func literalEnd(s string, i int, quote byte, backslash bool) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if backslash {
				j++
			}
		case quote:
			if j+1 < len(s) && s[j+1] == quote {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("offset %d: unterminated %c...%c string", i, quote, quote)
}

// quotedIdent returns the index after the quoted identifier at s[i].
func quotedIdent(s string, i int) (int, error) {
	closer := s[i]
	if closer == '[' {
		closer = ']'
	}
	for j := i + 1; j < len(s); j++ {
		if s[j] != closer {
			continue
		}
		if closer != ']' && j+1 < len(s) && s[j+1] == closer {
			j++
			continue
		}
		if strings.IndexByte(s[i:j], '%') >= 0 {
			return 0, fmt.Errorf("offset %d: %% inside a quoted name; variables are values, not names", i)
		}
		return j + 1, nil
	}
	return 0, fmt.Errorf("offset %d: unterminated quoted name", i)
}

// blockComment returns the index after the /* */ comment at s[i].
// PostgreSQL nests them; MySQL and SQLite do not.
func blockComment(s string, i int, nested bool) (int, error) {
	depth := 0
	for j := i; j+1 < len(s); j++ {
		switch {
		case s[j] == '/' && s[j+1] == '*' && (nested || depth == 0):
			depth++
			j++
		case s[j] == '*' && s[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("offset %d: unterminated /* comment", i)
}

// dollarTag reports whether s[i] opens a PostgreSQL dollar-quoted string
// ($$ or $tag$) and returns the tag with both dollars.
func dollarTag(s string, i int) (string, bool) {
	j := i + 1
	for j < len(s) && s[j] != '$' {
		if !isIdent(s[j]) || s[j] == '$' || (j == i+1 && isDigit(s[j])) {
			return "", false
		}
		j++
	}
	if j >= len(s) {
		return "", false
	}
	return s[i : j+1], true
}

// escape styles for literal content.
type escStyle int

const (
	escDoubled   escStyle = iota // only a doubled quote
	escMySQL                     // doubled quote and MySQL backslash escapes
	escPostgresE                 // doubled quote and PostgreSQL E'' backslash escapes
)

// unescape turns raw literal text (between variables) into its value.
func unescape(raw string, quote byte, style escStyle) (string, error) {
	var b strings.Builder
	for j := 0; j < len(raw); j++ {
		ch := raw[j]
		if ch == quote && j+1 < len(raw) && raw[j+1] == quote {
			b.WriteByte(quote)
			j++
			continue
		}
		if ch != '\\' || style == escDoubled {
			b.WriteByte(ch)
			continue
		}
		if j+1 >= len(raw) {
			return "", fmt.Errorf("backslash right before a variable")
		}
		j++
		e := raw[j]
		if style == escMySQL {
			switch e {
			case '0':
				b.WriteByte(0)
			case 'b':
				b.WriteByte('\b')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'Z':
				b.WriteByte(0x1a)
			case '%', '_': // MySQL keeps the backslash for LIKE
				b.WriteByte('\\')
				b.WriteByte(e)
			default:
				b.WriteByte(e)
			}
			continue
		}
		switch e {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'x', 'u', 'U', '0', '1', '2', '3', '4', '5', '6', '7':
			return "", fmt.Errorf("numeric escape \\%c in an E'' literal holding a variable is not supported", e)
		default:
			b.WriteByte(e)
		}
	}
	return b.String(), nil
}

// mysqlDashComment: MySQL takes "--" as a comment only when a space or
// control character (or the end) follows; "1--1" is arithmetic.
func mysqlDashComment(s string, i int) bool {
	return i+2 >= len(s) || s[i+2] <= ' '
}

func hasVar(ps []uservars.Piece) bool {
	for _, p := range ps {
		if p.IsVar() {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c >= 0x80 || (c|0x20 >= 'a' && c|0x20 <= 'z') }

// isIdent reports whether c can continue an SQL name ($ can, in PostgreSQL
// and MySQL).
func isIdent(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }

// identBefore looks at the source: stricter for a bare variable, whose
// neighbour in the source may be another variable.
func identBefore(s string, i int) bool { return i > 0 && isIdent(s[i-1]) }

// identAtEnd looks at what was written: the lexer's view of what precedes.
func identAtEnd(out []byte) bool { return len(out) > 0 && isIdent(out[len(out)-1]) }

// identRunBefore returns the name-like run at the end of out, such as the
// E of E'...' or the U& of U&'...'.
func identRunBefore(out []byte) string {
	j := len(out)
	for j > 0 && (isIdent(out[j-1]) || out[j-1] == '&') {
		j--
	}
	return string(out[j:])
}
