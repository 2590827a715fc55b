package status

import (
	"strings"
	"testing"
)

// TestSpecTable is SPEC's two tables, every row: the deliver exit code and
// the line it prints, and the LMTP reply code, for each outcome; then the
// same for values that are not well formed, which all end temporary.
func TestSpecTable(t *testing.T) {
	for _, tc := range []struct {
		row  string
		e    *Error
		code int    // LMTP reply code
		dsn  string // what deliver's line starts with
		exit int
	}{
		{"unknown user", UserUnknown("bob@example.org"), 550, "5.1.1 <bob@example.org>: user unknown", 67},
		{"mail loop", Loop("a@b"), 554, "5.4.6 ", 65},
		{"over quota, bounce", OverQuota("a@b", QuotaBounce), 552, "5.2.2 ", 73},
		{"over quota, defer", OverQuota("a@b", QuotaDefer), 452, "4.2.2 ", 75},
		{"message over size limit (deliver)", TooBig(), 552, "5.2.3 ", 73},
		{"message over size limit (lmtpd)", TooBigLMTP(), 552, "5.3.4 ", 73},
		{"bad recipient syntax", BadRecipient("x"), 501, "5.1.3 ", 65},
		{"bad sender syntax", BadSender("x"), 501, "5.1.7 ", 65},
		{"bad command line or config", Usage("usage: x"), 451, "4.3.5 usage: x", 75},
		{"too many recipients", TooManyRecipients(), 452, "4.5.3 ", 75},
		{"Sieve reject / ereject", Rejected("go away"), 550, "5.7.1 go away", 77},
		{"anything else", Temp("db down"), 451, "4.3.0 db down", 75},
		{"disk full", TempCode(CodeTempStorage, "4.3.1", "mail system full"), 452, "4.3.1 ", 75},
		// Not well formed: temporary, whatever else they say.
		{"zero value", &Error{}, 0, "4.3.0 temporary failure", 75},
		{"nil", nil, 0, "4.3.0 ", 75},
		{"exit 0 with a bounce code", &Error{Code: 550, Enhanced: "5.1.1", Reason: "x"}, 550, "4.1.1 x", 75},
		{"exit 0 temporary", &Error{Code: 451, Enhanced: "4.3.0", Reason: "x"}, 451, "4.3.0 x", 75},
		{"success codes on an error", &Error{Code: 250, Enhanced: "2.0.0", Reason: "x", Exit: ExitOK}, 250, "4.3.0 x", 75},
		{"bounce exit, temporary code", &Error{Code: 451, Enhanced: "4.3.0", Reason: "x", Exit: ExitNoUser}, 451, "4.3.0 x", 75},
		{"bounce exit, 4xx reply", &Error{Code: 452, Enhanced: "5.2.2", Reason: "x", Exit: ExitCantCreat}, 452, "4.2.2 x", 75},
		{"unknown exit code", &Error{Code: 550, Enhanced: "5.1.1", Reason: "x", Exit: 1}, 550, "4.1.1 x", 75},
		{"bad enhanced code", &Error{Code: 550, Enhanced: "5.1", Reason: "x", Exit: ExitNoUser}, 550, "4.3.0 x", 75},
	} {
		if got := tc.e.ExitCode(); got != tc.exit {
			t.Errorf("%s: exit %d, want %d", tc.row, got, tc.exit)
		}
		if got := tc.e.DSN(); !strings.HasPrefix(got, tc.dsn) {
			t.Errorf("%s: DSN %q, want %q...", tc.row, got, tc.dsn)
		}
		if tc.e != nil && tc.e.Code != tc.code {
			t.Errorf("%s: code %d, want %d", tc.row, tc.e.Code, tc.code)
		}
		// The line and the exit code always agree (pipe(8) reads both).
		if dsn := tc.e.DSN(); (dsn[0] == '5') != (tc.e.ExitCode() != ExitTempFail) {
			t.Errorf("%s: DSN %q disagrees with exit %d", tc.row, dsn, tc.e.ExitCode())
		}
		// Temporary is the reply's class; a failure temporary there is
		// temporary for deliver too (an Exit alone cannot make it bounce).
		if tc.e.ExitCode() == ExitOK || tc.e.Temporary() && tc.e.ExitCode() != ExitTempFail {
			t.Errorf("%s: exit %d, temporary %v", tc.row, tc.e.ExitCode(), tc.e.Temporary())
		}
	}
}
