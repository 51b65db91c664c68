package gateway

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/oais/oais/internal/egress"
)

// Workspaces' own upstreams are chosen by workspace admins, not by the
// operator: they go through a transport of their own whose every connection
// is checked against Config.Egress at the socket (egress.Policy.DialContext),
// with the address actually dialled, after DNS. A URL accepted when it was
// set cannot rebind to loopback, the private network or the metadata
// service later, and one stored before the check existed is caught here.
// The operator's global upstream and the built-in mock keep g.transport,
// unrestricted.

// newTenantTransport returns the transport for workspaces' own upstreams:
// base's settings, the policy's dialer, and proxies from the environment
// as for the global upstream (see tenantProxy).
func newTenantTransport(base *http.Transport, policy *egress.Policy) *http.Transport {
	t := base.Clone()
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	p := &tenantProxy{policy: policy, env: http.ProxyFromEnvironment}
	dial := policy.DialContext(d)
	t.DialContext = p.dialContext(d, dial)
	t.Proxy = p.proxy
	// HTTP/2 to https upstreams; a custom dialer turns it off otherwise.
	t.ForceAttemptHTTP2 = true
	return t
}

// tenantProxy sends workspaces' upstream requests through the proxy the
// environment names (HTTPS_PROXY, …), as the global upstream's. The proxy
// is the operator's, so dialling it is not checked; what it then dials is
// out of the gateway's sight, so the request's own host is checked here by
// name and literal address (never resolved: the proxy resolves), and the
// proxy must refuse internal destinations itself (README).
type tenantProxy struct {
	policy *egress.Policy
	env    func(*http.Request) (*url.URL, error)
	// proxies are the host:port of every proxy handed out, dialled
	// unchecked; the environment's proxies are fixed at start, so it stays
	// tiny.
	proxies sync.Map
}

func (p *tenantProxy) proxy(r *http.Request) (*url.URL, error) {
	target := hostPort(r.URL)
	if _, isProxy := p.proxies.Load(target); isProxy {
		// A tenant URL naming the operator's proxy itself.
		return nil, &egress.ForbiddenError{Host: r.URL.Host, Rule: egress.RuleProxy}
	}
	u, err := p.env(r)
	if err != nil || u == nil {
		return u, err
	}
	if err := p.policy.CheckHostName(r.URL.Hostname()); err != nil {
		return nil, err
	}
	p.proxies.Store(hostPort(u), struct{}{})
	return u, nil
}

// dialContext dials a proxy handed out by proxy as it is, and everything
// else through guarded.
func (p *tenantProxy) dialContext(d *net.Dialer, guarded func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if _, isProxy := p.proxies.Load(addr); isProxy {
			return d.DialContext(ctx, network, addr)
		}
		return guarded(ctx, network, addr)
	}
}

// hostPort is u's host with its port, the scheme's default if it names
// none: the form a transport dials.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "socks5", "socks5h":
			port = "1080"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// transportFor is the transport of c's upstream.
func (g *Gateway) transportFor(c *call) *http.Transport {
	if wu := c.p.Workspace.Upstream; wu != nil && wu.BaseURL != nil {
		return g.tenantTransport
	}
	return g.transport
}
