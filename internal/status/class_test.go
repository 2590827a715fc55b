package status

import (
	"errors"
	"fmt"
	"testing"

	"maildeliver/internal/maildir"
	"maildeliver/internal/privilege"
	"maildeliver/internal/quota"
)

// The class comes from the codes, never from the reason or the exit code,
// and the zero value is temporary.
func TestClass(t *testing.T) {
	var zero Class
	if zero != Temporary {
		t.Fatalf("zero Class = %v", zero)
	}
	for _, tc := range []struct {
		enh  Enhanced
		want Class
	}{
		{"5.1.1", Permanent}, {"4.2.2", Temporary}, {"2.0.0", Success},
		{"", Temporary}, {"5.1", Temporary}, {"6.0.0", Temporary}, {"5.1000.1", Temporary}, {"55.1.1", Temporary},
	} {
		if got := tc.enh.Class(); got != tc.want {
			t.Errorf("Enhanced(%q).Class() = %v, want %v", tc.enh, got, tc.want)
		}
	}
	for _, tc := range []struct {
		e    *Error
		want Class
	}{
		{nil, Temporary}, {&Error{}, Temporary}, {UserUnknown("a@b"), Permanent},
		{&Error{Code: 451, Enhanced: "5.1.1"}, Temporary}, {&Error{Code: 550, Enhanced: "4.1.1"}, Temporary},
		{&Error{Code: 250, Enhanced: "2.0.0"}, Temporary}, // a failure is never a success
		{NestedMail(), Permanent},
	} {
		if got := tc.e.Class(); got != tc.want {
			t.Errorf("%+v.Class() = %v, want %v", tc.e, got, tc.want)
		}
	}
}

// Reply renders one consistent pair; ReplyLine is the same as text.
func TestReply(t *testing.T) {
	for _, tc := range []struct {
		e    *Error
		line string
	}{
		{UserUnknown("a@b"), "550 5.1.1 <a@b>: user unknown"},
		{OverQuota("a@b", QuotaDefer), "452 4.2.2 <a@b>: mailbox is full"},
		{&Error{Code: 552, Enhanced: "4.2.2", Reason: "x"}, "451 4.2.2 x"},
		{&Error{Code: 452, Enhanced: "5.2.2", Reason: "x"}, "452 4.2.2 x"},
		{&Error{Code: 250, Enhanced: "2.0.0", Reason: "x"}, "451 4.3.0 x"},
		{&Error{Code: 451, Enhanced: "2.0.0", Reason: "x"}, "451 4.3.0 x"},
		{&Error{Reason: "x"}, "451 4.3.0 x"},
		{nil, "451 4.3.0 internal error, message queued for retry"},
		{NoMail(), "503 5.5.1 MAIL first"},
		{TooManyConnections(), "421 4.3.2 too many connections, try again later"},
	} {
		if got := tc.e.ReplyLine(); got != tc.line {
			t.Errorf("%+v: ReplyLine() = %q, want %q", tc.e, got, tc.line)
		}
	}
}

// From is the one classifier: the lower packages' errors get their
// public reason and a temporary code, wrapped or not.
func TestFromDomainErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		enh    Enhanced
		reason string
	}{
		{privilege.ErrUIDMismatch, "4.3.0", "mailbox belongs to another uid than this process"},
		{fmt.Errorf("x: %w", privilege.ErrSwitch), "4.3.0", "cannot switch to the mailbox owner"},
		{fmt.Errorf("x: %w", maildir.ErrNotOwner), "4.3.0", "mailbox directory owned by another uid"},
		{maildir.ErrSymlink, "4.3.0", "symbolic link in the mailbox refused"},
		{maildir.ErrBadPath, "4.3.0", "bad mailbox location"},
		{fmt.Errorf("x: %w", quota.ErrLocked), "4.2.0", "mailbox is locked, try again later"},
	} {
		st := From(tc.err)
		if st.Enhanced != tc.enh || st.Reason != tc.reason || !st.Temporary() || !errors.Is(st, tc.err) {
			t.Errorf("From(%v) = %+v, want %s %q", tc.err, st, tc.enh, tc.reason)
		}
	}
}
