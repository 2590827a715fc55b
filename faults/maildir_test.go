//go:build faults

package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// subject names a test message: a unique tag and the body size, so that
// the body can be regenerated to check a stored copy.
func subject(tag string, size int) string { return fmt.Sprintf("%s-s%d", tag, size) }

// stored is what a scan of new/ found.
type stored struct {
	files   int
	subject map[string]int // subject -> copies in new/
	corrupt []string       // files that are not one whole test message
	rootOwn []string       // files owned by uid 0
}

// scanNew reads the files of dir/new whose names are not in seen (and adds
// them to seen), checking that each is a whole test message.
func scanNew(dir string, seen map[string]bool, into *stored) error {
	if into.subject == nil {
		into.subject = map[string]int{}
	}
	ents, err := os.ReadDir(filepath.Join(dir, "new"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	for _, en := range ents {
		if seen != nil && seen[en.Name()] {
			continue
		}
		if seen != nil {
			seen[en.Name()] = true
		}
		into.files++
		p := filepath.Join(dir, "new", en.Name())
		if fi, err := os.Lstat(p); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == 0 {
				into.rootOwn = append(into.rootOwn, p)
			}
		}
		subj, ok := checkFile(p)
		if !ok {
			into.corrupt = append(into.corrupt, en.Name())
			continue
		}
		into.subject[subj]++
	}
	return nil
}

// checkFile returns the subject of a stored test message and whether the
// file holds all of it after maildeliver's prepended fields.
func checkFile(p string) (string, bool) {
	data, err := os.ReadFile(p)
	if err != nil {
		return "", false
	}
	s := string(data)
	if !strings.HasPrefix(s, "Return-Path: <") {
		return "", false
	}
	i := strings.Index(s, "\nSubject: ")
	if i < 0 {
		return "", false
	}
	subj, _, _ := strings.Cut(s[i+len("\nSubject: "):], "\n")
	k := strings.LastIndex(subj, "-s")
	if k < 0 {
		return subj, false
	}
	size, err := strconv.Atoi(subj[k+2:])
	if err != nil {
		return subj, false
	}
	if !strings.HasSuffix(s, "\nSubject: "+subj+"\n\n"+body(subj, size)) {
		return subj, false
	}
	return subj, true
}

// countDir counts the entries of a directory (0 when it does not exist).
func countDir(dir string) int {
	ents, _ := os.ReadDir(dir)
	return len(ents)
}

// clearDir removes the entries of a directory.
func clearDir(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, en := range ents {
		os.RemoveAll(filepath.Join(dir, en.Name()))
	}
}
