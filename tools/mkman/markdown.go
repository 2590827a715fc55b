package main

import (
	"fmt"
	"strings"
)

// section returns the lines of the README section with the given heading
// ("## deliver"), up to the next heading of the same or a higher level.
func section(readme, heading string) ([]string, error) {
	lines := strings.Split(readme, "\n")
	level := strings.Index(heading, " ")
	start := -1
	fenced := false
	for i, l := range lines {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
		}
		if fenced {
			continue
		}
		if start < 0 {
			if l == heading {
				start = i + 1
			}
			continue
		}
		if h := headingLevel(l); h > 0 && h <= level {
			return lines[start:i], nil
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("README.md has no %q section", heading)
	}
	return lines[start:], nil
}

func headingLevel(l string) int {
	n := len(l) - len(strings.TrimLeft(l, "#"))
	if n > 0 && strings.HasPrefix(l[n:], " ") {
		return n
	}
	return 0
}

// block is a run of Markdown lines of one kind.
type block struct {
	kind  string // para, code, table, list, heading, fence
	lines []string
	level int    // heading level
	info  string // fence info string ("toml")
}

// blocks splits Markdown lines into blocks: headings, fenced and indented
// code, tables, bullet lists, paragraphs. It is the subset the README's
// sections use.
func blocks(lines []string) []block {
	var out []block
	for i := 0; i < len(lines); {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "", strings.HasPrefix(l, "<!--") && strings.HasSuffix(l, "-->"):
			i++ // a blank line, or a marker for the README's own tests (e2e/docs.sh)
		case strings.HasPrefix(l, "```"):
			b := block{kind: "fence", info: strings.TrimPrefix(l, "```")}
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
				b.lines = append(b.lines, lines[i])
			}
			out = append(out, b)
			i++
		case headingLevel(l) > 0:
			n := headingLevel(l)
			out = append(out, block{kind: "heading", level: n, lines: []string{l[n+1:]}})
			i++
		case strings.HasPrefix(l, "    "):
			b := block{kind: "code"}
			for ; i < len(lines) && (strings.HasPrefix(lines[i], "    ") || strings.TrimSpace(lines[i]) == ""); i++ {
				b.lines = append(b.lines, strings.TrimPrefix(lines[i], "    "))
			}
			for len(b.lines) > 0 && strings.TrimSpace(b.lines[len(b.lines)-1]) == "" {
				b.lines = b.lines[:len(b.lines)-1]
			}
			out = append(out, b)
		default:
			kind := "para"
			if strings.HasPrefix(l, "|") {
				kind = "table"
			} else if strings.HasPrefix(l, "- ") {
				kind = "list"
			}
			b := block{kind: kind}
			for ; i < len(lines) && strings.TrimSpace(lines[i]) != "" && !strings.HasPrefix(lines[i], "```") &&
				(len(b.lines) == 0 || headingLevel(lines[i]) == 0); i++ {
				b.lines = append(b.lines, lines[i])
			}
			out = append(out, b)
		}
	}
	return out
}

// roff renders blocks as man(7) text. Headings of level top become .SH
// (upper case), deeper ones .SS.
func roff(w *strings.Builder, bs []block, top int) {
	for _, b := range bs {
		switch b.kind {
		case "heading":
			if b.level <= top {
				fmt.Fprintf(w, ".SH %s\n", macroArg(strings.ToUpper(b.lines[0])))
			} else {
				fmt.Fprintf(w, ".SS %s\n", macroArg(b.lines[0]))
			}
		case "code", "fence":
			literal(w, b.lines)
		case "table":
			table(w, b.lines)
		case "list":
			for _, item := range listItems(b.lines) {
				fmt.Fprintf(w, ".IP \\(bu 2\n%s\n", inline(item))
			}
		default:
			fmt.Fprintf(w, ".PP\n%s\n", inline(joinLines(b.lines)))
		}
	}
}

func joinLines(lines []string) string {
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, " ")
}

// literal is a display in no-fill mode, as written.
func literal(w *strings.Builder, lines []string) {
	w.WriteString(".PP\n.RS 4\n.nf\n")
	for _, l := range lines {
		fmt.Fprintf(w, "%s\n", line(text(l)))
	}
	w.WriteString(".fi\n.RE\n")
}

func listItems(lines []string) []string {
	var items []string
	for _, l := range lines {
		if strings.HasPrefix(l, "- ") {
			items = append(items, strings.TrimPrefix(l, "- "))
			continue
		}
		items[len(items)-1] += " " + strings.TrimSpace(l)
	}
	return items
}

// table renders a Markdown table as a tagged list: the first cell is the
// tag, the others follow, each named by its column's header when there
// are more than two columns. Man pages are read in 80 columns; the
// README's tables do not fit in them as tables.
func table(w *strings.Builder, lines []string) {
	var header []string
	for i, l := range lines {
		cells := splitRow(l)
		switch {
		case i == 0:
			header = cells
			continue
		case i == 1 && strings.Trim(l, "|-: ") == "":
			continue
		}
		fmt.Fprintf(w, ".TP\n%s\n", inline(cells[0]))
		var rest []string
		for j, c := range cells[1:] {
			switch {
			case c == "":
			case len(header) <= 2 || j+1 >= len(header):
				rest = append(rest, c)
			default:
				rest = append(rest, header[j+1]+": "+c)
			}
		}
		fmt.Fprintf(w, "%s\n", inline(strings.Join(rest, "; ")))
	}
}

// splitRow splits "| a | `b|c` |" into its cells; a | inside a code span
// is no separator.
func splitRow(l string) []string {
	l = strings.TrimSpace(l)
	l = strings.TrimSuffix(strings.TrimPrefix(l, "|"), "|")
	var cells []string
	var cur strings.Builder
	inCode := false
	for _, r := range l {
		switch {
		case r == '`':
			inCode = !inCode
		case r == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	return append(cells, strings.TrimSpace(cur.String()))
}
