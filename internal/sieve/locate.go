package sieve

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"maildeliver/internal/uservars"
)

// Locations are the [sieve] path templates (uservars' variables, "~" the
// home), as Pigeonhole's sieve, sieve_dir, sieve_global, sieve_default,
// sieve_before and sieve_after.
type Locations struct {
	Script, Dir, Global, Default string
	Before, After                []string
}

// Resolve expands the templates for one user. userScript is the userdb's
// `sieve` column ("" = none): it overrides Script; a relative path is
// relative to the home. A before/after entry that is a directory stands
// for its *.sieve files in name order, as in Pigeonhole.
func (l Locations) Resolve(v uservars.Values, userScript string) (Scripts, error) {
	var s Scripts
	var err error
	script := l.Script
	if userScript != "" {
		script = userScript
		if !filepath.IsAbs(script) && !strings.HasPrefix(script, "~") && v.Home != "" {
			script = filepath.Join(v.Home, script)
		}
	}
	if s.User, err = expand(script, v); err != nil {
		return s, err
	}
	if s.PersonalDir, err = expand(l.Dir, v); err != nil {
		return s, err
	}
	if s.GlobalDir, err = expand(l.Global, v); err != nil {
		return s, err
	}
	if s.Default, err = expand(l.Default, v); err != nil {
		return s, err
	}
	if s.Before, err = expandList(l.Before, v); err != nil {
		return s, err
	}
	s.After, err = expandList(l.After, v)
	return s, err
}

func expand(tmpl string, v uservars.Values) (string, error) {
	if tmpl == "" {
		return "", nil
	}
	t, err := templates.parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("sieve path %q: %w", tmpl, err)
	}
	return t.ExpandPath(v)
}

// templateCache keeps parsed path templates: Resolve runs for every
// recipient with the same few [sieve] templates, which were parsed anew
// each time. Bounded (a userdb sieve column can give one per user): past
// maxTemplates it starts over.
type templateCache struct {
	mu sync.Mutex
	m  map[string]*uservars.Template
}

const maxTemplates = 1024

var templates = &templateCache{m: map[string]*uservars.Template{}}

func (c *templateCache) parse(tmpl string) (*uservars.Template, error) {
	c.mu.Lock()
	t := c.m[tmpl]
	c.mu.Unlock()
	if t != nil {
		return t, nil
	}
	t, err := uservars.Parse(tmpl, uservars.Path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxTemplates {
		c.m = make(map[string]*uservars.Template, maxTemplates)
	}
	c.m[tmpl] = t
	c.mu.Unlock()
	return t, nil
}

func expandList(tmpls []string, v uservars.Values) ([]string, error) {
	var out []string
	for _, tmpl := range tmpls {
		p, err := expand(tmpl, v)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(p)
		if err != nil || !st.IsDir() {
			out = append(out, p) // a missing file is reported when it runs
			continue
		}
		files, err := filepath.Glob(filepath.Join(p, "*.sieve"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out, nil
}
