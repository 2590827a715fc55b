package interp

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/migadu/go-sieve/lexer"
)

type Cmd interface {
	Execute(ctx context.Context, d *RuntimeData) error
}

type Options struct {
	MaxRedirects int
	// MaxActions bounds the actions one execution may take (keep, fileinto,
	// redirect, reject, vacation); 0 = no limit (patch: maildeliver).
	MaxActions int
	// Include resolves an include target to its source; nil disables the
	// include extension (patch: maildeliver).
	Include IncludeResolver
	// IncludeMaxTokens bounds the tokens of an included script as
	// lexer.Options.MaxTokens bounds the main one; 0 = 5000 (patch:
	// maildeliver).
	IncludeMaxTokens int
	// includeStack holds the targets being loaded, for loop detection.
	includeStack []string

	MaxVariableCount   int
	MaxVariableNameLen int
	MaxVariableLen     int

	// RegexLimits bounds :matches and :regex execution: per-match input truncation
	// (MaxInputLength) and the soft execution wait (MaxExecTime), applied to every
	// match this script runs. Zero-valued fields fall back to DefaultRegexLimits, so a
	// caller may override just one limit. The default 100ms MaxExecTime can be too
	// tight for a large (but already input-bounded) body match on a loaded host or
	// under race instrumentation; raise it here to align with the caller's overall
	// script budget.
	RegexLimits RegexLimits

	// If specified - enables vnd.dovecot.testsuite extension
	// and will execute tests.
	T             *testing.T
	DisabledTests []string
}

type Script struct {
	extensions        map[string]struct{}
	cmd               []Cmd
	enabledExtensions []string
	// globals are the variables this script declared with "global".
	globals map[string]bool

	opts *Options
}

var ErrStop = errors.New("interpreter: stop called")

func (s Script) Extensions() []string {
	exts := make([]string, 0, len(s.extensions))
	for ext := range s.extensions {
		exts = append(exts, ext)
	}
	return exts
}

func (s Script) RequiresExtension(name string) bool {
	_, ok := s.extensions[name]
	return ok
}

func (s *Script) IsVarUsable(variableName string) (settable, gettable bool) {
	if len(variableName) > s.opts.MaxVariableNameLen {
		return false, false
	}

	namespace, name, ok := strings.Cut(strings.ToLower(variableName), ".")
	if !ok {
		name = namespace
		namespace = ""
	}

	if !lexer.IsValidIdentifier(name) {
		return false, false
	}

	switch namespace {
	case "envelope":
		if !s.RequiresExtension("envelope") {
			return false, false
		}
		return false, true
	case "":
		return true, true
	default:
		return false, false
	}
}

func (s Script) Execute(ctx context.Context, d *RuntimeData) error {
	// Install the script's effective regex limits so per-match input truncation and the
	// soft execution wait are configurable per execution (see ContextWithRegexLimits).
	if s.opts != nil {
		ctx = ContextWithRegexLimits(ctx, EffectiveRegexLimits(s.opts.RegexLimits))
	}
	err := s.run(ctx, d)
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// run executes the commands; "return" ends this script only, "stop" (an
// ErrStop) ends every script and is passed up.
func (s *Script) run(ctx context.Context, d *RuntimeData) error {
	for _, c := range s.cmd {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.Execute(ctx, d); err != nil {
			if errors.Is(err, ErrReturn) {
				return nil
			}
			return err
		}
	}
	return nil
}
