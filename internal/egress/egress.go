// Package egress decides where a URL that a tenant chose may lead. A
// workspace admin sets the workspace's own upstream (and, later, other
// outbound URLs); the gateway then POSTs to it and relays the answer, so an
// address on the operator's side (the cloud metadata service, a private
// network, the gateway's own loopback) would hand the tenant whatever
// answers there. The rule: public addresses only, plus the networks the
// operator lists in OAIS_UPSTREAM_ALLOWED_NETWORKS.
//
// The rule is checked twice: when the URL is set (CheckURL: a clear error,
// and nothing stored) and at every connection (DialContext: the address
// actually dialled, after DNS, so a name that resolves elsewhere later, a
// DNS rebinding, gets nowhere). The second check is the guarantee; the
// first is for the user.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Rule is a class of destinations tenants may not reach; its text reads in
// a sentence ("… is a loopback address").
type Rule string

// The rules, from the most specific: an address is named by the first that
// contains it.
const (
	RuleMetadata    Rule = "a cloud metadata service"
	RuleUnspecified Rule = "the unspecified address"
	RuleLoopback    Rule = "a loopback address"
	RulePrivate     Rule = "a private network address (RFC 1918 or IPv6 unique local)"
	RuleLinkLocal   Rule = "a link-local address"
	RuleCGNAT       Rule = "a shared carrier-grade NAT address (100.64.0.0/10)"
	RuleMulticast   Rule = "a multicast address"
	RuleReserved    Rule = "a reserved address"
	// RuleNonCanonical is a host that is an IPv4 address in a form other
	// than four decimal numbers (2130706433, 0x7f.1, 0177.0.0.1): some
	// resolvers read those as addresses, so they could hide any of the
	// above. No real host name looks like one.
	RuleNonCanonical Rule = "an IP address in a non-standard form"
	// RuleProxy is the operator's outbound proxy itself, which a gateway
	// dials unchecked for the requests it carries.
	RuleProxy Rule = "the gateway's outbound proxy"
)

// ErrForbidden matches every *ForbiddenError (errors.Is).
var ErrForbidden = errors.New("egress: destination not allowed")

// ForbiddenError is a destination a tenant may not reach.
type ForbiddenError struct {
	Host string     // as the URL names it
	Addr netip.Addr // the address that broke the rule; invalid when the name did
	Rule Rule
}

func (e *ForbiddenError) Error() string {
	if e.Addr.IsValid() && e.Addr.String() != e.Host {
		return fmt.Sprintf("egress: %s resolves to %s, %s", e.Host, e.Addr, e.Rule)
	}
	return fmt.Sprintf("egress: %s is %s", e.Host, e.Rule)
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Policy is the rule with the operator's exceptions. The zero value, and a
// nil *Policy, allow public addresses only.
type Policy struct {
	// Allowed are networks tenants may reach although the rule forbids
	// them (OAIS_UPSTREAM_ALLOWED_NETWORKS). A cloud metadata address is
	// allowed only by a prefix of that one address (169.254.169.254/32):
	// a private network listed for an internal model server must not open
	// the metadata service that happens to lie inside it.
	Allowed []netip.Prefix
	// Resolver resolves names; nil is net.DefaultResolver. At dial time a
	// nil Resolver leaves resolution to the dialer, which checks every
	// address it tries.
	Resolver Resolver
}

// Networks of the rule, each with the Rule that names it. IPv4-mapped
// (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96)
// addresses are checked as the IPv4 address they carry (see v4Of).
var (
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, DigitalOcean, OpenStack …
		netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
		netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	}
	forbidden = []struct {
		p    netip.Prefix
		rule Rule
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), RuleUnspecified}, // "this network"; 0.0.0.0 reaches the local host
		{netip.MustParsePrefix("::/128"), RuleUnspecified},
		{netip.MustParsePrefix("127.0.0.0/8"), RuleLoopback},
		{netip.MustParsePrefix("::1/128"), RuleLoopback},
		{netip.MustParsePrefix("10.0.0.0/8"), RulePrivate},
		{netip.MustParsePrefix("172.16.0.0/12"), RulePrivate},
		{netip.MustParsePrefix("192.168.0.0/16"), RulePrivate},
		{netip.MustParsePrefix("fc00::/7"), RulePrivate},
		{netip.MustParsePrefix("fec0::/10"), RulePrivate}, // deprecated site-local
		{netip.MustParsePrefix("169.254.0.0/16"), RuleLinkLocal},
		{netip.MustParsePrefix("fe80::/10"), RuleLinkLocal},
		{netip.MustParsePrefix("100.64.0.0/10"), RuleCGNAT},
		{netip.MustParsePrefix("224.0.0.0/4"), RuleMulticast},
		{netip.MustParsePrefix("ff00::/8"), RuleMulticast},
		{netip.MustParsePrefix("240.0.0.0/4"), RuleReserved}, // and the broadcast address
	}
	nat64 = []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48")}
)

// metadataHosts are names of metadata services that resolve only inside
// their cloud, so the control plane may not see where they lead.
var metadataHosts = map[string]bool{
	"metadata":                   true,
	"metadata.google.internal":   true,
	"metadata.goog":              true,
	"instance-data":              true,
	"instance-data.ec2.internal": true,
}

// v4Of returns the IPv4 address a might stand for: itself, the address an
// IPv4-mapped, IPv4-compatible or NAT64 IPv6 address carries. The zone is
// dropped (fe80::1%eth0 is fe80::1).
func v4Of(a netip.Addr) netip.Addr {
	a = a.WithZone("")
	if a.Is4In6() {
		return a.Unmap()
	}
	if !a.Is6() {
		return a
	}
	b := a.As16()
	embedded := netip.AddrFrom4([4]byte(b[12:]))
	for _, p := range nat64 {
		if p.Contains(a) {
			return embedded
		}
	}
	// ::a.b.c.d (deprecated IPv4-compatible), but not :: and ::1 themselves.
	if netip.MustParsePrefix("::/96").Contains(a) && embedded.Compare(netip.MustParseAddr("0.0.0.1")) > 0 {
		return embedded
	}
	return a
}

// Classify returns the rule a forbids it under, ignoring the operator's
// exceptions; ok is false for a public address.
func Classify(a netip.Addr) (rule Rule, ok bool) {
	a = v4Of(a)
	for _, m := range metadataAddrs {
		if a == m {
			return RuleMetadata, true
		}
	}
	for _, f := range forbidden {
		if f.p.Contains(a) {
			return f.rule, true
		}
	}
	return "", false
}

// CheckAddr returns a *ForbiddenError if a tenant may not reach a, nil if
// it may.
func (p *Policy) CheckAddr(a netip.Addr) error {
	if e := p.checkAddr(a); e != nil {
		return e
	}
	return nil
}

func (p *Policy) checkAddr(a netip.Addr) *ForbiddenError {
	rule, bad := Classify(a)
	if !bad || p.allows(a, rule) {
		return nil
	}
	return &ForbiddenError{Host: a.String(), Addr: a, Rule: rule}
}

// allows reports whether an operator's exception admits a, which the rule
// forbids as rule.
func (p *Policy) allows(a netip.Addr, rule Rule) bool {
	if p == nil {
		return false
	}
	v4 := v4Of(a)
	for _, n := range p.Allowed {
		if rule == RuleMetadata && !n.IsSingleIP() {
			continue
		}
		if n.Contains(v4) || n.Contains(a.WithZone("")) {
			return true
		}
	}
	return false
}

// CheckHostName checks a URL's host (without its port) by what it says,
// without resolving it: a literal address, a metadata service's or
// localhost's name, an address in a non-standard form.
func (p *Policy) CheckHostName(host string) error {
	if e := p.checkName(host); e != nil {
		return e
	}
	return nil
}

func (p *Policy) checkName(host string) *ForbiddenError {
	if a, err := netip.ParseAddr(host); err == nil {
		if e := p.checkAddr(a); e != nil {
			e.Host = host
			return e
		}
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	switch {
	case metadataHosts[name]:
		return &ForbiddenError{Host: host, Rule: RuleMetadata}
	case name == "localhost" || strings.HasSuffix(name, ".localhost"):
		// RFC 6761: always loopback, whatever a resolver says.
		if !p.allows(netip.MustParseAddr("127.0.0.1"), RuleLoopback) {
			return &ForbiddenError{Host: host, Rule: RuleLoopback}
		}
	case numericHost(name):
		return &ForbiddenError{Host: host, Rule: RuleNonCanonical}
	}
	return nil
}

// lookupTimeout bounds CheckHost's resolution, which runs inside a request.
const lookupTimeout = 5 * time.Second

// CheckHost is CheckHostName, then, for a name, a check of every address
// it resolves to. A name that does not resolve passes: the gateway may see
// it differently, and its dial-time check stands anyway.
func (p *Policy) CheckHost(ctx context.Context, host string) error {
	if e := p.checkName(host); e != nil {
		return e
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	var r Resolver = net.DefaultResolver
	if p != nil && p.Resolver != nil {
		r = p.Resolver
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if e := p.checkAddr(a); e != nil {
			e.Host = host
			return e
		}
	}
	return nil
}

// numericHost reports a host that is not a canonical address but that an
// inet_aton-style resolver would read as one: its last label is a number
// (decimal, octal or hex). A top-level domain is never numeric.
func numericHost(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(last, "0x"); ok {
		last = rest
		for _, c := range last {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
		return true
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ErrScheme is a URL whose scheme is not http or https.
var ErrScheme = errors.New("egress: only http and https URLs")

// CheckURL checks a tenant's URL: an http or https scheme, and a host that
// passes CheckHost.
func (p *Policy) CheckURL(ctx context.Context, u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return ErrScheme
	}
	return p.CheckHost(ctx, u.Hostname())
}

// Control is a net.Dialer Control function that refuses a connection to an
// address the policy forbids. It runs after the socket is made and before
// connect(2), with the address actually dialled: nothing reaches the
// destination.
func (p *Policy) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress: cannot check dial address %q: %w", address, err)
	}
	return p.CheckAddr(ap.Addr())
}

// DialContext returns a dial function for an http.Transport that reaches
// only addresses the policy allows. d's other settings are kept, and so is
// its own Control, which runs after the policy's. With a Resolver set, names
// are resolved through it and its addresses tried in turn (tests use this
// to rebind a name); without one the dialer resolves.
func (p *Policy) DialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	guarded := *d
	if next := d.ControlContext; next != nil {
		// net.Dialer runs ControlContext instead of Control when both are set.
		guarded.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
			if err := p.Control(network, address, c); err != nil {
				return err
			}
			return next(ctx, network, address, c)
		}
	} else {
		next := d.Control
		guarded.Control = func(network, address string, c syscall.RawConn) error {
			if err := p.Control(network, address, c); err != nil {
				return err
			}
			if next != nil {
				return next(network, address, c)
			}
			return nil
		}
	}
	if p == nil || p.Resolver == nil {
		return guarded.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return guarded.DialContext(ctx, network, addr)
		}
		addrs, err := p.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		var first error
		for _, a := range addrs {
			c, err := guarded.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
		}
		if first == nil {
			first = &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("no address for %s", host)}
		}
		return nil, first
	}
}

// AllowedNetworks is p.Allowed; nil for a nil p.
func (p *Policy) AllowedNetworks() []netip.Prefix {
	if p == nil {
		return nil
	}
	return p.Allowed
}
