package main

import (
	"regexp"
	"strings"
)

// help is a program's -help text taken apart. The format, which the
// mains' usage texts follow and TestHelpFormat checks:
//
//	usage: NAME ARGS...
//	       NAME ARGS...
//
//	Description paragraph(s).
//	  -flag ARG   text
//	              continued text
//	  -other      text
//
//	Paragraphs after the options (e.g. signals).
type help struct {
	Synopsis    []string // "NAME ARGS..." per usage line
	Description []string // paragraphs before the options
	Options     []option
	After       []string // paragraphs after the options
}

type option struct {
	Spec string // "-c CONFIG", "-h, -help"
	Text string
}

// optionRE: two spaces, the flag and its arguments, two or more spaces
// and the text, which may also start on the next line.
var optionRE = regexp.MustCompile(`^  (-\S.*?)(?:\s{2,}(\S.*))?$`)

func parseHelp(name, s string) (help, bool) {
	var h help
	var para []string
	flush := func() {
		if len(para) == 0 {
			return
		}
		p := strings.Join(para, " ")
		if len(h.Options) == 0 {
			h.Description = append(h.Description, p)
		} else {
			h.After = append(h.After, p)
		}
		para = nil
	}
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "usage: "+name+" ") || strings.HasPrefix(trimmed, name+" ") && strings.HasPrefix(l, "       "):
			h.Synopsis = append(h.Synopsis, strings.TrimPrefix(trimmed, "usage: "))
		case optionRE.MatchString(l):
			flush()
			m := optionRE.FindStringSubmatch(l)
			h.Options = append(h.Options, option{Spec: m[1], Text: m[2]})
		case strings.HasPrefix(l, "    ") && len(h.Options) > 0 && len(para) == 0:
			o := &h.Options[len(h.Options)-1]
			o.Text = strings.TrimSpace(o.Text + " " + trimmed)
		case trimmed == "":
			flush()
		case strings.HasPrefix(l, " "):
			return h, false // indented text that is no option
		default:
			para = append(para, trimmed)
		}
	}
	flush()
	return h, len(h.Synopsis) > 0 && len(h.Options) > 0
}
