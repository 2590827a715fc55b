package delivery

import (
	"reflect"
	"testing"

	"maildeliver/internal/lookup"
	"maildeliver/internal/quota"
)

func TestLimitFor(t *testing.T) {
	user := func(rule string, b, n int64) *lookup.User {
		return &lookup.User{QuotaRule: rule, QuotaBytes: b, QuotaMessages: n}
	}
	tests := []struct {
		name    string
		u       *lookup.User
		def     string
		want    quota.Limit
		wantErr bool
	}{
		{name: "rule wins over columns and default", u: user("*:storage=1M", 5, 6), def: "1G", want: quota.Limit{Bytes: 1 << 20}},
		{name: "columns win over default", u: user("", 5000, 7), def: "1G", want: quota.Limit{Bytes: 5000, Messages: 7}},
		{name: "bytes column only", u: user("", 5000, -1), def: "1G", want: quota.Limit{Bytes: 5000}},
		{name: "messages column only", u: user("", -1, 7), def: "1G", want: quota.Limit{Messages: 7}},
		{name: "zero column is unlimited, not the default", u: user("", 0, -1), def: "1G", want: quota.Limit{}},
		{name: "default", u: user("", -1, -1), def: "1G", want: quota.Limit{Bytes: 1 << 30}},
		{name: "blank rule falls through", u: user("  ", -1, -1), def: "10M", want: quota.Limit{Bytes: 10 << 20}},
		{name: "no default is unlimited", u: user("", -1, -1), def: "", want: quota.Limit{}},
		{name: "nil user gets default", u: nil, def: "2k", want: quota.Limit{Bytes: 2048}},
		{name: "bad rule", u: user("*:storage=lots", -1, -1), wantErr: true},
		{name: "negative column", u: user("", -5, -1), wantErr: true},
		{name: "bad default", u: user("", -1, -1), def: "1 parsec", wantErr: true},
		{name: "per-user grace", u: &lookup.User{QuotaBytes: 1000, QuotaMessages: -1, QuotaGrace: "10%"},
			want: quota.Limit{Bytes: 1000, Grace: &quota.Grace{Percent: 10}}},
		{name: "bad per-user grace", u: &lookup.User{QuotaBytes: 1000, QuotaMessages: -1, QuotaGrace: "x"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := limitFor(tt.u, tt.def)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: limitFor = %+v, %v; want %+v, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}
