package lookup

import (
	"strings"
	"testing"
)

// FuzzCompile checks properties of any query compile accepts: it never
// panics, a query without % passes unchanged, and the rewritten text has
// exactly one placeholder per bind value, outside every literal and
// comment (counted by a separate, simpler scanner), numbered $1..$N in
// PostgreSQL.
func FuzzCompile(f *testing.F) {
	for _, q := range []string{
		`SELECT '/home/'||home AS home, uid, gid FROM users WHERE userid = '%u'`,
		`SELECT email as user, password FROM users WHERE email='%u';`,
		`SELECT name FROM emails WHERE name='%u'`,
		`SELECT userid FROM postfix_virtual WHERE address = '%n@%d'`,
		"SELECT E'a\\'%u', $q$%d$q$ /* it's */ -- x'\n, \"a\"\"b\", `c` FROM t WHERE x = %{user|lower}",
		`SELECT 'it''s %%' || 'x\' FROM t WHERE a='%Lu'AND b=%Ud`,
		`SELECT /*!50000 '%u' */ "%n" # '`,
	} {
		for d := range 3 {
			f.Add(q, uint8(d), "bob+x@example.org")
		}
	}
	f.Fuzz(func(t *testing.T, query string, dd uint8, address string) {
		d := dialect(dd % 3)
		c, err := compile(query, d)
		if err != nil {
			return
		}
		if !strings.Contains(query, "%") {
			if want := strings.TrimRight(query, " \t\r\n;"); c.text != want || len(c.params) != 0 {
				t.Fatalf("query without variables changed:\n in %q\nout %q (%d params)", query, c.text, len(c.params))
			}
		}
		if n := countPlaceholders(t, c.text, d); n != len(c.params) {
			t.Fatalf("%q -> %q: %d placeholders for %d params", query, c.text, n, len(c.params))
		}
		if a := c.args(address); len(a) != len(c.params) {
			t.Fatalf("%d args for %d params", len(a), len(c.params))
		}
	})
}

// countPlaceholders counts bind placeholders in compiled SQL, skipping
// literals, quoted names and comments. It fails t when PostgreSQL's are not
// $1, $2, ... in order.
func countPlaceholders(t *testing.T, s string, d dialect) int {
	n := 0
	skipTo := func(i int, end string) int {
		k := strings.Index(s[i:], end)
		if k < 0 {
			return len(s)
		}
		return i + k + len(end)
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'' || (c == '"' && d == dialectMySQL):
			esc := d == dialectMySQL || (d == dialectPostgres && i > 0 && (s[i-1] == 'E' || s[i-1] == 'e') && (i == 1 || !isIdent(s[i-2])))
			j := i + 1
			for j < len(s) {
				if esc && s[j] == '\\' {
					j += 2
					continue
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			i = j + 1
		case c == '"' || c == '`':
			i = skipTo(i+1, string(c))
		case c == '[' && d == dialectSQLite:
			i = skipTo(i+1, "]")
		case strings.HasPrefix(s[i:], "--") && (d != dialectMySQL || i+2 >= len(s) || s[i+2] <= ' '),
			c == '#' && d == dialectMySQL:
			i = skipTo(i, "\n")
		case strings.HasPrefix(s[i:], "/*!") && d == dialectMySQL:
			i += 3
		case strings.HasPrefix(s[i:], "/*M!") && d == dialectMySQL, strings.HasPrefix(s[i:], "/*+") && d == dialectMySQL:
			i += 2
		case strings.HasPrefix(s[i:], "/*"):
			depth := 0
			for i < len(s) {
				if strings.HasPrefix(s[i:], "/*") && (d == dialectPostgres || depth == 0) {
					depth++
					i += 2
				} else if strings.HasPrefix(s[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
		case c == '$' && d == dialectPostgres && (i == 0 || !isIdent(s[i-1])):
			// (the compiled text has a space after each placeholder
			// that an identifier character follows)
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j > i+1 {
				n++
				if got, want := s[i+1:j], itoa(n); got != want {
					t.Fatalf("%q: placeholder $%s where $%s was due", s, got, want)
				}
				i = j
				continue
			}
			k := j
			for k < len(s) && s[k] != '$' && isIdent(s[k]) {
				k++
			}
			if k < len(s) && s[k] == '$' && !(k > i+1 && isDigit(s[i+1])) {
				i = skipTo(k+1, s[i:k+1])
				continue
			}
			i++
		case c == '?' && d != dialectPostgres:
			n++
			i++
		default:
			i++
		}
	}
	return n
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// FuzzLiteral checks the value bound for one literal against a reference:
// Dovecot expanding %u %n %d %% in the raw text and the database then
// reading the literal. The literal is written in each dialect's quoting.
func FuzzLiteral(f *testing.F) {
	for _, c := range []string{"%u", "%n@%d", "it's %u", `a\b%%c%d`, "100%%", "%", "%x", `\%u`, "%u''%d"} {
		for style := range 5 {
			f.Add(c, uint8(style), "O'Brien+x@Example.org")
		}
	}
	f.Fuzz(func(t *testing.T, content string, style uint8, address string) {
		want, ok, known := referenceExpand(content, address)
		if !known {
			return
		}
		var (
			d      dialect
			quoted string
		)
		sq := strings.ReplaceAll(content, "'", "''")
		switch style % 5 {
		case 0:
			d, quoted = dialectPostgres, "'"+sq+"'"
		case 1:
			d, quoted = dialectSQLite, "'"+sq+"'"
		case 2:
			d, quoted = dialectPostgres, "E'"+strings.ReplaceAll(sq, `\`, `\\`)+"'"
		case 3:
			d, quoted = dialectMySQL, "'"+strings.ReplaceAll(sq, `\`, `\\`)+"'"
		case 4:
			d, quoted = dialectMySQL, `"`+strings.ReplaceAll(strings.ReplaceAll(content, `\`, `\\`), `"`, `""`)+`"`
		}
		q := "SELECT " + quoted + " AS home"
		c, err := compile(q, d)
		if !ok {
			if err == nil {
				t.Fatalf("%q: accepted %q, Dovecot would reject it", q, c.text)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		if !strings.Contains(strings.ReplaceAll(content, "%%", ""), "%") {
			// No variable: the literal stays, with %% as %.
			collapsed := strings.ReplaceAll(quoted, "%%", "%")
			if c.text != "SELECT "+collapsed+" AS home" || len(c.params) != 0 {
				t.Fatalf("%q -> %q, want the literal kept", q, c.text)
			}
			return
		}
		if len(c.params) != 1 || !strings.HasPrefix(c.text, "SELECT ") || strings.ContainsAny(c.text, "'\"") {
			t.Fatalf("%q -> %q: want one placeholder", q, c.text)
		}
		if got := c.args(address)[0]; got != want {
			t.Fatalf("%q with %q: bound %q, want %q", q, address, got, want)
		}
	})
}

// referenceExpand is Dovecot's expansion for the short variables: known is
// false when content uses anything else (checked by TestCompile instead),
// ok is false when Dovecot would reject it.
func referenceExpand(content, address string) (out string, ok, known bool) {
	local, domain := splitAddress(address)
	var b strings.Builder
	for i := 0; i < len(content); i++ {
		if content[i] != '%' {
			b.WriteByte(content[i])
			continue
		}
		if i+1 >= len(content) {
			return "", false, true
		}
		i++
		switch content[i] {
		case '%':
			b.WriteByte('%')
		case 'u':
			b.WriteString(address)
		case 'n':
			b.WriteString(local)
		case 'd':
			b.WriteString(domain)
		case 'L', 'U', '{':
			return "", false, false
		default:
			return "", false, true
		}
	}
	return b.String(), true, true
}
