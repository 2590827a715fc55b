package status

import (
	"fmt"
	"io"
	"strings"
)

// OneLine flattens s to one bounded line.
func OneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == 0 {
			return ' '
		}
		return r
	}, s)
	if len(s) > 400 {
		s = s[:400]
	}
	return s
}

// Fail prints st's one DSN line to w and returns its exit code: never 0,
// 75 (with a 4.x.x line) for a nil, zero or inconsistent st.
func Fail(w io.Writer, st *Error) int {
	fmt.Fprintln(w, OneLine(st.DSN()))
	return st.ExitCode()
}
