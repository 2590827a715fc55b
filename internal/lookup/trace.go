package lookup

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"maildeliver/internal/trace"
)

// What Lookup reports to a trace observer (deliver -explain): each query
// as sent, with its bound values, and its answer; each alias hop. Columns
// that may hold a secret (a password query used as user_query, as
// Dovecot's prefetch does) are masked.

// secretColumn matches column names whose values are never shown.
var secretColumn = regexp.MustCompile(`(?i)pass|pwd|secret|crypt|hash|token|key|salt`)

// traceQuery reports one query and its answer: cols/vals for a row, err
// otherwise (ErrNotFound is "no row").
func traceQuery(ctx context.Context, name string, c *compiled, args []any, cols []string, vals []any, err error) {
	if !trace.On(ctx) {
		return
	}
	var answer string
	switch {
	case err == nil:
		answer = "row " + describeRow(cols, vals)
	case err == ErrNotFound:
		answer = "no row"
	default:
		answer = "error"
	}
	trace.Step(ctx, name, "%s %s -> %s", c.text, describeArgs(args), answer)
}

// describeArgs renders bind values in placeholder order.
func describeArgs(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = fmt.Sprintf("%q", a)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// describeRow renders a row as name=value pairs in column order, secrets
// masked, NULL as NULL.
func describeRow(cols []string, vals []any) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		var v string
		switch {
		case secretColumn.MatchString(c):
			v = "********"
		case i >= len(vals) || vals[i] == nil:
			v = "NULL"
		default:
			s, err := asString(vals[i])
			if err != nil {
				s = fmt.Sprint(vals[i])
			}
			v = fmt.Sprintf("%q", s)
		}
		parts[i] = c + "=" + v
	}
	return strings.Join(parts, " ")
}
