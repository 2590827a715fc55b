package quota

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestParseFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    contents
		wantErr bool
	}{
		{name: "dovecot after recalc", in: "1073741824S\n2800 4\n",
			want: contents{limit: Limit{Bytes: 1 << 30}, usage: Usage{2800, 4}, lines: 1}},
		{name: "appends and removals", in: "1000S,10C\n100 2\n50 1\n-30 -1\n",
			want: contents{limit: Limit{Bytes: 1000, Messages: 10}, usage: Usage{120, 2}, lines: 3}},
		{name: "courier padding", in: "10000000S\n        2800            4\n         300            1\n",
			want: contents{limit: Limit{Bytes: 10000000}, usage: Usage{3100, 5}, lines: 2}},
		{name: "unlimited", in: "0S\n5 1\n", want: contents{usage: Usage{5, 1}, lines: 1}},
		{name: "count only", in: "7C\n5 1\n", want: contents{limit: Limit{Messages: 7}, usage: Usage{5, 1}, lines: 1}},
		{name: "torn last line ignored", in: "1000S\n100 2\n50",
			want: contents{limit: Limit{Bytes: 1000}, usage: Usage{100, 2}, lines: 1}},
		{name: "tabs", in: "1000S\n100\t2\n", want: contents{limit: Limit{Bytes: 1000}, usage: Usage{100, 2}, lines: 1}},

		{name: "empty", in: "", wantErr: true},
		{name: "header only", in: "1000S\n", wantErr: true},
		{name: "no newline at all", in: "1000S", wantErr: true},
		{name: "bad header", in: "lots\n1 1\n", wantErr: true},
		{name: "blank usage line", in: "1000S\n1 1\n\n2 1\n", wantErr: true},
		{name: "one field", in: "1000S\n100\n", wantErr: true},
		{name: "three fields", in: "1000S\n100 1 1\n", wantErr: true},
		{name: "garbage", in: "1000S\n100 one\n", wantErr: true},
		{name: "plus sign", in: "1000S\n+100 1\n", wantErr: true},
		{name: "negative total", in: "1000S\n10 1\n-20 -1\n", wantErr: true},
		{name: "negative count", in: "1000S\n10 1\n0 -2\n", wantErr: true},
		{name: "NUL", in: "1000S\n10 1\n\x00\n", wantErr: true},
		{name: "overflow", in: "1000S\n9223372036854775807 1\n1 1\n", wantErr: true},
		{name: "number too big", in: "1000S\n99999999999999999999 1\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseFile([]byte(tt.in))
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: parseFile(%q) = %+v, want error", tt.name, tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: parseFile(%q) = %+v, %v; want %+v", tt.name, tt.in, got, err, tt.want)
		}
	}
}

func TestFileContentsRoundTrip(t *testing.T) {
	l := Limit{Bytes: 1 << 30, Messages: 1000}
	u := Usage{Bytes: 123456, Messages: 78}
	data := fileContents(l, u)
	if want := "1073741824S,1000C\n123456 78\n"; string(data) != want {
		t.Fatalf("fileContents = %q, want %q", data, want)
	}
	data = append(data, usageLine(-456, -8)...)
	c, err := parseFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := (contents{limit: l, usage: Usage{123000, 70}, lines: 2}); c != want {
		t.Fatalf("parseFile = %+v, want %+v", c, want)
	}
}

func TestSizeFromName(t *testing.T) {
	tests := []struct {
		name string
		size int64
		ok   bool
	}{
		{"1700000000.M1P2Q3.host,S=1500", 1500, true},
		{"1700000000.M1P2Q3.host,S=1500:2,S", 1500, true},
		{"1700000000.M1P2Q3.host,S=1500,W=1530:2,S", 1500, true},
		{"1700000000.M1P2Q3.host:2,S", 0, false},
		{"1700000000.M1P2Q3.host,S=15x00", 0, false},
		{"1700000000.M1P2Q3.host,S=:2,", 0, false},
		{"1700000000.M1P2Q3.host,S=99999999999999999999999", 0, false},
		{"a,S=1,S=2", 1, true},
	}
	for _, tt := range tests {
		size, ok := sizeFromName(tt.name)
		if size != tt.size || ok != tt.ok {
			t.Errorf("sizeFromName(%q) = %d, %v; want %d, %v", tt.name, size, ok, tt.size, tt.ok)
		}
	}
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"*:storage=1G", "*:messages=1000", "*:bytes=1k:messages=1",
		"*:ignore", "*:backend=100S,10C", "?:storage=1M Trash:storage=+100M", "*:storage=1G,*:messages=5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rule string) {
		l, err := ParseRule(rule)
		if err != nil {
			return
		}
		if l.Bytes < 0 || l.Messages < 0 {
			t.Fatalf("ParseRule(%q) = %+v: negative limit", rule, l)
		}
		// Every limit can be written to maildirsize and read back.
		back, err := parseDefinition(l.String())
		if err != nil || back != l {
			t.Fatalf("ParseRule(%q) = %+v; definition %q reads back as %+v, %v", rule, l, l.String(), back, err)
		}
		// The same limit written as a rule parses to itself.
		again, err := ParseRule("*:bytes=" + strconv.FormatInt(l.Bytes, 10) + ":messages=" + strconv.FormatInt(l.Messages, 10))
		if err != nil || again != l {
			t.Fatalf("ParseRule(%q) = %+v; rewritten rule gives %+v, %v", rule, l, again, err)
		}
	})
}

func FuzzParseFile(f *testing.F) {
	for _, s := range []string{"1073741824S\n2800 4\n", "1000S,10C\n100 2\n-50 -1\n",
		"10000000S\n        2800            4\n", "0S\n0 0\n", "1000S\n100 2\n50", "1000S\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseFile(data)
		if err != nil {
			return
		}
		if c.usage.Bytes < 0 || c.usage.Messages < 0 || c.lines < 1 {
			t.Fatalf("parseFile(%q) = %+v", data, c)
		}
		// Appending a well-formed line adds exactly that line.
		complete := data[:bytes.LastIndexByte(data, '\n')+1]
		more, err := parseFile(append(complete[:len(complete):len(complete)], usageLine(1, 1)...))
		if c.usage.Bytes < math.MaxInt64 && c.usage.Messages < math.MaxInt64 && (err != nil || more.usage != (Usage{c.usage.Bytes + 1, c.usage.Messages + 1}) || more.lines != c.lines+1) {
			t.Fatalf("parseFile(%q) = %+v; after one append %+v, %v", data, c, more, err)
		}
		// What we write, we read back.
		re, err := parseFile(fileContents(c.limit, c.usage))
		if err != nil || re.limit != c.limit || re.usage != c.usage || re.lines != 1 {
			t.Fatalf("rewrite of %+v reads back as %+v, %v", c, re, err)
		}
		if strings.Contains(string(data), "\x00") {
			t.Fatalf("parseFile accepted a NUL byte: %q", data)
		}
	})
}
