package sieve

// Tests of the maildeliver patches (PATCHES.md).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"testing"

	"github.com/migadu/go-sieve/interp"
)

type seenSet map[string]bool

func (s seenSet) Seen(_ context.Context, id string, _ int, _ bool) (bool, error) {
	was := s[id]
	s[id] = true
	return was, nil
}

func runPatched(t *testing.T, src string, includes map[string]string, dup interp.DuplicateTracker) (*interp.RuntimeData, error) {
	t.Helper()
	opts := DefaultOptions()
	opts.EnabledExtensions = []string{"fileinto", "envelope", "imap4flags", "variables", "vacation",
		"vacation-seconds", "copy", "reject", "ereject", "include", "duplicate", "environment", "index"}
	opts.Interp.MaxActions = 5
	opts.Interp.Include = func(global bool, name string) (string, []byte, error) {
		key := fmt.Sprintf("%v/%s", global, name)
		s, ok := includes[key]
		if !ok {
			return "", nil, interp.ErrIncludeNotFound
		}
		return key, []byte(s), nil
	}
	s, err := Load(strings.NewReader(src), opts)
	if err != nil {
		return nil, err
	}
	hdr, _ := textproto.NewReader(bufio.NewReader(strings.NewReader(eml))).ReadMIMEHeader()
	d := NewRuntimeData(s, interp.DummyPolicy{}, interp.EnvelopeStatic{From: "from@test.com", To: "to@test.com"},
		interp.MessageStatic{Size: len(eml), Header: hdr})
	d.Environment = map[string]string{"location": "MDA"}
	d.Duplicate = dup
	return d, s.Execute(context.Background(), d)
}

func kinds(d *interp.RuntimeData) string {
	var out []string
	for _, a := range d.Actions {
		s := map[interp.ActionKind]string{interp.ActionKeep: "keep", interp.ActionFileInto: "fileinto:" + a.Mailbox,
			interp.ActionRedirect: "redirect:" + a.Addr, interp.ActionDiscard: "discard",
			interp.ActionReject: "reject:" + a.Reason, interp.ActionVacation: "vacation"}[a.Kind]
		if len(a.Flags) > 0 {
			s += "[" + strings.Join(a.Flags, " ") + "]"
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

func TestPatchedExtensions(t *testing.T) {
	includes := map[string]string{
		"false/flags":  `require "imap4flags"; addflag "Inc";`,
		"true/spam":    `require ["include","fileinto"]; fileinto "G"; return; fileinto "never";`,
		"false/loop-a": `require "include"; include "loop-b";`,
		"false/loop-b": `require "include"; include "loop-a";`,
	}
	for _, c := range []struct{ name, src, want string }{
		{"reject cancels keep", `require "reject"; reject "no";`, "reject:no"},
		{"ereject", `require "ereject"; ereject "no";`, "reject:no"},
		{"flags per fileinto", `require ["fileinto","imap4flags"]; fileinto :flags "A" "x"; fileinto "y"; keep :flags "\\seen";`, "fileinto:x[A],fileinto:y,keep[\\Seen]"},
		{"include once and return", `require ["include","imap4flags"]; include :once "flags"; include :once "flags"; include :global "spam"; keep;`, "fileinto:G[Inc],keep[Inc]"}, // flags are shared with included scripts, as in Pigeonhole,
		{"include optional", `require "include"; include :optional "missing"; keep;`, "keep"},
		{"duplicate", `require ["duplicate","fileinto"]; if duplicate :uniqueid "a" { fileinto "dup"; } if duplicate :uniqueid "a" { fileinto "dup2"; }`, "fileinto:dup2"},
		{"environment", `require ["environment","fileinto"]; if environment "location" "MDA" { fileinto "mda"; } if environment "nope" "" { fileinto "x"; }`, "fileinto:mda"},
		{"vacation seconds", `require ["vacation","vacation-seconds"]; vacation :seconds 60 "away";`, "vacation"},
		{"index", `require ["index","fileinto"]; if header :index 1 :is "to" "roadrunner@acme.example.com" { fileinto "i"; }`, "fileinto:i"},
	} {
		d, err := runPatched(t, c.src, includes, seenSet{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := kinds(d); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if d, _ := runPatched(t, `require ["vacation","vacation-seconds"]; vacation :seconds 60 "away";`, nil, nil); d.Actions[0].Vacation.Seconds != 60 {
		t.Errorf("vacation :seconds: %+v", d.Actions[0].Vacation)
	}
	if _, err := runPatched(t, `require "include"; include "loop-a";`, includes, nil); err == nil || !strings.Contains(err.Error(), "include loop") {
		t.Errorf("include loop: %v", err)
	}
	if _, err := runPatched(t, `require "vacation"; vacation :seconds 5 "x";`, nil, nil); err == nil {
		t.Error(":seconds without vacation-seconds compiled")
	}
	_, err := runPatched(t, `require "fileinto"; fileinto "1"; fileinto "2"; fileinto "3"; fileinto "4"; fileinto "5"; fileinto "6";`, nil, nil)
	if !errors.Is(err, interp.ErrTooManyActions) {
		t.Errorf("action limit: %v", err)
	}
	if d, err := runPatched(t, `require "vacation"; vacation "x";`, nil, nil); err != nil || d.Actions[0].Vacation.Sender != "from@test.com" {
		t.Errorf("vacation: %v", err)
	}
}
