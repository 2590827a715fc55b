package lookup

import (
	"reflect"
	"strings"
	"testing"
)

const addr = "Bob+x@Example.org"

func TestCompile(t *testing.T) {
	pg, my, lite := dialectPostgres, dialectMySQL, dialectSQLite
	for _, tc := range []struct {
		name  string
		d     dialect
		query string
		text  string
		args  []string // for addr
	}{
		{"seed 000 user_query", pg,
			`SELECT '/home/'||home AS home, uid, gid FROM users WHERE userid = '%u'`,
			`SELECT '/home/'||home AS home, uid, gid FROM users WHERE userid = $1`,
			[]string{addr}},
		{"seed 000 on sqlite", lite,
			`SELECT '/home/'||home AS home, uid, gid FROM users WHERE userid = '%u'`,
			`SELECT '/home/'||home AS home, uid, gid FROM users WHERE userid = ?`,
			[]string{addr}},
		{"seed 002 trailing semicolon", my,
			"SELECT email as user, password FROM users WHERE email='%u';\n",
			`SELECT email as user, password FROM users WHERE email=?`,
			[]string{addr}},
		{"mixed literal", pg, `SELECT 1 FROM u WHERE a = '%n@%d'`, `SELECT 1 FROM u WHERE a = $1`, []string{addr}},
		{"numbering", pg, `SELECT 1 FROM u WHERE n = '%n' AND d = '%d' OR x = %u`,
			`SELECT 1 FROM u WHERE n = $1 AND d = $2 OR x = $3`, []string{"Bob+x", "Example.org", addr}},
		{"bare", my, `SELECT 1 FROM u WHERE a = %u AND b=%d`, `SELECT 1 FROM u WHERE a = ? AND b=?`, []string{addr, "Example.org"}},
		{"long names", lite, `SELECT '%{user}','%{username}','%{domain}','%{user|username}','%{user | domain}'`,
			`SELECT ?,?,?,?,?`, []string{addr, "Bob+x", "Example.org", "Bob+x", "Example.org"}},
		{"case", pg, `SELECT '%Lu', '%Ln', '%Ld', '%Uu', '%{user|lower}', '%{domain|upper}', '%L{user}'`,
			`SELECT $1, $2, $3, $4, $5, $6, $7`,
			[]string{"bob+x@example.org", "bob+x", "example.org", "BOB+X@EXAMPLE.ORG", "bob+x@example.org", "EXAMPLE.ORG", "bob+x@example.org"}},
		{"literal percent outside", pg, `SELECT uid %% 2 FROM u WHERE a='%u'`, `SELECT uid % 2 FROM u WHERE a=$1`, []string{addr}},
		{"literal percent inside", my, `SELECT 1 FROM u WHERE a LIKE '100%%' AND b='%%%u%%'`,
			`SELECT 1 FROM u WHERE a LIKE '100%' AND b=?`, []string{"%" + addr + "%"}},
		{"doubled quote", pg, `SELECT 'it''s %n'`, `SELECT $1`, []string{"it's Bob+x"}},
		{"untouched literal", pg, `SELECT 'it''s' || home FROM u`, `SELECT 'it''s' || home FROM u`, nil},
		{"mysql backslashes", my, `SELECT 'a\\b\'c\n%u'`, `SELECT ?`, []string{"a\\b'c\n" + addr}},
		{"mysql keeps \\% for LIKE", my, `SELECT 'a\%%b%u'`, `SELECT ?`, []string{`a\%b` + addr}},
		{"mysql double quotes", my, `SELECT "x""y'%u"`, `SELECT ?`, []string{`x"y'` + addr}},
		{"pg backslash is plain", pg, `SELECT 'a\b%u'`, `SELECT $1`, []string{`a\b` + addr}},
		{"pg E string", pg, `SELECT E'a\\b\'c\t%u'`, `SELECT $1`, []string{"a\\b'c\t" + addr}},
		{"pg E string untouched", pg, `SELECT E'a\'b'`, `SELECT E'a\'b'`, nil},
		{"pg dollar", pg, `SELECT $$it's %n$$, $q$%d$q$`, `SELECT $1, $2`, []string{"it's Bob+x", "Example.org"}},
		{"pg dollar untouched", pg, `SELECT $$a'b$$`, `SELECT $$a'b$$`, nil},
		{"pg dollar in name", pg, `SELECT a$b FROM t WHERE x='%u'`, `SELECT a$b FROM t WHERE x=$1`, []string{addr}},
		{"national", my, `SELECT N'%u'`, `SELECT ?`, []string{addr}},
		{"comment with quote", pg, "-- don't '%u\nSELECT 1 WHERE a='%u'", "-- don't '%u\nSELECT 1 WHERE a=$1", []string{addr}},
		{"block comment", lite, "SELECT /* it's '%u */ 1 WHERE a='%u'", "SELECT /* it's '%u */ 1 WHERE a=?", []string{addr}},
		{"pg nested comment", pg, "SELECT /* a /* b' */ c' */ 1 WHERE a='%u'", "SELECT /* a /* b' */ c' */ 1 WHERE a=$1", []string{addr}},
		{"mysql -- needs a space", my, "SELECT 1--'%u'", "SELECT 1--?", []string{addr}},
		{"mysql -- comment", my, "SELECT 1 -- it's\nWHERE a='%u'", "SELECT 1 -- it's\nWHERE a=?", []string{addr}},
		{"mysql hash comment", my, "SELECT 1 # it's\nWHERE a='%u'", "SELECT 1 # it's\nWHERE a=?", []string{addr}},
		{"mysql executable comment", my, "SELECT /*!50000 '%u' */", "SELECT /*!50000 ? */", []string{addr}},
		{"quoted identifiers", pg, `SELECT "it's" FROM "t""x" WHERE a='%u'`, `SELECT "it's" FROM "t""x" WHERE a=$1`, []string{addr}},
		{"backticks", my, "SELECT `it's` FROM t WHERE a='%u'", "SELECT `it's` FROM t WHERE a=?", []string{addr}},
		{"sqlite brackets", lite, "SELECT [it's] FROM t WHERE a='%u'", "SELECT [it's] FROM t WHERE a=?", []string{addr}},
		{"no fusing", pg, `SELECT 1 WHERE a='%u'AND b=1`, `SELECT 1 WHERE a=$1 AND b=1`, []string{addr}},
		{"utf-8 kept", pg, `SELECT 'jörg' WHERE a='%u·'`, `SELECT 'jörg' WHERE a=$1`, []string{addr + "·"}},
		{"no variables", my, `SELECT home FROM users`, `SELECT home FROM users`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := compile(tc.query, tc.d)
			if err != nil {
				t.Fatalf("compile(%q): %v", tc.query, err)
			}
			if c.text != tc.text {
				t.Errorf("text\n got %q\nwant %q", c.text, tc.text)
			}
			var got []string
			for _, a := range c.args(addr) {
				got = append(got, a.(string))
			}
			if !reflect.DeepEqual(got, tc.args) {
				t.Errorf("args\n got %q\nwant %q", got, tc.args)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	pg, my, lite := dialectPostgres, dialectMySQL, dialectSQLite
	for _, tc := range []struct {
		d     dialect
		query string
		want  string // in the message
	}{
		{pg, `SELECT 1 WHERE a = '%x'`, "unknown variable"},
		{pg, `SELECT 1 WHERE a LIKE 'abc%'`, "lone %"},
		{pg, `SELECT 1 WHERE a LIKE 'a%b'`, "unknown variable"},
		{pg, `SELECT 1 WHERE TRUE AND'%u'=a`, "literal"}, // AND' looks like a prefix
		{my, `SELECT 1 WHERE a = '%s'`, "Postfix"},
		{pg, `SELECT uid % 2`, "unknown variable"},
		{pg, `SELECT 1 WHERE a = %`, "lone %"},
		{pg, `SELECT 1 WHERE a = '%L'`, "not a variable"},
		{pg, `SELECT 1 WHERE a = '%{foo}'`, "unknown variable"},
		{pg, `SELECT 1 WHERE a = '%{user|bogus}'`, "unknown filter"},
		{pg, `SELECT 1 WHERE a = '%{user'`, "without }"},
		{pg, `SELECT 1 WHERE a = %{user' OR '}'`, "without }"},
		{pg, `SELECT 1 WHERE a = '%u`, "unterminated"},
		{my, `SELECT 1 WHERE a = 'x\'`, "unterminated"},
		{pg, `SELECT 1 WHERE a = $1`, "placeholders"},
		{my, `SELECT 1 WHERE a = ?`, "placeholders"},
		{lite, `SELECT 1 WHERE a = ?`, "placeholders"},
		{lite, `SELECT 1 WHERE a = :name`, "named parameters"},
		{pg, `SELECT 1 FROM users_%d`, "touches a name"},
		{pg, `SELECT 1 FROM t WHERE a=%ux`, "touches a name"},
		{pg, `SELECT "col%u" FROM t`, "quoted name"},
		{my, "SELECT `col%u` FROM t", "quoted name"},
		{pg, `SELECT U&'%u'`, "literal"},
		{pg, `SELECT B'%u'`, "literal"},
		{my, `SELECT _utf8mb4'%u'`, "literal"},
		{my, `SELECT 'a\%u'`, "backslash"},
		{pg, `SELECT E'\x41%u'`, "numeric escape"},
		{pg, `SELECT $$%u`, "unterminated"},
		{pg, `SELECT /* x '%u'`, "unterminated"},
		{pg, `SELECT "x`, "unterminated"},
		{pg, `SELECT 0E'\'%u`, "after a number"},
		{pg, "  ;\n", "empty"},
		{pg, "", "empty"},
	} {
		c, err := compile(tc.query, tc.d)
		if err == nil {
			t.Errorf("compile(%q) = %q, want an error with %q", tc.query, c.text, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compile(%q): %v, want %q in it", tc.query, err, tc.want)
		}
	}
}

func TestVariableValues(t *testing.T) {
	for _, tc := range []struct {
		address, u, n, d string
	}{
		{"bob@example.org", "bob@example.org", "bob", "example.org"},
		{"nodomain", "nodomain", "nodomain", ""},
		{`"a@b"@c`, `"a@b"@c`, `"a@b"`, "c"},
		{"", "", "", ""},
		{"@x", "@x", "", "x"},
	} {
		c, err := compile(`SELECT '%u', '%n', '%d', '%{user|username}', '%{user|domain}'`, dialectSQLite)
		if err != nil {
			t.Fatal(err)
		}
		a := c.args(tc.address)
		want := []any{tc.u, tc.n, tc.d, tc.n, tc.d}
		if !reflect.DeepEqual(a, want) {
			t.Errorf("%q: got %q, want %q", tc.address, a, want)
		}
	}
}

func TestSplitDetail(t *testing.T) {
	for _, tc := range []struct {
		address, delim, base, detail string
	}{
		{"bob+x@ex.org", "+", "bob@ex.org", "x"},
		{"bob+x+y@ex.org", "+", "bob@ex.org", "x+y"},
		{"bob-x+y@ex.org", "+-", "bob@ex.org", "x+y"},
		{"bob+x@ex.org", "", "", ""},
		{"bob@ex.org", "+", "", ""},
		{"+x@ex.org", "+", "", ""},
		{"bob+@ex.org", "+", "bob@ex.org", ""},
		{"bob+x", "+", "bob", "x"},
		{"bob@ex+y.org", "+", "", ""},
	} {
		base, detail := splitDetail(tc.address, tc.delim)
		if base != tc.base || detail != tc.detail {
			t.Errorf("splitDetail(%q, %q) = %q, %q; want %q, %q", tc.address, tc.delim, base, detail, tc.base, tc.detail)
		}
	}
}
