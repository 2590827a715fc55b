package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const root = "../.."

// TestPagesUpToDate: the committed man pages are what mkman makes from
// today's -help texts and README.md. It fails when either changed without
// `go run ./tools/mkman`.
func TestPagesUpToDate(t *testing.T) {
	pages, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		old, err := os.ReadFile(filepath.Join(root, "man", p.File))
		if err != nil {
			t.Errorf("%v: run go run ./tools/mkman", err)
			continue
		}
		if !bytes.Equal(old, []byte(p.Text)) {
			t.Errorf("man/%s is out of date (-help or README.md changed): run go run ./tools/mkman\n%s",
				p.File, firstDiff(string(old), p.Text))
		}
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "line " + strconv.Itoa(i+1) + ":\n  committed: " + al[i] + "\n  generated: " + bl[i]
		}
	}
	return "lengths differ"
}

// TestPagesRender: man -l and groff render every page without a warning,
// and the rendered maildeliver.toml(5) names every key of README's
// reference block.
func TestPagesRender(t *testing.T) {
	for _, tool := range []string{"man", "groff"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("this test needs %s (Debian man-db, groff-base; scripts/install-deps.sh): %v", tool, err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(root, "man", "*.[58]"))
	if len(files) != 3 {
		t.Fatalf("man/ holds %v, want deliver.8, lmtpd.8, maildeliver.toml.5", files)
	}
	for _, f := range files {
		for _, argv := range [][]string{{"man", "--warnings", "-l", "-Tutf8", f}, {"groff", "-ww", "-man", "-Tutf8", "-z", f}} {
			cmd := exec.Command(argv[0], argv[1:]...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
			}
			if argv[0] == "man" && stdout.Len() < 1000 {
				t.Errorf("%s rendered %d bytes", f, stdout.Len())
			}
		}
	}
	out, err := exec.Command("groff", "-man", "-Tascii", "-P-cbou", filepath.Join(root, "man", "maildeliver.toml.5")).Output()
	if err != nil {
		t.Fatal(err)
	}
	readme, _ := os.ReadFile(filepath.Join(root, "README.md"))
	block := regexp.MustCompile("(?s)```toml\n(.*?)```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("README.md has no toml block")
	}
	keyRE := regexp.MustCompile(`(?m)^([a-z_]+) = `)
	keys := keyRE.FindAllSubmatch(block[1], -1)
	if len(keys) < 40 {
		t.Fatalf("README's reference block has %d keys", len(keys))
	}
	for _, k := range keys {
		if !bytes.Contains(out, append(append([]byte("\n       "), k[1]...), " = "...)) {
			t.Errorf("maildeliver.toml(5) does not show key %s", k[1])
		}
	}
}

// TestHelpListsEveryFlag: each main's -help, from which the OPTIONS of
// its page are made, lists every flag the main defines (found in its
// source: any flag.FlagSet method call with a literal name), and nothing
// else. A flag added without its line in -help fails here.
func TestHelpListsEveryFlag(t *testing.T) {
	bin := t.TempDir()
	for _, c := range commands {
		h, err := helpOf(root, bin, c.Name)
		if err != nil {
			t.Fatal(err)
		}
		documented := map[string]bool{}
		for _, o := range h.Options {
			for _, f := range strings.Fields(o.Spec) {
				if strings.HasPrefix(f, "-") {
					documented[strings.TrimSuffix(strings.TrimLeft(f, "-"), ",")] = true
				}
			}
		}
		defined := definedFlags(t, filepath.Join(root, "cmd", c.Name))
		if len(defined) < 2 {
			t.Fatalf("found only %v defined in cmd/%s", defined, c.Name)
		}
		for _, f := range defined {
			if !documented[f] {
				t.Errorf("%s defines -%s, its -help does not list it", c.Name, f)
			}
			delete(documented, f)
		}
		delete(documented, "h")
		delete(documented, "help")
		for f := range documented {
			t.Errorf("%s -help lists -%s, which it does not define", c.Name, f)
		}
	}
}

// flagDefiners are the flag.FlagSet methods that define a flag, with the
// position of the name argument.
var flagDefiners = map[string]int{
	"Bool": 0, "Int": 0, "Int64": 0, "Uint": 0, "Uint64": 0, "String": 0, "Float64": 0, "Duration": 0,
	"Func": 0, "BoolFunc": 0,
	"BoolVar": 1, "IntVar": 1, "Int64Var": 1, "UintVar": 1, "Uint64Var": 1, "StringVar": 1,
	"Float64Var": 1, "DurationVar": 1, "Var": 1, "TextVar": 1,
}

// definedFlags parses the non-test Go files of dir for flag definitions.
func definedFlags(t *testing.T, dir string) []string {
	fset := token.NewFileSet()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pos, ok := flagDefiners[sel.Sel.Name]
			if !ok || len(call.Args) <= pos+1 || otherPackage(file, sel.X) {
				return true
			}
			if lit, ok := call.Args[pos].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if name, err := strconv.Unquote(lit.Value); err == nil {
					names = append(names, name)
				}
			}
			return true
		})
	}
	sort.Strings(names)
	return names
}

// otherPackage: x names an imported package other than flag (slog.String
// defines no flag; flag.String and fs.String do).
func otherPackage(file *ast.File, x ast.Expr) bool {
	id, ok := x.(*ast.Ident)
	if !ok || id.Name == "flag" {
		return false
	}
	for _, imp := range file.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		name := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		if name == id.Name {
			return true
		}
	}
	return false
}

// TestParseHelp: the usage format, with an option whose text starts on
// the next line.
func TestParseHelp(t *testing.T) {
	h, ok := parseHelp("x", `usage: x [-a] -b FILE
       x -c

Does x.
  -a          all
  -b FILE     the file,
              continued
  -c-long-name
              alone on its line

Signals: none.
`)
	want := help{Synopsis: []string{"x [-a] -b FILE", "x -c"}, Description: []string{"Does x."},
		Options: []option{{"-a", "all"}, {"-b FILE", "the file, continued"}, {"-c-long-name", "alone on its line"}},
		After:   []string{"Signals: none."}}
	if !ok || !reflect.DeepEqual(h, want) {
		t.Errorf("got %v %+v\nwant %+v", ok, h, want)
	}
	if _, ok := parseHelp("x", "usage: x\n  -a  all\n oops\n"); ok {
		t.Error("a line indented by one space was taken")
	}
}

// TestMarkdown: the Markdown the README uses becomes roff that cannot be
// read as a request, with literals and non-ASCII escaped.
func TestMarkdown(t *testing.T) {
	var w strings.Builder
	roff(&w, blocks(strings.Split(`### Exit codes

<!-- e2e: conf/x -->

.leading dot, a back\slash, `+"`-x \\d`"+`, **bold**, [link](#anchor), [web](https://example.org/) and “quotes”

    'quoted code line
    .dot code line

| a | b | c |
|---|---|---|
| `+"`x|y`"+` | one | |

- item one
  continued
- item two`, "\n")), 3)
	want := `.SH "EXIT CODES"
.PP
\&.leading dot, a back\eslash, \fB\-x \ed\fR, \fBbold\fR, link, web <https://example.org/> and \[u201C]quotes\[u201D]
.PP
.RS 4
.nf
\&'quoted code line
\&.dot code line
.fi
.RE
.TP
\fBx|y\fR
b: one
.IP \(bu 2
item one continued
.IP \(bu 2
item two
`
	if w.String() != want {
		t.Errorf("got\n%s\nwant\n%s", w.String(), want)
	}
}
