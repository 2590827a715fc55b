package interp

import (
	"strings"
	"testing"
)

// The allocation-free comparisons of i;ascii-casemap agree with lowering
// both sides (ASCII letters only: "Ä" and "ä" differ, as before).
func TestFoldASCII(t *testing.T) {
	values := []string{"", "a", "A", "Invoice", "INVOICE no. 7", "Re: [TICKET #12] Rechnung", "Buchungsbestätigung", "BUCHUNGSBESTäTIGUNG", "ÄÖÜ äöü", "x-spam-flag: YES", "aaAab"}
	keys := []string{"", "a", "invoice", "Rechnung", "bestätigung", "BESTÄTIGUNG", "äöü", "yes", "aab", "ticket #"}
	for _, v := range values {
		for _, k := range keys {
			if got, want := containsFoldASCII(v, k), strings.Contains(toLowerASCII(v), toLowerASCII(k)); got != want {
				t.Errorf("containsFoldASCII(%q, %q) = %v, want %v", v, k, got, want)
			}
			if got, want := equalFoldASCII(v, k), toLowerASCII(v) == toLowerASCII(k); got != want {
				t.Errorf("equalFoldASCII(%q, %q) = %v, want %v", v, k, got, want)
			}
		}
		if !equalFoldASCII(v, strings.ToUpper(v)) && strings.ToUpper(v) == toUpperASCIIOnly(v) {
			t.Errorf("equalFoldASCII(%q, upper) = false", v)
		}
	}
}

func toUpperASCIIOnly(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
