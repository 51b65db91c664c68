package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func prefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// TestRule is the destination rule, address by address: every forbidden
// range at its edges, its IPv6 and IPv4-mapped, -compatible and NAT64
// spellings, and the public addresses next to them.
func TestRule(t *testing.T) {
	for _, tc := range []struct {
		addr string
		rule Rule // "" for allowed
	}{
		// Cloud metadata.
		{"169.254.169.254", RuleMetadata},
		{"::ffff:169.254.169.254", RuleMetadata},
		{"::ffff:a9fe:a9fe", RuleMetadata},
		{"64:ff9b::a9fe:a9fe", RuleMetadata},
		{"169.254.170.2", RuleMetadata},
		{"100.100.100.200", RuleMetadata},
		{"fd00:ec2::254", RuleMetadata},
		// Unspecified and "this network".
		{"0.0.0.0", RuleUnspecified},
		{"0.255.255.255", RuleUnspecified},
		{"::", RuleUnspecified},
		{"::ffff:0.0.0.0", RuleUnspecified},
		// Loopback.
		{"127.0.0.1", RuleLoopback},
		{"127.255.255.254", RuleLoopback},
		{"::1", RuleLoopback},
		{"::ffff:127.0.0.1", RuleLoopback},
		{"::127.0.0.1", RuleLoopback}, // IPv4-compatible
		{"64:ff9b::7f00:1", RuleLoopback},
		// RFC 1918 and unique local.
		{"10.0.0.0", RulePrivate},
		{"10.255.255.255", RulePrivate},
		{"172.16.0.0", RulePrivate},
		{"172.31.255.255", RulePrivate},
		{"192.168.0.1", RulePrivate},
		{"192.168.255.255", RulePrivate},
		{"::ffff:10.1.2.3", RulePrivate},
		{"::ffff:192.168.1.1", RulePrivate},
		{"64:ff9b:1::c0a8:101", RulePrivate}, // local-use NAT64
		{"fc00::", RulePrivate},
		{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", RulePrivate},
		{"fec0::1", RulePrivate},
		// Link-local.
		{"169.254.0.1", RuleLinkLocal},
		{"169.254.255.255", RuleLinkLocal},
		{"fe80::1", RuleLinkLocal},
		{"fe80::1%eth0", RuleLinkLocal},
		{"febf:ffff::1", RuleLinkLocal},
		// Shared address space.
		{"100.64.0.0", RuleCGNAT},
		{"100.127.255.255", RuleCGNAT},
		{"::ffff:100.64.0.1", RuleCGNAT},
		// Multicast and reserved.
		{"224.0.0.1", RuleMulticast},
		{"239.255.255.250", RuleMulticast},
		{"ff02::1", RuleMulticast},
		{"ff05::1:3", RuleMulticast},
		{"240.0.0.1", RuleReserved},
		{"255.255.255.255", RuleReserved},
		// Public, including the neighbours of every range.
		{"1.1.1.1", ""},
		{"8.8.8.8", ""},
		{"9.255.255.255", ""},
		{"11.0.0.0", ""},
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"192.167.255.255", ""},
		{"192.169.0.0", ""},
		{"169.253.255.255", ""},
		{"169.255.0.0", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"126.255.255.255", ""},
		{"128.0.0.0", ""},
		{"223.255.255.255", ""},
		{"1.0.0.0", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::808:808", ""},
		{"2606:4700:4700::1111", ""},
		{"2001:4860:4860::8888", ""},
		{"fbff:ffff::1", ""},
		{"fe00::1", ""},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			got, bad := Classify(a)
			if got != tc.rule || bad != (tc.rule != "") {
				t.Fatalf("Classify(%s) = %q, %v; want %q", tc.addr, got, bad, tc.rule)
			}
			err := (*Policy)(nil).CheckAddr(a)
			if (err != nil) != (tc.rule != "") {
				t.Fatalf("CheckAddr(%s) = %v, want forbidden: %v", tc.addr, err, tc.rule != "")
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Errorf("CheckAddr(%s) = %v, not ErrForbidden", tc.addr, err)
			}
		})
	}
}

// TestAllowedNetworks: the operator's networks open exactly what they
// contain, in every spelling, and a metadata address only when listed alone.
func TestAllowedNetworks(t *testing.T) {
	p := &Policy{Allowed: prefixes(t, "10.0.0.0/8", "127.0.0.1/32", "fd12:3456::/32", "169.254.0.0/16", "fd00::/8", "100.100.100.200/32")}
	for _, tc := range []struct {
		addr    string
		allowed bool
	}{
		{"10.1.2.3", true},
		{"::ffff:10.1.2.3", true},
		{"64:ff9b::a01:203", true},
		{"127.0.0.1", true},
		{"127.0.0.2", false},
		{"::1", false},
		{"fd12:3456::1", true},
		{"fd12:3457::1", true}, // inside fd00::/8
		{"fc00::1", false},
		{"192.168.1.1", false},
		{"169.254.1.1", true},
		// A wide network does not open a metadata address inside it …
		{"169.254.169.254", false},
		{"::ffff:169.254.169.254", false},
		{"fd00:ec2::254", false},
		// … its own /32 does.
		{"100.100.100.200", true},
		{"8.8.8.8", true},
	} {
		err := p.CheckAddr(netip.MustParseAddr(tc.addr))
		if (err == nil) != tc.allowed {
			t.Errorf("%s: CheckAddr = %v, want allowed %v", tc.addr, err, tc.allowed)
		}
	}
	// An operator who lists the metadata address alone means it.
	alone := &Policy{Allowed: prefixes(t, "169.254.169.254/32")}
	if err := alone.CheckAddr(netip.MustParseAddr("169.254.169.254")); err != nil {
		t.Errorf("169.254.169.254/32 listed: %v", err)
	}
}

// fakeResolver answers from a map, counting look-ups; a missing name is
// not found.
type fakeResolver struct {
	m     map[string][]string
	calls atomic.Int32
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.calls.Add(1)
	ss, ok := r.m[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

// TestCheckURL is the set-time check: scheme, names, literal addresses and
// every address a name resolves to.
func TestCheckURL(t *testing.T) {
	res := &fakeResolver{m: map[string][]string{
		"api.example.com":     {"93.184.216.34", "2606:2800:220:1::248"},
		"internal.example":    {"10.0.0.7"},
		"mixed.example":       {"93.184.216.34", "192.168.0.10"},
		"mapped.example":      {"::ffff:127.0.0.1"},
		"imds.example":        {"169.254.169.254"},
		"allowed.corp":        {"10.20.30.40"},
		"localhost.attacker.": {"93.184.216.34"}, // not under .localhost
	}}
	p := &Policy{Resolver: res}
	withAllowed := &Policy{Resolver: res, Allowed: prefixes(t, "10.20.0.0/16")}
	for _, tc := range []struct {
		url    string
		policy *Policy
		rule   Rule // "" for accepted
		scheme bool // refused for its scheme
	}{
		{url: "https://api.example.com/v1", policy: p},
		{url: "https://unresolvable.example/v1", policy: p}, // left to the dial-time check
		{url: "http://internal.example/v1", policy: p, rule: RulePrivate},
		{url: "http://mixed.example/v1", policy: p, rule: RulePrivate},
		{url: "http://mapped.example/v1", policy: p, rule: RuleLoopback},
		{url: "http://imds.example/latest", policy: p, rule: RuleMetadata},
		{url: "http://allowed.corp/v1", policy: p, rule: RulePrivate},
		{url: "http://allowed.corp/v1", policy: withAllowed},
		{url: "http://internal.example/v1", policy: withAllowed, rule: RulePrivate},
		{url: "http://169.254.169.254/latest", policy: p, rule: RuleMetadata},
		{url: "http://[::ffff:169.254.169.254]/", policy: p, rule: RuleMetadata},
		{url: "http://[fd00:ec2::254]/", policy: p, rule: RuleMetadata},
		{url: "http://metadata.google.internal/", policy: p, rule: RuleMetadata},
		{url: "http://Metadata.Google.Internal./", policy: p, rule: RuleMetadata},
		{url: "http://metadata/", policy: p, rule: RuleMetadata},
		{url: "http://localhost:8080/", policy: p, rule: RuleLoopback},
		{url: "http://LOCALHOST./", policy: p, rule: RuleLoopback},
		{url: "http://admin.localhost/", policy: p, rule: RuleLoopback},
		{url: "http://localhost.attacker./", policy: p},
		{url: "http://[::1]/", policy: p, rule: RuleLoopback},
		{url: "http://[fe80::1%25eth0]/", policy: p, rule: RuleLinkLocal},
		{url: "http://0.0.0.0/", policy: p, rule: RuleUnspecified},
		{url: "http://2130706433/", policy: p, rule: RuleNonCanonical},
		{url: "http://0x7f000001/", policy: p, rule: RuleNonCanonical},
		{url: "http://0x7f.0.0.1/", policy: p, rule: RuleNonCanonical},
		{url: "http://0177.0.0.1/", policy: p, rule: RuleNonCanonical},
		{url: "http://127.1/", policy: p, rule: RuleNonCanonical},
		{url: "http://8.8.8.8/", policy: p},
		{url: "ftp://api.example.com/", policy: p, scheme: true},
		{url: "gopher://127.0.0.1:6379/", policy: p, scheme: true},
		{url: "file:///etc/passwd", policy: p, scheme: true},
	} {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.policy.CheckURL(t.Context(), u)
			var fe *ForbiddenError
			switch {
			case tc.scheme:
				if !errors.Is(err, ErrScheme) {
					t.Fatalf("err = %v, want ErrScheme", err)
				}
			case tc.rule == "":
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			case !errors.As(err, &fe) || fe.Rule != tc.rule:
				t.Fatalf("err = %v, want rule %q", err, tc.rule)
			}
		})
	}
	if res.calls.Load() == 0 {
		t.Fatal("the resolver was never asked")
	}
}

// listener is a TCP listener on loopback that counts the connections it
// accepts.
func listener(t *testing.T) (port string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, accepted
}

// TestDialContextChecksTheDialledAddress is DNS rebinding at the socket: a
// name that resolved to a public address when it was set now resolves to
// loopback. The dial is refused before connect(2): the listener accepts
// nothing. An address the operator allows is dialled.
func TestDialContextChecksTheDialledAddress(t *testing.T) {
	port, accepted := listener(t)
	res := &fakeResolver{m: map[string][]string{"rebind.example": {"93.184.216.34"}}}
	p := &Policy{Resolver: res}
	u, _ := url.Parse("http://rebind.example:" + port + "/v1")
	if err := p.CheckURL(t.Context(), u); err != nil {
		t.Fatalf("set time: %v", err)
	}
	res.m["rebind.example"] = []string{"127.0.0.1"} // the rebinding
	d := &net.Dialer{Timeout: 5 * time.Second}
	for _, addr := range []string{
		"rebind.example:" + port,
		"127.0.0.1:" + port,
		"[::ffff:127.0.0.1]:" + port,
		"0.0.0.0:" + port,
	} {
		for _, pol := range []*Policy{p, {}, nil} {
			c, err := pol.DialContext(d)(t.Context(), "tcp", addr)
			if err == nil {
				c.Close()
				t.Errorf("dialled %s (resolver %v)", addr, pol != nil && pol.Resolver != nil)
				continue
			}
			if !errors.Is(err, ErrForbidden) && addr != "rebind.example:"+port {
				t.Errorf("dial %s: %v, want ErrForbidden", addr, err)
			}
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the listener accepted %d connections, want 0", n)
	}
	if c, err := p.DialContext(d)(t.Context(), "tcp", "rebind.example:"+port); err == nil || !errors.Is(err, ErrForbidden) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("rebound name: %v, want ErrForbidden", err)
	}
	allowed := &Policy{Resolver: res, Allowed: prefixes(t, "127.0.0.1/32")}
	c, err := allowed.DialContext(d)(t.Context(), "tcp", "rebind.example:"+port)
	if err != nil {
		t.Fatalf("allowed network: %v", err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for accepted.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("accepted %d connections after the allowed dial, want 1", n)
	}
}

// TestDialContextKeepsTheDialersControl: the dialer's own Control still
// runs, after the policy's.
func TestDialContextKeepsTheDialersControl(t *testing.T) {
	port, _ := listener(t)
	var ran atomic.Int32
	d := &net.Dialer{Timeout: 5 * time.Second, Control: func(string, string, syscall.RawConn) error { ran.Add(1); return nil }}
	allowed := &Policy{Allowed: prefixes(t, "127.0.0.0/8")}
	c, err := allowed.DialContext(d)(t.Context(), "tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if ran.Load() != 1 {
		t.Fatalf("the dialer's Control ran %d times, want 1", ran.Load())
	}
	if _, err := (&Policy{}).DialContext(d)(t.Context(), "tcp", "127.0.0.1:"+port); !errors.Is(err, ErrForbidden) {
		t.Fatalf("forbidden dial: %v", err)
	}
	if ran.Load() != 1 {
		t.Fatalf("the dialer's Control ran on a refused dial")
	}
}
