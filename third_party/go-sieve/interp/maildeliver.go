package interp

// Extensions and bookkeeping added for maildeliver (see PATCHES.md):
// an ordered action list, reject/ereject (RFC 5429), include (RFC 6609),
// duplicate (RFC 7352), environment (RFC 5183), vacation-seconds (RFC 6131)
// and an action limit.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/migadu/go-sieve/lexer"
	"github.com/migadu/go-sieve/parser"
)

// ActionKind names one Sieve action.
type ActionKind int

const (
	ActionKeep ActionKind = iota + 1
	ActionFileInto
	ActionRedirect
	ActionDiscard
	ActionReject
	ActionVacation
)

// Action is one executed action with the arguments it had when it ran.
type Action struct {
	Kind     ActionKind
	Mailbox  string // fileinto
	Flags    Flags  // keep, fileinto: the flags for this copy
	Copy     bool   // fileinto, redirect: :copy
	Create   bool   // fileinto: :create
	Addr     string // redirect
	Reason   string // reject, ereject
	Extended bool   // ereject
	Vacation *VacationResponse
	// Edits is len(RuntimeData.HeaderEdits) when the action ran: a copy
	// is stored or sent as the message was then (RFC 5293 section 3:
	// later edits do not change it; Pigeonhole snapshots the message per
	// action), the implicit keep with every edit.
	Edits int
}

// ErrTooManyActions is returned when an execution exceeds Options.MaxActions.
var ErrTooManyActions = errors.New("too many actions")

// ErrReturn ends the current (included) script (RFC 6609 section 3.3).
var ErrReturn = errors.New("interpreter: return called")

func (d *RuntimeData) countAction() error {
	d.actionCount++
	if d.Script.opts.MaxActions > 0 && d.actionCount > d.Script.opts.MaxActions {
		return fmt.Errorf("%w (limit %d)", ErrTooManyActions, d.Script.opts.MaxActions)
	}
	return nil
}

// --- reject / ereject (RFC 5429) ---

type CmdReject struct {
	Reason   string
	Extended bool
}

func (c CmdReject) Execute(_ context.Context, d *RuntimeData) error {
	d.ImplicitKeep = false
	d.Actions = append(d.Actions, Action{Kind: ActionReject, Reason: expandVars(d, c.Reason), Extended: c.Extended})
	return d.countAction()
}

func loadRejectCmd(extended bool) func(*Script, parser.Cmd) (Cmd, error) {
	ext := "reject"
	if extended {
		ext = "ereject"
	}
	return func(s *Script, pcmd parser.Cmd) (Cmd, error) {
		if !s.RequiresExtension(ext) {
			return nil, parser.ErrorAt(pcmd.Position, "missing require '%s'", ext)
		}
		cmd := CmdReject{Extended: extended}
		err := LoadSpec(s, &Spec{Pos: []SpecPosArg{{MinStrCount: 1, MaxStrCount: 1,
			MatchStr: func(val []string) { cmd.Reason = val[0] }}}},
			pcmd.Position, pcmd.Args, pcmd.Tests, pcmd.Block)
		return cmd, err
	}
}

// --- include (RFC 6609) ---

// IncludeResolver returns the source of an include target. global is true
// for :global; a missing script is reported with ErrIncludeNotFound. id
// names the script uniquely (for :once and loop detection).
type IncludeResolver func(global bool, name string) (id string, src []byte, err error)

// ErrIncludeNotFound is returned by an IncludeResolver for a missing script.
var ErrIncludeNotFound = errors.New("included script not found")

type CmdInclude struct {
	ID     string
	Once   bool
	Script *Script // nil: :optional and missing
}

func (c CmdInclude) Execute(ctx context.Context, d *RuntimeData) error {
	if c.Script == nil {
		return nil
	}
	if c.Once && d.included[c.ID] {
		return nil
	}
	if d.included == nil {
		d.included = map[string]bool{}
	}
	d.included[c.ID] = true
	// Each script has its own variables; only those declared global are
	// shared (RFC 6609 section 3.4). Match variables are per script too.
	parent, vars, match := d.Script, d.Variables, d.MatchVariables
	d.Script, d.Variables, d.MatchVariables = c.Script, map[string]string{}, nil
	for k, v := range vars {
		if strings.HasPrefix(k, "global.") || c.Script.globals[k] {
			d.Variables[k] = v
		}
	}
	err := c.Script.run(ctx, d)
	for k, v := range d.Variables {
		if strings.HasPrefix(k, "global.") || c.Script.globals[k] {
			vars[k] = v
		}
	}
	d.Script, d.Variables, d.MatchVariables = parent, vars, match
	return err
}

func loadInclude(s *Script, pcmd parser.Cmd) (Cmd, error) {
	if !s.RequiresExtension("include") {
		return nil, parser.ErrorAt(pcmd.Position, "missing require 'include'")
	}
	var name string
	global, once, optional := false, false, false
	err := LoadSpec(s, &Spec{
		Tags: map[string]SpecTag{
			"personal": {MatchBool: func() {}},
			"global":   {MatchBool: func() { global = true }},
			"once":     {MatchBool: func() { once = true }},
			"optional": {MatchBool: func() { optional = true }},
		},
		Pos: []SpecPosArg{{MinStrCount: 1, MaxStrCount: 1, NoVariables: true,
			MatchStr: func(val []string) { name = val[0] }}},
	}, pcmd.Position, pcmd.Args, pcmd.Tests, pcmd.Block)
	if err != nil {
		return nil, err
	}
	if s.opts.Include == nil {
		return nil, parser.ErrorAt(pcmd.Position, "include: no script storage configured")
	}
	if strings.ContainsAny(name, "/\x00") || name == "" || name == "." || name == ".." {
		return nil, parser.ErrorAt(pcmd.Position, "include: invalid script name %q", name)
	}
	id, src, err := s.opts.Include(global, name)
	if errors.Is(err, ErrIncludeNotFound) && optional {
		return CmdInclude{}, nil
	}
	if err != nil {
		return nil, parser.ErrorAt(pcmd.Position, "include %q: %v", name, err)
	}
	for _, on := range s.opts.includeStack {
		if on == id {
			return nil, parser.ErrorAt(pcmd.Position, "include %q: include loop", name)
		}
	}
	sub, err := loadIncluded(s.opts, s.enabledExtensions, id, src)
	if err != nil {
		return nil, parser.ErrorAt(pcmd.Position, "include %q: %v", name, err)
	}
	return CmdInclude{ID: id, Once: once, Script: sub}, nil
}

func loadIncluded(opts *Options, exts []string, id string, src []byte) (*Script, error) {
	opts.includeStack = append(opts.includeStack, id)
	defer func() { opts.includeStack = opts.includeStack[:len(opts.includeStack)-1] }()
	if len(opts.includeStack) > maxIncludeDepth {
		return nil, fmt.Errorf("includes nested deeper than %d", maxIncludeDepth)
	}
	maxTokens := opts.IncludeMaxTokens
	if maxTokens == 0 {
		maxTokens = 5000
	}
	toks, err := lexer.Lex(strings.NewReader(string(src)), &lexer.Options{MaxTokens: maxTokens})
	if err != nil {
		return nil, err
	}
	cmds, err := parser.Parse(lexer.NewStream(toks), &parser.Options{MaxBlockNesting: 15, MaxTestNesting: 15})
	if err != nil {
		return nil, err
	}
	return LoadScript(cmds, opts, exts)
}

// maxIncludeDepth is Pigeonhole's sieve_include_max_nesting_depth default.
const maxIncludeDepth = 10

type CmdReturn struct{}

func (CmdReturn) Execute(context.Context, *RuntimeData) error { return ErrReturn }

func loadReturn(s *Script, pcmd parser.Cmd) (Cmd, error) {
	if !s.RequiresExtension("include") {
		return nil, parser.ErrorAt(pcmd.Position, "missing require 'include'")
	}
	return CmdReturn{}, LoadSpec(s, &Spec{}, pcmd.Position, pcmd.Args, pcmd.Tests, pcmd.Block)
}

// loadGlobal declares variables shared with included scripts.
func loadGlobal(s *Script, pcmd parser.Cmd) (Cmd, error) {
	if !s.RequiresExtension("include") || !s.RequiresExtension("variables") {
		return nil, parser.ErrorAt(pcmd.Position, "global requires 'include' and 'variables'")
	}
	err := LoadSpec(s, &Spec{Pos: []SpecPosArg{{MinStrCount: 1, NoVariables: true,
		MatchStr: func(val []string) {
			if s.globals == nil {
				s.globals = map[string]bool{}
			}
			for _, v := range val {
				s.globals[strings.ToLower(v)] = true
			}
		}}}}, pcmd.Position, pcmd.Args, pcmd.Tests, pcmd.Block)
	return nil, err
}

// --- duplicate (RFC 7352) ---

// DuplicateTracker remembers unique ids across deliveries. Seen reports
// whether id was recorded within its period and, unless last is set and it
// was seen, records it now for the given period.
type DuplicateTracker interface {
	Seen(ctx context.Context, id string, seconds int, last bool) (bool, error)
}

type DuplicateTest struct {
	Handle   string
	Header   string
	UniqueID string
	Seconds  int
	Last     bool
}

func (t DuplicateTest) Check(ctx context.Context, d *RuntimeData) (bool, error) {
	var value string
	switch {
	case t.UniqueID != "":
		value = expandVars(d, t.UniqueID)
	default:
		hdr := t.Header
		if hdr == "" {
			hdr = "Message-ID"
		}
		vals, err := GetHeaderWithEdits(d, hdr)
		if err != nil {
			return false, err
		}
		if len(vals) == 0 {
			return false, nil // RFC 7352 section 3.1: no id, not a duplicate
		}
		value = strings.TrimSpace(decodeHeaderValue(vals[0]))
	}
	if d.Duplicate == nil {
		return false, nil
	}
	return d.Duplicate.Seen(ctx, expandVars(d, t.Handle)+"\x00"+value, t.Seconds, t.Last)
}

func loadDuplicateTest(s *Script, test parser.Test) (Test, error) {
	if !s.RequiresExtension("duplicate") {
		return nil, parser.ErrorAt(test.Position, "missing require 'duplicate'")
	}
	t := DuplicateTest{Seconds: 7 * 24 * 3600}
	err := LoadSpec(s, &Spec{Tags: map[string]SpecTag{
		"handle":   {NeedsValue: true, MinStrCount: 1, MaxStrCount: 1, MatchStr: func(v []string) { t.Handle = v[0] }},
		"header":   {NeedsValue: true, MinStrCount: 1, MaxStrCount: 1, MatchStr: func(v []string) { t.Header = v[0] }},
		"uniqueid": {NeedsValue: true, MinStrCount: 1, MaxStrCount: 1, MatchStr: func(v []string) { t.UniqueID = v[0] }},
		"seconds":  {NeedsValue: true, MatchNum: func(v int) { t.Seconds = v }},
		"last":     {MatchBool: func() { t.Last = true }},
	}}, test.Position, test.Args, test.Tests, nil)
	if err != nil {
		return nil, err
	}
	if t.Header != "" && t.UniqueID != "" {
		return nil, parser.ErrorAt(test.Position, "duplicate: :header and :uniqueid are exclusive")
	}
	return t, nil
}

// --- environment (RFC 5183) ---

type EnvironmentTest struct {
	matcherTest
	Name string
}

func (t EnvironmentTest) Check(ctx context.Context, d *RuntimeData) (bool, error) {
	v, ok := d.Environment[strings.ToLower(expandVars(d, t.Name))]
	if !ok {
		if t.isCount() {
			return t.countMatches(d, 0), nil
		}
		return false, nil // RFC 5183 section 4.2: unknown item never matches
	}
	if t.isCount() {
		return t.countMatches(d, 1), nil
	}
	return t.matcherTest.tryMatch(ctx, d, v)
}

func loadEnvironmentTest(s *Script, test parser.Test) (Test, error) {
	if !s.RequiresExtension("environment") {
		return nil, parser.ErrorAt(test.Position, "missing require 'environment'")
	}
	loaded := EnvironmentTest{matcherTest: newMatcherTest()}
	var key []string
	err := LoadSpec(s, loaded.addSpecTags(&Spec{Pos: []SpecPosArg{
		{MinStrCount: 1, MaxStrCount: 1, MatchStr: func(val []string) { loaded.Name = val[0] }},
		{MinStrCount: 1, MatchStr: func(val []string) { key = val }},
	}}), test.Position, test.Args, test.Tests, nil)
	if err != nil {
		return nil, err
	}
	if err := loaded.setKey(s, key); err != nil {
		return nil, err
	}
	return loaded, nil
}

// --- index (RFC 5260 section 6) for header and address ---

// fieldIndex is the :index / :last of the header and address tests.
type fieldIndex struct {
	Index int // 1-based; 0 = every field
	Last  bool
}

func (f *fieldIndex) addIndexTags(spec *Spec) *Spec {
	if spec.Tags == nil {
		spec.Tags = map[string]SpecTag{}
	}
	spec.Tags["index"] = SpecTag{NeedsValue: true, MatchNum: func(v int) { f.Index = v }}
	spec.Tags["last"] = SpecTag{MatchBool: func() { f.Last = true }}
	return spec
}

func (f *fieldIndex) check(s *Script) error {
	if (f.Index > 0 || f.Last) && !s.RequiresExtension("index") {
		return fmt.Errorf("missing require 'index' for :index/:last")
	}
	if f.Last && f.Index == 0 {
		return fmt.Errorf(":last requires :index")
	}
	return nil
}

// pick returns the field the index names, or all of them without one.
func (f fieldIndex) pick(values []string) []string {
	if f.Index <= 0 {
		return values
	}
	i := f.Index - 1
	if f.Last {
		i = len(values) - f.Index
	}
	if i < 0 || i >= len(values) {
		return nil
	}
	return values[i : i+1]
}
