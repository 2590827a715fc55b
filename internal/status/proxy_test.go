package status

import "testing"

// Backend relays a backend's reply deliberately: its 5xx stays permanent,
// its 4xx temporary, and nothing else can become a bounce.
func TestBackend(t *testing.T) {
	for _, tc := range []struct {
		code int
		enh  [3]int
		line string
	}{
		{550, [3]int{5, 1, 1}, "550 5.1.1 <u> user unknown (backend b:24)"},
		{552, [3]int{5, 2, 2}, "552 5.2.2 <u> user unknown (backend b:24)"},
		{452, [3]int{4, 2, 2}, "452 4.2.2 <u> user unknown (backend b:24)"},
		{451, [3]int{}, "451 4.0.0 <u> user unknown (backend b:24)"},
		{421, [3]int{4, 3, 2}, "451 4.3.2 <u> user unknown (backend b:24)"},
		{554, [3]int{}, "554 5.0.0 <u> user unknown (backend b:24)"},
		{550, [3]int{4, 2, 2}, "451 4.2.2 <u> user unknown (backend b:24)"},
		{450, [3]int{5, 1, 1}, "451 4.1.1 <u> user unknown (backend b:24)"},
		{250, [3]int{2, 0, 0}, "451 4.4.2 <u> user unknown (backend b:24)"},
		{354, [3]int{}, "451 4.4.2 <u> user unknown (backend b:24)"},
		{0, [3]int{}, "451 4.4.2 <u> user unknown (backend b:24)"},
	} {
		if got := Backend("b:24", tc.code, tc.enh, "<u> user unknown\r\n").ReplyLine(); got != tc.line {
			t.Errorf("Backend(%d, %v) = %q, want %q", tc.code, tc.enh, got, tc.line)
		}
	}
}
