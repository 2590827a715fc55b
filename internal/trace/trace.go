// Package trace carries an optional observer of a delivery's decisions
// through a context. deliver -explain sets one (With); the steps that
// decide a delivery report to it as they run: package lookup its queries
// with their bound values, the rows (secrets masked) and alias hops,
// package delivery its Resolve and the checks before a message is written.
// The observer sees the code path delivery takes, not a description of
// it. Without an observer, reporting costs one context lookup.
//
// A step is a short stable name ("user_query", "owner", "quota", ...) and
// one line of text; see deliver -explain in README for the list.
package trace

import (
	"context"
	"fmt"
	"strings"
)

// Sink receives the steps, in order. It is called on the goroutine that
// runs the step.
type Sink func(step, text string)

type key struct{}

// With returns ctx with s as its observer.
func With(ctx context.Context, s Sink) context.Context {
	return context.WithValue(ctx, key{}, s)
}

// On reports whether ctx has an observer: callers test it before building
// an expensive description.
func On(ctx context.Context) bool {
	s, _ := ctx.Value(key{}).(Sink)
	return s != nil
}

// Step reports one step to ctx's observer, if any. The text is made one
// line: an observer prints one step per line.
func Step(ctx context.Context, step, format string, args ...any) {
	s, _ := ctx.Value(key{}).(Sink)
	if s == nil {
		return
	}
	text := fmt.Sprintf(format, args...)
	s(step, strings.NewReplacer("\r", `\r`, "\n", `\n`, "\x00", `\x00`).Replace(text))
}
