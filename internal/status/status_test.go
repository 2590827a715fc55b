package status

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

// Every constructor's codes agree with each other and with SPEC's table.
func TestOutcomes(t *testing.T) {
	for _, tc := range []struct {
		e          *Error
		code       int
		enh        string
		exit       int
		temporary  bool
		reasonPart string
	}{
		{UserUnknown("bob@example.org"), 550, "5.1.1", 67, false, "<bob@example.org>: user unknown"},
		{Loop("a@b"), 554, "5.4.6", 65, false, "loop"},
		{BadRecipient("x"), 501, "5.1.3", 65, false, ""},
		{BadSender("x"), 501, "5.1.7", 65, false, ""},
		{OverQuota("a@b", QuotaBounce), 552, "5.2.2", 73, false, "full"},
		{OverQuota("a@b", QuotaDefer), 452, "4.2.2", 75, true, "full"},
		{TooBig(), 552, "5.2.3", 73, false, ""},
		{TooBigLMTP(), 552, "5.3.4", 73, false, ""},
		{TooManyRecipients(), 452, "4.5.3", 75, true, ""},
		{Usage("bad flag"), 451, "4.3.5", 75, true, "bad flag"},
		{Temp("db down"), 451, "4.3.0", 75, true, "db down"},
		{Rejected("not wanted\r\nX-Evil: 1"), 550, "5.7.1", 77, false, "not wanted  X-Evil: 1"},
		{Rejected(""), 550, "5.7.1", 77, false, "message rejected"},
	} {
		if tc.e.Code != tc.code || string(tc.e.Enhanced) != tc.enh || tc.e.Exit != tc.exit || tc.e.Temporary() != tc.temporary ||
			!strings.Contains(tc.e.Reason, tc.reasonPart) {
			t.Errorf("%+v: want %d %s exit %d temporary %v", tc.e, tc.code, tc.enh, tc.exit, tc.temporary)
		}
		if (tc.code >= 500) != (tc.enh[0] == '5') {
			t.Errorf("%s: SMTP code %d and enhanced class disagree", tc.enh, tc.code)
		}
		if !strings.HasPrefix(tc.e.DSN(), tc.enh+" ") {
			t.Errorf("DSN %q", tc.e.DSN())
		}
	}
}

// From: anything unknown is temporary; errno values get their codes; an
// *Error anywhere in the chain wins; the detail never reaches the reason.
func TestFrom(t *testing.T) {
	if From(nil) != nil {
		t.Fatal("From(nil) != nil")
	}
	pathErr := func(e syscall.Errno) error { return &os.PathError{Op: "write", Path: "/secret/path", Err: e} }
	for _, tc := range []struct {
		err error
		enh string
	}{
		{errors.New("anything"), "4.3.0"},
		{pathErr(syscall.ENOSPC), "4.3.1"},
		{pathErr(syscall.EDQUOT), "4.2.2"},
		{pathErr(syscall.EIO), "4.3.0"},
		{pathErr(syscall.EACCES), "4.3.0"},
		{pathErr(syscall.ELOOP), "4.3.0"},
		{context.DeadlineExceeded, "4.4.7"},
		{fmt.Errorf("lookup: %w", context.DeadlineExceeded), "4.4.7"},
		{context.Canceled, "4.3.0"},
		{fmt.Errorf("wrapped: %w", UserUnknown("x@y")), "5.1.1"},
	} {
		st := From(tc.err)
		if string(st.Enhanced) != tc.enh {
			t.Errorf("From(%v) = %s, want %s", tc.err, st.Enhanced, tc.enh)
		}
		if strings.Contains(st.Reason, "/secret/path") {
			t.Errorf("detail in public reason: %q", st.Reason)
		}
		if st.Enhanced[0] == '4' && (st.Code < 400 || st.Code >= 500 || st.Exit != ExitTempFail) {
			t.Errorf("temporary %s with code %d exit %d", st.Enhanced, st.Code, st.Exit)
		}
	}
}
