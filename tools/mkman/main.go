// Command mkman writes the man pages deliver(8), lmtpd(8) and
// maildeliver.toml(5) into man/, in roff (man(7) macros), from the two
// sources the user already reads, so that they cannot say something else:
//
//   - each command's -help text (synopsis, description, options), taken
//     from the built binary, and its README.md section;
//   - README.md's Configuration section, whose reference block lists every
//     key with its default (internal/config's tests hold it to the code).
//
// Run from the module root after changing either:
//
//	go run ./tools/mkman           # rewrite man/*
//	go run ./tools/mkman -check    # exit 1 if man/* is out of date
//
// The test of this package fails when the committed pages differ from what
// mkman makes, when a flag a main defines is missing from its -help, and
// when groff warns about a page.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

func main() {
	root := flag.String("root", ".", "module root (holds go.mod, README.md, man/)")
	check := flag.Bool("check", false, "only compare: exit 1 if a page in man/ is out of date")
	flag.Parse()
	pages, err := generate(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkman:", err)
		os.Exit(1)
	}
	stale := 0
	for _, p := range pages {
		path := filepath.Join(*root, "man", p.File)
		old, _ := os.ReadFile(path)
		if bytes.Equal(old, []byte(p.Text)) {
			continue
		}
		stale++
		if *check {
			fmt.Fprintf(os.Stderr, "mkman: %s is out of date: go run ./tools/mkman\n", path)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "mkman:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(path, []byte(p.Text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "mkman:", err)
			os.Exit(1)
		}
		fmt.Println("wrote", path)
	}
	if *check && stale > 0 {
		os.Exit(1)
	}
}

// page is one generated man page: its file name in man/ and its text.
type page struct {
	File string // "deliver.8"
	Text string
}

// generate builds the commands, reads their -help and README.md, and
// returns every page.
func generate(root string) ([]page, error) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return nil, err
	}
	bin, err := os.MkdirTemp("", "mkman-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(bin)
	var pages []page
	for _, c := range commands {
		h, err := helpOf(root, bin, c.Name)
		if err != nil {
			return nil, err
		}
		text, err := commandPage(c, h, string(readme))
		if err != nil {
			return nil, err
		}
		pages = append(pages, page{File: c.Name + ".8", Text: text})
	}
	text, err := configPage(string(readme))
	if err != nil {
		return nil, err
	}
	return append(pages, page{File: "maildeliver.toml.5", Text: text}), nil
}

// helpOf builds ./cmd/NAME and parses what its -help prints.
func helpOf(root, bin, name string) (help, error) {
	exe := filepath.Join(bin, name)
	build := exec.Command("go", "build", "-o", exe, "./cmd/"+name)
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return help{}, fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, out)
	}
	out, err := exec.Command(exe, "-help").Output()
	if err != nil {
		return help{}, fmt.Errorf("%s -help: %v", name, err)
	}
	h, ok := parseHelp(name, string(out))
	if !ok {
		return help{}, fmt.Errorf("%s -help: not in the usage format tools/mkman reads (see help.go):\n%s", name, out)
	}
	return h, nil
}
