package config

import (
	"os"
	"reflect"
	"regexp"
	"testing"
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
