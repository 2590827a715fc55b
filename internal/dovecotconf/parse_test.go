package dovecotconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSyntax(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("inc/a.conf", "a = 1\n")
	write("inc/b.conf", "b = 2\n")
	main := write("main.conf", `# comment
  indented = value with  spaces   # trailing comment
quoted = "a # not a comment \"q\" \\ \t end"
single = 'it''s'
continued = first \
  # comment lines inside a continuation are skipped

	second\
third
empty =
block name {
  inner = x
  !include inc/*.conf
  nested {
    deep = y
  }
}
!include_try missing.conf
!include_try inc/none-*.conf
hash=a#b
file = <inc/a.conf
doc = <<END
 raw # kept
END
last = z`)
	top, err := parseFile(main, confSyntax, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var walk func(prefix string, es []*entry)
	walk = func(prefix string, es []*entry) {
		for _, e := range es {
			if e.block {
				walk(prefix+e.key+"["+e.name+"]/", e.sub)
				continue
			}
			got[prefix+e.key] = e.value
		}
	}
	walk("", top)
	want := map[string]string{
		"indented":                  "value with  spaces",
		"quoted":                    "a # not a comment \"q\" \\ \t end",
		"single":                    "it''s",
		"continued":                 "first second third",
		"empty":                     "",
		"block[name]/inner":         "x",
		"block[name]/a":             "1",
		"block[name]/b":             "2",
		"block[name]/nested[]/deep": "y",
		"hash":                      "a",
		"file":                      filepath.Join(dir, "inc/a.conf"),
		"doc":                       " raw # kept\n",
		"last":                      "z",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d settings, want %d: %q", len(got), len(want), got)
	}
	if e := find(top, "continued"); e.line != 5 {
		t.Errorf("continued line %d, want 5 (where it starts)", e.line)
	}
	if e := find(top, "file"); !e.fileRef {
		t.Error("file: <path not marked as a file reference")
	} else if v, err := value(e); err != nil || v != "a = 1\n" {
		t.Errorf("value(file) = %q, %v", v, err)
	}
	// In a dovecot-sql.conf.ext, "<" and "<<" are plain text.
	sql := write("sql.conf", "connect = <notafile\n")
	top, err = parseFile(sql, sqlSyntax, false)
	if err != nil || top[0].value != "<notafile" || top[0].fileRef {
		t.Errorf("sql syntax: %+v, %v", top[0], err)
	}
	if !strings.Contains(unescape(`a\nb`), "\n") {
		t.Error(`unescape \n`)
	}
}

func TestSeconds(t *testing.T) {
	for in, want := range map[string]string{"5": "5", "5s": "5", "30 secs": "30", "1 min": "60", "1500ms": "2", "2h": "7200"} {
		if got, err := seconds(in); err != nil || got != want {
			t.Errorf("seconds(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "5 fortnights", "-1s"} {
		if _, err := seconds(in); err == nil {
			t.Errorf("seconds(%q) accepted", in)
		}
	}
}

func TestFormatKV(t *testing.T) {
	got := formatKV([][2]string{{"host", "/run/postgresql"}, {"password", `it's a \ pass`}, {"sslmode", ""}})
	if want := `host=/run/postgresql password='it\'s a \\ pass' sslmode=''`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
