// Package lmtpproxy owns lmtpd's proxy mode ([lmtp] proxy = true): deciding
// from a user's userdb row whether a recipient is delivered here or
// forwarded to another LMTP server (Route), and forwarding one message to
// one backend over LMTP with pooled connections (Pool.Deliver).
//
// The userdb fields are Dovecot's proxy fields, read by name:
//
//	host         backend host: an IP address or a DNS name (nothing else:
//	             no path, no port, no user@)
//	port         backend LMTP port, 1-65535; default 24 (LMTP)
//	proxy        y: forward to host; host naming this very lmtpd is a loop
//	proxy_maybe  y: forward to host unless host is this lmtpd (one of this
//	             machine's addresses or [lmtp] proxy_self, and a port lmtpd
//	             listens on), then deliver here
//
// A row with neither flag is delivered here whatever host says (as
// Dovecot ignores host without proxy). Flags take y/yes/true/1/t/on and
// n/no/false/0/f/off ("" or NULL: unset); Dovecot takes any value of a
// present field as "yes", lmtpd refuses what it cannot read, temporarily.
//
// Every value from the row reaches the network only through CheckBackend,
// the one place that validates host and port: a bad one is a configuration
// error for that recipient (451 4.3.5), never a connection.
//
// Loops: each forwarded transaction carries a hop count, Dovecot's XCLIENT
// TTL= (default 5, decremented per hop); a proxy that receives TTL=0 and
// would forward again refuses the recipient with 451 4.4.6, as it does a
// proxy row that names itself. Dovecot answers 554 5.4.6 there; lmtpd
// defers, as its SPEC asks (a routing mistake must not bounce mail).
package lmtpproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/status"
	"maildeliver/internal/trace"
)

// DefaultPort is LMTP's port (RFC 2033 section 5 leaves it to the site;
// Dovecot's proxy defaults to 24, the port IANA assigned to LMTP).
const DefaultPort = 24

// DefaultTTL is the hop count a proxy sends when it received none
// (Dovecot's LMTP_PROXY_DEFAULT_TTL).
const DefaultTTL = 5

// Backend is a validated LMTP destination.
type Backend struct {
	Host string // IP address (unbracketed) or DNS name, lower case
	Port int
}

// Addr is "host:port" for net.Dial.
func (b Backend) Addr() string { return net.JoinHostPort(b.Host, strconv.Itoa(b.Port)) }

func (b Backend) String() string { return b.Addr() }

// CheckBackend validates a userdb host and port: host an IP address or a
// DNS name of letters, digits, '-' and '.' (RFC 1123 labels, 253 octets
// at most); port "" (24) or 1-65535.
func CheckBackend(host, port string) (Backend, error) {
	b := Backend{Port: DefaultPort}
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return b, fmt.Errorf("host %q: an address with a zone is not accepted", host)
		}
		b.Host = a.Unmap().String()
	} else if checkDNSName(h) {
		b.Host = strings.ToLower(strings.TrimSuffix(h, "."))
	} else {
		return b, fmt.Errorf("host %q is neither an IP address nor a DNS name", host)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return b, fmt.Errorf("port %q: want 1-65535", port)
		}
		b.Port = n
	}
	return b, nil
}

func checkDNSName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// parseFlag reads a proxy / proxy_maybe value.
func parseFlag(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "":
		return false, nil
	case "y", "yes", "true", "t", "1", "on":
		return true, nil
	case "n", "no", "false", "f", "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s %q: want y or n", name, v)
}

// Route is where one recipient goes.
type Route struct {
	Remote  bool    // false: deliver here
	Backend Backend // when Remote
}

// Router decides routes. Ports tells which TCP ports this lmtpd listens
// on (known once it listens); Self are more addresses of this host
// ([lmtp] proxy_self).
type Router struct {
	Ports func() []int
	Self  []netip.Addr
	// Resolver resolves DNS names in host; nil: net.DefaultResolver.
	Resolver *net.Resolver
}

// NewRouter makes the router of an [lmtp] section. ports is nil for a
// process that listens on nothing (deliver -explain): then the TCP ports
// of [lmtp] listen stand for lmtpd's.
func NewRouter(c config.LMTP, ports func() []int) *Router {
	r := &Router{Ports: ports}
	for _, a := range c.ProxySelf {
		if ip, err := netip.ParseAddr(a); err == nil { // validated by config
			r.Self = append(r.Self, ip.Unmap())
		}
	}
	if ports == nil {
		var ps []int
		for _, l := range c.Listen {
			if n, addr, err := config.ParseListen(l); err == nil && n == "tcp" {
				if _, p, err := net.SplitHostPort(addr); err == nil {
					if i, err := strconv.Atoi(p); err == nil {
						ps = append(ps, i)
					}
				}
			}
		}
		r.Ports = func() []int { return ps }
	}
	return r
}

// Describe is -check's line about proxy mode: off, or on with what makes
// a backend "this lmtpd" for proxy_maybe.
func Describe(c config.LMTP) string {
	if !c.Proxy {
		return "# proxy: off ([lmtp] proxy = false): every recipient is delivered here"
	}
	r := NewRouter(c, nil)
	ports := r.Ports()
	s := fmt.Sprintf("# proxy: on; rows with proxy/proxy_maybe and host are forwarded over LMTP (port default %d, TTL %d, timeout %v)",
		DefaultPort, DefaultTTL, c.ProxyTimeout.D())
	if len(ports) == 0 {
		return s + "\n# proxy: warning: no tcp: listener, so no proxy_maybe row is ever this lmtpd: each is forwarded"
	}
	return s + fmt.Sprintf("\n# proxy: proxy_maybe delivers here for TCP ports %v on this host's addresses (and proxy_self %v)", ports, c.ProxySelf)
}

// Explain reports to ctx's trace (deliver -explain) what lmtpd would do
// with rcpt's row u in proxy mode; deliver itself always delivers here.
func Explain(ctx context.Context, c config.LMTP, rcpt string, u *lookup.User) {
	if u.Host == "" && u.Proxy == "" && u.ProxyMaybe == "" {
		return
	}
	trace.Step(ctx, "proxy", "row: host %q port %q proxy %q proxy_maybe %q", u.Host, u.Port, u.Proxy, u.ProxyMaybe)
	if !c.Proxy {
		trace.Step(ctx, "proxy", "[lmtp] proxy = false: lmtpd delivers here, as deliver does")
		return
	}
	r, err := NewRouter(c, nil).Route(ctx, rcpt, u, -1)
	switch {
	case err != nil:
		trace.Step(ctx, "proxy", "lmtpd would refuse the recipient: %v", err)
	case r.Remote:
		trace.Step(ctx, "proxy", "lmtpd ([lmtp] proxy = true) forwards it to %s; deliver (pipe mode) delivers here", r.Backend)
	}
}

// Route decides where rcpt, whose userdb row is u, goes. ttl is the hop
// count this transaction arrived with, -1 when none was sent. Errors are
// *status.Error: ProxyConfig for a row that cannot be used, ProxyLoop,
// BackendLookup when host does not resolve (proxy_maybe needs its
// addresses to tell whether it is this host).
func (r *Router) Route(ctx context.Context, rcpt string, u *lookup.User, ttl int) (Route, error) {
	proxy, err := parseFlag("proxy", u.Proxy)
	maybe, err2 := parseFlag("proxy_maybe", u.ProxyMaybe)
	if err = errors.Join(err, err2); err != nil {
		return Route{}, status.ProxyConfig(rcpt).Wrap(fmt.Errorf("userdb row of <%s>: %w", u.Address, err))
	}
	if !proxy && !maybe {
		if u.Host != "" {
			trace.Step(ctx, "proxy", "host %q without proxy or proxy_maybe: delivered here", u.Host)
		}
		return Route{}, nil
	}
	if u.Host == "" {
		return Route{}, status.ProxyConfig(rcpt).Wrap(fmt.Errorf("userdb row of <%s>: proxy without host", u.Address))
	}
	b, err := CheckBackend(u.Host, u.Port)
	if err != nil {
		return Route{}, status.ProxyConfig(rcpt).Wrap(fmt.Errorf("userdb row of <%s>: %w", u.Address, err))
	}
	self, err := r.isSelf(ctx, b)
	if err != nil {
		return Route{}, status.BackendLookup(b.String()).Wrap(err)
	}
	switch {
	case self && maybe:
		trace.Step(ctx, "proxy", "proxy_maybe to %s, which is this lmtpd: delivered here", b)
		return Route{}, nil
	case self:
		return Route{}, status.ProxyLoop(rcpt, "to itself").Wrap(fmt.Errorf("proxy row of <%s> names this lmtpd, %s", u.Address, b))
	case ttl == 0:
		return Route{}, status.ProxyLoop(rcpt, "TTL=0").Wrap(fmt.Errorf("<%s> to %s: hop count exhausted", u.Address, b))
	}
	trace.Step(ctx, "proxy", "forwarded over LMTP to %s", b)
	return Route{Remote: true, Backend: b}, nil
}

// isSelf reports whether b is this lmtpd: a port it listens on, and an
// address of this host (its interfaces, loopback, [lmtp] proxy_self).
func (r *Router) isSelf(ctx context.Context, b Backend) (bool, error) {
	if r.Ports == nil || !slices.Contains(r.Ports(), b.Port) {
		return false, nil
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(b.Host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		res := r.Resolver
		if res == nil {
			res = net.DefaultResolver
		}
		if addrs, err = res.LookupNetIP(ctx, "ip", b.Host); err != nil {
			return false, err
		}
	}
	own := slices.Clone(r.Self)
	if ifs, err := net.InterfaceAddrs(); err == nil {
		for _, ia := range ifs {
			if p, err := netip.ParsePrefix(ia.String()); err == nil {
				own = append(own, p.Addr())
			}
		}
	}
	for _, a := range addrs {
		a = a.Unmap()
		if a.IsLoopback() || a.IsUnspecified() || slices.Contains(own, a) {
			return true, nil
		}
	}
	return false, nil
}
