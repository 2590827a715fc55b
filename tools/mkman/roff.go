package main

import (
	"fmt"
	"regexp"
	"strings"
)

// text escapes s for a roff text line: backslashes, and every non-ASCII
// character as a \[uXXXX] escape, so that groff needs no preprocessor
// (preconv) to read the page. A line must not start with a control
// character (a period or an apostrophe).
func text(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r > 0x7e:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// code is text in a literal (command, key, value): hyphens as \- so that
// a copied option is a minus sign.
func code(s string) string {
	return strings.ReplaceAll(text(s), "-", `\-`)
}

// line makes s safe as the start of a roff line.
func line(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		return `\&` + s
	}
	return s
}

var (
	inlineRE = regexp.MustCompile("`[^`]+`|\\*\\*[^*]+\\*\\*|\\[[^\\]]+\\]\\([^)]+\\)")
	linkRE   = regexp.MustCompile(`^\[([^\]]+)\]\(([^)]+)\)$`)
)

// inline turns one paragraph of Markdown text (code spans, **bold**,
// links) into roff text on one line; roff fills it.
func inline(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range inlineRE.FindAllStringIndex(s, -1) {
		b.WriteString(text(s[last:m[0]]))
		tok := s[m[0]:m[1]]
		switch {
		case strings.HasPrefix(tok, "`"):
			b.WriteString(`\fB` + code(tok[1:len(tok)-1]) + `\fR`)
		case strings.HasPrefix(tok, "**"):
			b.WriteString(`\fB` + text(tok[2:len(tok)-2]) + `\fR`)
		default:
			l := linkRE.FindStringSubmatch(tok)
			b.WriteString(inline(l[1]))
			// A link into the README or the source tree means nothing
			// in an installed page; a web address is kept.
			if strings.Contains(l[2], "://") {
				b.WriteString(" <" + text(l[2]) + ">")
			}
		}
		last = m[1]
	}
	b.WriteString(text(s[last:]))
	return line(b.String())
}

// macroArg quotes s as one argument of a roff macro.
func macroArg(s string) string {
	return `"` + strings.ReplaceAll(text(s), `"`, `\(dq`) + `"`
}
