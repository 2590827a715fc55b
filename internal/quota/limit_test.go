package quota

import (
	"math"
	"reflect"
	"testing"
)

func TestParseRule(t *testing.T) {
	const (
		k = int64(1) << 10
		m = int64(1) << 20
		g = int64(1) << 30
	)
	tests := []struct {
		rule    string
		want    Limit
		wantErr bool
	}{
		{rule: "", want: Limit{}},
		{rule: "*:storage=1G", want: Limit{Bytes: g}},
		{rule: "*:storage=500M", want: Limit{Bytes: 500 * m}},
		{rule: "*:storage=1000", want: Limit{Bytes: 1000 * k}}, // kilobytes without a unit
		{rule: "*:storage=100B", want: Limit{Bytes: 100}},
		{rule: "*:storage=2k", want: Limit{Bytes: 2 * k}},
		{rule: "*:storage=1GB", want: Limit{Bytes: g}},
		{rule: "*:storage=1GiB", want: Limit{Bytes: g}},
		{rule: "*:storage=1g", want: Limit{Bytes: g}},
		{rule: "*:storage=2T", want: Limit{Bytes: 2 << 40}},
		{rule: "*:bytes=12345", want: Limit{Bytes: 12345}},
		{rule: "*:bytes=1k", want: Limit{Bytes: k}},
		{rule: "*:bytes=1M", want: Limit{Bytes: m}},
		{rule: "*:messages=1000", want: Limit{Messages: 1000}},
		{rule: "*:messages=1k", want: Limit{Messages: 1024}},
		{rule: "*:storage=1G:messages=1000", want: Limit{Bytes: g, Messages: 1000}},
		{rule: "*:storage=1G *:messages=10", want: Limit{Bytes: g, Messages: 10}},
		{rule: "*:storage=1G,*:messages=10", want: Limit{Bytes: g, Messages: 10}},
		{rule: "*:storage=1G, *:messages=10", want: Limit{Bytes: g, Messages: 10}},
		{rule: "*:storage=1G *:storage=2G", want: Limit{Bytes: 2 * g}},
		{rule: "*:storage=0", want: Limit{}},
		{rule: "*:ignore", want: Limit{}},
		{rule: "*:storage=1G *:ignore", want: Limit{}},
		{rule: "?:storage=1M", want: Limit{Bytes: m}},
		{rule: "*:backend=1000000S,1000C", want: Limit{Bytes: 1000000, Messages: 1000}},
		{rule: "*:backend=1000S", want: Limit{Bytes: 1000}},
		{rule: "*:backend=NOQUOTA", want: Limit{}},
		{rule: "*:backend=1000S,10C *:messages=5", want: Limit{Bytes: 1000, Messages: 5}},
		{rule: "*:storage=1G Trash:storage=+100M", want: Limit{Bytes: g}},
		{rule: "*:storage=1G Trash:ignore Spam:ignore", want: Limit{Bytes: g}},
		{rule: "  *:storage=1G\t", want: Limit{Bytes: g}},

		{rule: "storage=1G", wantErr: true},
		{rule: ":storage=1G", wantErr: true},
		{rule: "*:", wantErr: true},
		{rule: "*:storage", wantErr: true},
		{rule: "*:storage=", wantErr: true},
		{rule: "*:storage=abc", wantErr: true},
		{rule: "*:storage=1X", wantErr: true},
		{rule: "*:storage=1Gfoo", wantErr: true},
		{rule: "*:storage= 1G", wantErr: true},
		{rule: "*:storage=-1", wantErr: true},
		{rule: "*:storage=+1G", wantErr: true},
		{rule: "*:storage=10%", wantErr: true},
		{rule: "*:size=1G", wantErr: true},
		{rule: "*:storage=1G,foo", wantErr: true},
		{rule: "*:storage=99999999999999999999", wantErr: true},
		{rule: "*:storage=9007199254740993", wantErr: true}, // overflows after *1024
		{rule: "*:backend=1000X", wantErr: true},
		{rule: "*:backend=", want: Limit{}},
		{rule: "Trash:", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseRule(tt.rule)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseRule(%q) = %+v, want error", tt.rule, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tt.rule, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRule(%q) = %+v, want %+v", tt.rule, got, tt.want)
		}
	}
}

func TestLimitString(t *testing.T) {
	tests := []struct {
		l    Limit
		want string
	}{
		{Limit{}, "0S"},
		{Limit{Bytes: 1073741824}, "1073741824S"},
		{Limit{Messages: 1000}, "1000C"},
		{Limit{Bytes: 1073741824, Messages: 1000}, "1073741824S,1000C"},
	}
	for _, tt := range tests {
		if got := tt.l.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.l, got, tt.want)
		}
		back, err := parseDefinition(tt.want)
		if err != nil || back != tt.l {
			t.Errorf("parseDefinition(%q) = %+v, %v; want %+v", tt.want, back, err, tt.l)
		}
	}
}

func TestParseDefinition(t *testing.T) {
	tests := []struct {
		in      string
		want    Limit
		wantErr bool
	}{
		{in: "", want: Limit{}},
		{in: "0S", want: Limit{}},
		{in: "10000000S,1000C", want: Limit{Bytes: 10000000, Messages: 1000}},
		{in: "1000C,5S", want: Limit{Bytes: 5, Messages: 1000}},
		{in: "1000S,0C", want: Limit{Bytes: 1000}},
		{in: "S", wantErr: true},
		{in: "1000", wantErr: true},
		{in: "1000s", wantErr: true},
		{in: "1000S,", wantErr: true},
		{in: "-5S", wantErr: true},
		{in: "1000S 10C", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseDefinition(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseDefinition(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestUnlimited(t *testing.T) {
	for _, tt := range []struct {
		l    Limit
		want bool
	}{
		{Limit{}, true},
		{Limit{Bytes: 1}, false},
		{Limit{Messages: 1}, false},
	} {
		if got := tt.l.Unlimited(); got != tt.want {
			t.Errorf("%+v.Unlimited() = %v", tt.l, got)
		}
	}
}

func TestGraceBytes(t *testing.T) {
	tests := []struct {
		l    Limit
		g    Grace
		want int64
	}{
		{Limit{Bytes: 1000}, Grace{}, 0},
		{Limit{Bytes: 1000}, Grace{Percent: 10}, 100},
		{Limit{Bytes: 1005}, Grace{Percent: 10}, 100}, // rounded down
		{Limit{Bytes: 1000}, Grace{Bytes: 7}, 7},
		{Limit{Messages: 10}, Grace{Bytes: 7}, 0}, // no byte limit, no grace
		{Limit{Bytes: 1 << 59}, Grace{Percent: 1000}, (1 << 59) / 100 * 1000},
		{Limit{Bytes: 1 << 62}, Grace{Percent: 1000}, math.MaxInt64},
		{Limit{Bytes: 1000, Grace: &Grace{Bytes: 3}}, Grace{Percent: 10}, 3}, // the user's own wins
	}
	for _, tt := range tests {
		if got := graceBytes(tt.l, tt.g); got != tt.want {
			t.Errorf("graceBytes(%+v, %+v) = %d, want %d", tt.l, tt.g, got, tt.want)
		}
	}
}
