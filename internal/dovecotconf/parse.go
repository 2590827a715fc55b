package dovecotconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// entry is one line of a Dovecot configuration file: "key = value" or a
// block "kind [name] { ... }" (sub holds its entries).
type entry struct {
	key   string // the setting, or the block's kind ("userdb", "pgsql")
	value string // a setting's value, unquoted
	name  string // a block's name ("sql" in "userdb sql {")
	block bool
	sub   []*entry
	file  string
	line  int
	// fileRef: value was written "<path" (2.4, and 2.3's dovecot.conf):
	// the setting is the content of that file, read only when used.
	fileRef bool
}

// where names the line an entry came from, for messages and -check.
func (e *entry) where() string { return fmt.Sprintf("%s line %d", e.file, e.line) }

// syntax says which of Dovecot's readers a file is meant for.
type syntax int

const (
	// sqlSyntax is 2.3's lib-settings reader of dovecot-sql.conf.ext: no
	// "<file" values.
	sqlSyntax syntax = iota
	// confSyntax is the dovecot.conf reader (2.3 and 2.4): "<file" values
	// and 2.4's "<<MARKER" heredocs.
	confSyntax
)

// parser reads one file and, unless noInclude, the files it includes.
type parser struct {
	syntax    syntax
	noInclude bool       // sniffing the format: includes are not followed
	open      []string   // files being read, to refuse recursive includes
	stack     []*entry   // blocks open, innermost last
	top       *[]*entry  // where entries at depth 0 go
	starts    []startPos // where each open block began
}

type startPos struct {
	file string
	line int
}

// parseFile reads path as Dovecot does: "#" comments (outside quotes),
// "\" continuation lines joined with one space, "key = value" with
// optional quotes, "kind [name] {" ... "}" blocks, and !include /
// !include_try (relative to the including file, globs allowed; a glob
// matching nothing is not an error).
func parseFile(path string, syn syntax, noInclude bool) ([]*entry, error) {
	var top []*entry
	p := &parser{syntax: syn, noInclude: noInclude, top: &top}
	if err := p.file(path, false); err != nil {
		return nil, err
	}
	if n := len(p.starts); n > 0 {
		s := p.starts[n-1]
		return nil, fmt.Errorf("%s line %d: block %q is not closed (missing '}')", s.file, s.line, p.stack[n-1].key)
	}
	return top, nil
}

// parseData parses text that is not a file (doveconf's output), named
// name in messages; it has no includes to follow.
func parseData(name, text string, syn syntax) ([]*entry, error) {
	var top []*entry
	p := &parser{syntax: syn, noInclude: true, top: &top}
	if err := p.lines(name, strings.Split(text, "\n")); err != nil {
		return nil, err
	}
	if len(p.stack) > 0 {
		return nil, fmt.Errorf("%s: block %q is not closed", name, p.stack[0].key)
	}
	return top, nil
}

// file reads one file; try is !include_try's "a missing file is fine".
func (p *parser) file(path string, try bool) error {
	for _, o := range p.open {
		if o == path {
			return fmt.Errorf("%s: included recursively", path)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if try && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	p.open = append(p.open, path)
	defer func() { p.open = p.open[:len(p.open)-1] }()
	return p.lines(path, strings.Split(string(data), "\n"))
}

// unwrapPath drops the path os.ReadFile repeats in its error.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (p *parser) lines(path string, lines []string) error {
	var full strings.Builder
	fullStart := 0
	for i := 0; i < len(lines); i++ {
		line := strings.TrimLeft(strings.TrimSuffix(lines[i], "\r"), " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimRight(stripComment(line), " \t")
		if strings.HasSuffix(line, `\`) {
			if full.Len() == 0 {
				fullStart = i + 1
			}
			full.WriteString(strings.TrimRight(strings.TrimSuffix(line, `\`), " \t"))
			full.WriteByte(' ')
			continue
		}
		num := i + 1
		if full.Len() > 0 {
			full.WriteString(line)
			line, num = full.String(), fullStart
			full.Reset()
		}
		skip, err := p.line(path, num, line, lines[i+1:])
		if err != nil {
			return fmt.Errorf("%s line %d: %w", path, num, err)
		}
		i += skip
	}
	if full.Len() > 0 {
		return fmt.Errorf("%s line %d: the last line ends in '\\' (continued past the end of the file)", path, fullStart)
	}
	return nil
}

// stripComment cuts line at the first '#' outside quotes.
func stripComment(line string) string {
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case '\'', '"':
			for i++; i < len(line) && line[i] != c; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
			}
		case '#':
			return line[:i]
		}
	}
	return line
}

// line handles one logical line; rest are the raw lines after it (for a
// heredoc), and skip says how many of them it consumed.
func (p *parser) line(path string, num int, line string, rest []string) (skip int, err error) {
	key, after := line, ""
	if i := strings.IndexAny(line, " \t="); i >= 0 {
		key, after = line[:i], strings.TrimLeft(line[i:], " \t")
	}
	switch {
	case key == "!include" || key == "!include_try":
		return 0, p.include(path, after, key == "!include_try")
	case strings.HasPrefix(after, "="):
		e := &entry{key: key, file: path, line: num}
		v := strings.TrimLeft(after[1:], " \t")
		switch {
		case len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0]:
			v = unescape(v[1 : len(v)-1])
		case p.syntax == confSyntax && strings.HasPrefix(v, "<<"):
			if v, skip, err = heredoc(v[2:], rest); err != nil {
				return 0, err
			}
		case p.syntax == confSyntax && strings.HasPrefix(v, "<"):
			v, e.fileRef = relative(path, strings.TrimSpace(v[1:])), true
		}
		e.value = v
		p.add(e)
		return skip, nil
	case key == "}" && after == "":
		if len(p.stack) == 0 {
			return 0, errors.New("unexpected '}'")
		}
		p.stack, p.starts = p.stack[:len(p.stack)-1], p.starts[:len(p.starts)-1]
		return 0, nil
	}
	return 0, p.startBlock(path, num, key, after)
}

// startBlock starts a block "kind [name] {".
func (p *parser) startBlock(path string, num int, kind, after string) error {
	name := ""
	switch {
	case kind == "group" && strings.HasSuffix(after, "{"): // 2.4 "group @label name {"
		name, after = strings.TrimSpace(strings.TrimSuffix(after, "{")), "{"
	case !strings.HasPrefix(after, "{"):
		if len(after) > 0 && after[0] == '"' {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				return errors.New("unterminated quote in block name")
			}
			name, after = after[1:end+1], strings.TrimLeft(after[end+2:], " \t")
		} else {
			i := strings.IndexAny(after, " \t{")
			if i < 0 {
				i = len(after)
			}
			name, after = after[:i], strings.TrimLeft(after[i:], " \t")
		}
	}
	if after != "{" || kind == "" {
		return fmt.Errorf(`want "key = value", "kind [name] {" or "}", got %q`, strings.TrimSpace(kind+" "+name+" "+after))
	}
	e := &entry{key: kind, name: name, block: true, file: path, line: num}
	p.add(e)
	p.stack = append(p.stack, e)
	p.starts = append(p.starts, startPos{path, num})
	return nil
}

func (p *parser) add(e *entry) {
	if n := len(p.stack); n > 0 {
		p.stack[n-1].sub = append(p.stack[n-1].sub, e)
		return
	}
	*p.top = append(*p.top, e)
}

// include reads the files pattern names, in the block where it stands.
func (p *parser) include(from, pattern string, try bool) error {
	if p.noInclude {
		return nil
	}
	pattern = relative(from, pattern)
	if !strings.ContainsAny(pattern, "*?[") {
		return p.file(pattern, try)
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return fmt.Errorf("!include %s: %w", pattern, err)
	}
	for _, m := range matches {
		if err := p.file(m, try); err != nil {
			return err
		}
	}
	return nil
}

// relative resolves name against the directory of the file it appears in.
func relative(from, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(filepath.Dir(from), name)
}

// unescape undoes backslash escapes in a quoted value as Dovecot's
// str_unescape does: \n \r \t, and \x is x for any other x.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// heredoc reads a 2.4 "key = <<MARKER" value: the raw lines up to the
// line that is exactly MARKER, each with its newline.
func heredoc(marker string, rest []string) (string, int, error) {
	if marker == "" {
		return "", 0, errors.New("heredoc '<<' without a marker")
	}
	var b strings.Builder
	for i, l := range rest {
		if strings.TrimSuffix(l, "\r") == marker {
			return b.String(), i + 1, nil
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return "", 0, fmt.Errorf("heredoc <<%s has no closing %s line", marker, marker)
}
