package config

import (
	"os"
	"reflect"
	"regexp"
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
}

// Every key of the configuration is in the README's reference block (a key
// added without documenting it fails here).
func TestREADMEHasEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)Every key, with its default:\n\n```toml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no configuration reference block")
	}
	var doc map[string]any
	if _, err := toml.Decode(string(m[1]), &doc); err != nil {
		t.Fatal(err)
	}
	var all map[string]any
	if _, err := toml.Decode(Defaults().Effective(), &all); err != nil {
		t.Fatal(err)
	}
	for section, v := range all {
		sub, ok := v.(map[string]any)
		if !ok {
			if _, ok := doc[section]; !ok {
				t.Errorf("README reference lacks %s", section)
			}
			continue
		}
		docSub, _ := doc[section].(map[string]any)
		for key := range sub {
			if _, ok := docSub[key]; !ok {
				t.Errorf("README reference lacks [%s] %s", section, key)
			}
		}
	}
}
