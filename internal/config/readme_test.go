package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// The README's configuration reference lists every key with its default:
// it must parse, and say exactly what Defaults says (hostname aside, it is
// the machine's).
func TestREADMEReference(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)Every key, with its default:\n\n```toml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no configuration reference block")
	}
	c, err := Parse(m[1], "README.md")
	if err != nil {
		t.Fatal(err)
	}
	d := Defaults()
	c.Hostname = d.Hostname
	if c.Mail.AllowedRoots != nil && len(c.Mail.AllowedRoots) == 0 {
		c.Mail.AllowedRoots = nil
	}
	if !reflect.DeepEqual(c, d) {
		t.Errorf("README reference differs from Defaults():\nREADME   %+v\nDefaults %+v", c, d)
	}
	// A key left out of the block still parses to its zero default: every
	// key must be written there (the man page maildeliver.toml(5) is made
	// from this block, by tools/mkman).
	var written map[string]any
	if _, err := toml.Decode(string(m[1]), &written); err != nil {
		t.Fatal(err)
	}
	for _, key := range keys(reflect.TypeOf(Config{}), "") {
		v := any(written)
		for _, part := range strings.Split(key, ".") {
			table, _ := v.(map[string]any)
			v = table[part]
		}
		if v == nil {
			t.Errorf("README configuration reference lacks %s", key)
		}
	}
}

// keys lists the TOML keys of a configuration struct, "section.key" for
// the keys of a table.
func keys(typ reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			out = append(out, keys(f.Type, prefix+name+".")...)
			continue
		}
		out = append(out, prefix+name)
	}
	return out
}
