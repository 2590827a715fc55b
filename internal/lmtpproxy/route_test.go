package lmtpproxy

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/status"
	"maildeliver/internal/trace"
)

// CheckBackend is the one gate between a userdb row and a connection:
// an IP address or a DNS name, a port in range, nothing else.
func TestCheckBackend(t *testing.T) {
	for _, tc := range []struct {
		host, port, want string
	}{
		{"10.0.0.2", "", "10.0.0.2:24"},
		{"10.0.0.2", "2424", "10.0.0.2:2424"},
		{"[2001:db8::1]", "24", "[2001:db8::1]:24"},
		{"2001:db8::1", "", "[2001:db8::1]:24"},
		{"::ffff:10.0.0.2", "", "10.0.0.2:24"},
		{"Backend-1.Example.ORG.", "25", "backend-1.example.org:25"},
	} {
		b, err := CheckBackend(tc.host, tc.port)
		if err != nil || b.Addr() != tc.want {
			t.Errorf("CheckBackend(%q, %q) = %v, %v; want %s", tc.host, tc.port, b, err, tc.want)
		}
	}
	for _, tc := range []struct{ host, port string }{
		{"/run/dovecot/lmtp", ""}, {"unix:/x", ""}, {"10.0.0.2:24", ""}, {"user@host", ""},
		{"host name", ""}, {"-bad.example", ""}, {"a..b", ""}, {"", ""}, {"fe80::1%eth0", ""},
		{strings.Repeat("a", 64) + ".example", ""}, {"h\x00", ""}, {"h\r\nX: y", ""},
		{"10.0.0.2", "0"}, {"10.0.0.2", "65536"}, {"10.0.0.2", "24x"}, {"10.0.0.2", "-1"},
	} {
		if b, err := CheckBackend(tc.host, tc.port); err == nil {
			t.Errorf("CheckBackend(%q, %q) = %v, want an error", tc.host, tc.port, b)
		}
	}
}

// Route: the decision table of Dovecot's fields, with this lmtpd at
// 127.0.0.1:2424.
func TestRoute(t *testing.T) {
	r := NewRouter(config.LMTP{Listen: []string{"tcp:127.0.0.1:2424"}, ProxySelf: []string{"192.0.2.7"}}, nil)
	for _, tc := range []struct {
		name              string
		u                 lookup.User
		ttl               int
		remote            string // "" = here
		enh, reasonSubstr string // error
	}{
		{name: "no fields", u: lookup.User{}},
		{name: "host alone", u: lookup.User{Host: "10.0.0.2"}},
		{name: "proxy_maybe elsewhere", u: lookup.User{Host: "10.0.0.2", ProxyMaybe: "y"}, remote: "10.0.0.2:24"},
		{name: "proxy_maybe self", u: lookup.User{Host: "127.0.0.1", Port: "2424", ProxyMaybe: "Y"}},
		{name: "proxy_maybe proxy_self", u: lookup.User{Host: "192.0.2.7", Port: "2424", ProxyMaybe: "yes"}},
		{name: "proxy_maybe self other port", u: lookup.User{Host: "127.0.0.1", Port: "2425", ProxyMaybe: "y"}, remote: "127.0.0.1:2425"},
		{name: "proxy n", u: lookup.User{Host: "10.0.0.2", Proxy: "n"}},
		{name: "proxy boolean column", u: lookup.User{Host: "10.0.0.2", Proxy: "true"}, remote: "10.0.0.2:24"},
		{name: "proxy self", u: lookup.User{Host: "127.0.0.1", Port: "2424", Proxy: "y"}, enh: "4.4.6", reasonSubstr: "to itself"},
		{name: "ttl 0", u: lookup.User{Host: "10.0.0.2", Proxy: "y"}, ttl: 0, enh: "4.4.6", reasonSubstr: "TTL=0"},
		{name: "ttl 0, here", u: lookup.User{Host: "127.0.0.1", Port: "2424", ProxyMaybe: "y"}, ttl: 0},
		{name: "no host", u: lookup.User{Proxy: "y"}, enh: "4.3.5"},
		{name: "bad flag", u: lookup.User{Host: "10.0.0.2", Proxy: "maybe"}, enh: "4.3.5"},
		{name: "bad host", u: lookup.User{Host: "/tmp/s", ProxyMaybe: "y"}, enh: "4.3.5"},
	} {
		ttl := tc.ttl
		if tc.name != "ttl 0" && tc.name != "ttl 0, here" {
			ttl = -1
		}
		got, err := r.Route(context.Background(), "a@b", &tc.u, ttl)
		var st *status.Error
		switch {
		case tc.enh != "":
			if !errors.As(err, &st) || string(st.Enhanced) != tc.enh || !st.Temporary() || !strings.Contains(st.Reason, tc.reasonSubstr) {
				t.Errorf("%s: %v, want %s", tc.name, err, tc.enh)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.remote == "" && got.Remote, tc.remote != "" && (!got.Remote || got.Backend.Addr() != tc.remote):
			t.Errorf("%s: %+v, want %q", tc.name, got, tc.remote)
		}
	}
}

// Explain says what lmtpd would do with a row, for deliver -explain.
func TestExplain(t *testing.T) {
	var steps []string
	ctx := trace.With(context.Background(), func(step, text string) { steps = append(steps, step+": "+text) })
	c := config.LMTP{Proxy: true, Listen: []string{"unix:/x"}}
	Explain(ctx, c, "a@b", &lookup.User{Host: "10.0.0.2", Port: "2424", ProxyMaybe: "y"})
	if got := strings.Join(steps, "\n"); !strings.Contains(got, "forwards it to 10.0.0.2:2424") {
		t.Errorf("steps:\n%s", got)
	}
	if d := Describe(c); !strings.Contains(d, "no tcp: listener") {
		t.Errorf("Describe = %q", d)
	}
}

// FuzzCheckBackend: whatever a row holds, an accepted backend is a host
// without anything a dialer would read as a path, a second port or a
// zone, and a port in range.
func FuzzCheckBackend(f *testing.F) {
	for _, s := range [][2]string{{"10.0.0.2", ""}, {"[::1]", "24"}, {"mx.example", "2424"}, {"/tmp/x", ""},
		{"a:b", "1"}, {"fe80::1%lo", ""}, {"é.example", ""}, {"10.0.0.2", "065535"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, host, port string) {
		b, err := CheckBackend(host, port)
		if err != nil {
			return
		}
		if b.Port < 1 || b.Port > 65535 || b.Host == "" || strings.ContainsAny(b.Host, "/%@ \t\r\n\x00[]") {
			t.Fatalf("CheckBackend(%q, %q) = %+v", host, port, b)
		}
		h, p, err := net.SplitHostPort(b.Addr())
		if err != nil || h != b.Host || p != strconv.Itoa(b.Port) {
			t.Fatalf("Addr %q of %+v does not split back: %v", b.Addr(), b, err)
		}
	})
}

// What a backend said is relayed without the parts lmtpd's reply adds
// again (Dovecot's and lmtpd's success texts as go-smtp's client gives
// them).
func TestWithoutRcpt(t *testing.T) {
	for in, want := range map[string]string{
		"2.0.0 <a@b> /Hp2Nm0MD2vAVgAAg+zDdQ Saved": "/Hp2Nm0MD2vAVgAAg+zDdQ Saved",
		"2.0.0 <a@b> saved as nmhq":                "saved as nmhq",
		"<a@b> user unknown [x]":                   "user unknown [x]",
		"<c@d> other":                              "<c@d> other",
		"2.0 ok":                                   "2.0 ok",
	} {
		if got := withoutRcpt(in, "a@b"); got != want {
			t.Errorf("withoutRcpt(%q) = %q, want %q", in, got, want)
		}
	}
}
