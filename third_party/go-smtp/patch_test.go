package smtp

import "testing"

// Tests for maildeliver's patches (see PATCHES.md).

func TestDecodeTypedAddressNonASCII(t *testing.T) {
	for _, tc := range []struct {
		in, typ, addr string
		ok            bool
	}{
		{"rfc822;jos+C3+A9@example.org", "RFC822", "josé@example.org", true},
		{"rfc822;josé@example.org", "RFC822", "josé@example.org", true},
		{"rfc822;e+3Dmc2@example.com", "RFC822", "e=mc2@example.com", true},
		{"utf-8;jos\\x{E9}@example.org", "UTF-8", "josé@example.org", true},
		{"utf-8;josé@example.org", "UTF-8", "josé@example.org", true},
		{"utf-8;jos+C3+A9@example.org", "UTF-8", "josé@example.org", true},
		{"x400;c+3Dde;a+3D;p+3Dx", "X400", "c=de;a=;p=x", true},
		{"rfc822;a+0Ab@example.org", "RFC822", "a\nb@example.org", true}, // the backend decides
		{"rfc822;a+C3@example.org", "", "", false},                       // not UTF-8
		{"utf-8;a+C3@example.org", "", "", false},
		{"rfc822;a+4@example.org", "", "", false},
		{"rfc822;", "", "", false},
		{"a@example.org", "", "", false},
	} {
		typ, addr, err := decodeTypedAddress(tc.in)
		if (err == nil) != tc.ok || string(typ) != tc.typ || addr != tc.addr {
			t.Errorf("decodeTypedAddress(%q) = %q, %q, %v", tc.in, typ, addr, err)
		}
	}
}
