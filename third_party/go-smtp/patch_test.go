package smtp

import (
	"reflect"
	"strings"
	"testing"
)

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

func TestParseXForward(t *testing.T) {
	known := []string{"NAME", "ADDR", "IDENT"}
	for _, tc := range []struct {
		in   string
		want map[string]string
		ok   bool
	}{
		{"IDENT=4ZfQ1x2abc", map[string]string{"IDENT": "4ZfQ1x2abc"}, true},
		{"name=spike.example ADDR=192.0.2.1", map[string]string{"NAME": "spike.example", "ADDR": "192.0.2.1"}, true},
		{"NAME=[UNAVAILABLE]", map[string]string{"NAME": "[UNAVAILABLE]"}, true},
		{"NAME=a+2Bb", map[string]string{"NAME": "a+b"}, true},
		{"", nil, false},
		{"IDENT", nil, false},
		{"=x", nil, false},
		{"HELO=x", nil, false}, // not advertised
		{"NAME=a+4", nil, false},
		{"NAME=" + strings.Repeat("a", 256), nil, false},
	} {
		got, err := parseXForward(tc.in, known)
		if (err == nil) != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseXForward(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestParseCmdXForward(t *testing.T) {
	for in, want := range map[string][2]string{
		"XFORWARD IDENT=A1\r\n": {"XFORWARD", "IDENT=A1"},
		"xforward  name=a b=c":  {"XFORWARD", "name=a b=c"},
		"XFORWARD":              {"XFORWARD", ""},
		"MAIL FROM:<a@b>":       {"MAIL", "FROM:<a@b>"},
	} {
		cmd, arg, err := parseCmd(in)
		if err != nil || cmd != want[0] || arg != want[1] {
			t.Errorf("parseCmd(%q) = %q, %q, %v", in, cmd, arg, err)
		}
	}
}
