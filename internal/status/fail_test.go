package status

import (
	"bytes"
	"testing"
)

// TestFailNeverZero: whatever Fail is handed, it never returns exit 0 and
// its line starts with the class the exit code says (the zero Error used
// to exit 0, which pipe(8) takes for a delivery).
func TestFailNeverZero(t *testing.T) {
	for _, tc := range []struct {
		st   *Error
		exit int
		line string
	}{
		{nil, 75, "4.3.0 internal error, message queued for retry\n"},
		{&Error{}, 75, "4.3.0 temporary failure\n"},
		{&Error{Code: 550, Enhanced: "5.1.1", Reason: "r"}, 75, "4.1.1 r\n"},
		{UserUnknown("a@b"), 67, "5.1.1 <a@b>: user unknown\n"},
		{Temp("x"), 75, "4.3.0 x\n"},
	} {
		var b bytes.Buffer
		if got := Fail(&b, tc.st); got != tc.exit || b.String() != tc.line {
			t.Errorf("Fail(%+v) = %d %q, want %d %q", tc.st, got, b.String(), tc.exit, tc.line)
		}
	}
}
