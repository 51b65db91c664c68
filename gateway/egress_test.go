package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/keys"
)

// internalService is an HTTP service on loopback standing for what a
// tenant must not reach through its upstream (a metadata endpoint, an admin
// API): it answers like an upstream, and counts every connection accepted.
func internalService(t *testing.T) (port string, accepted *atomic.Int32) {
	t.Helper()
	accepted = new(atomic.Int32)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"iam-role-credentials"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return port, accepted
}

// tenantPrincipal is a key of a workspace whose own upstream is base.
func tenantPrincipal(t *testing.T, id, base string) *Principal {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return &Principal{
		Key:       KeyPolicy{ID: "key_" + id, WorkspaceID: "ws_" + id, State: keys.State{Status: keys.StatusActive}},
		Workspace: &WorkspacePolicy{ID: "ws_" + id, Upstream: &Upstream{BaseURL: u}},
	}
}

// TestWorkspaceUpstreamCannotReachInternalAddresses is the SSRF attack: a
// workspace admin points the workspace's upstream at an address on the
// gateway's own host, by name and in every spelling of loopback, and asks
// for a completion. Each is refused with 502 upstream_unavailable before a
// connection is made (the service counts none), while the operator's
// global upstream, on loopback too, still serves everyone else.
func TestWorkspaceUpstreamCannotReachInternalAddresses(t *testing.T) {
	port, accepted := internalService(t)
	hosts := map[string]string{
		"localhost":   "localhost:" + port,
		"loopback":    "127.0.0.1:" + port,
		"IPv4-mapped": "[::ffff:127.0.0.1]:" + port,
		"unspecified": "0.0.0.0:" + port,
	}
	extra := map[string]*Principal{}
	for name, host := range hosts {
		extra[name] = tenantPrincipal(t, name, "http://"+host+"/v1")
	}
	h := newHarness(t, harnessOpts{extra: extra})
	for name, host := range hosts {
		t.Run(name, func(t *testing.T) {
			resp, body := h.do(t, name, "POST", "/v1/chat/completions", chatBody, nil)
			if resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("upstream %s: status %d, want 502: %s", host, resp.StatusCode, body)
			}
			if _, code := openAIError(t, body); code != "upstream_unavailable" {
				t.Errorf("upstream %s: code %q, want upstream_unavailable", host, code)
			}
			if strings.Contains(body, "iam-role-credentials") {
				t.Errorf("upstream %s: the internal service's answer reached the tenant: %s", host, body)
			}
		})
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the internal service accepted %d connections, want 0: the gateway dialled it", n)
	}
	// The operator's own upstream is on loopback as well, and unrestricted.
	if resp, body := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, nil); resp.StatusCode != 200 {
		t.Fatalf("global upstream on loopback: %d %s", resp.StatusCode, body)
	}
}

// rebinder resolves every name to what addr holds at the time of the
// look-up.
type rebinder struct{ addr atomic.Value }

func (r *rebinder) LookupNetIP(_ context.Context, _, _ string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr(r.addr.Load().(string))}, nil
}

// TestWorkspaceUpstreamDNSRebinding: the upstream's name resolved to a
// public address when it was set (the control plane's check passes) and
// resolves to loopback when the gateway dials. The dial-time check refuses
// it before any connection; once the operator allows loopback the same
// request is served.
func TestWorkspaceUpstreamDNSRebinding(t *testing.T) {
	port, accepted := internalService(t)
	res := &rebinder{}
	res.addr.Store("93.184.216.34")
	base := "http://llm.rebind.example:" + port + "/v1"
	u, _ := url.Parse(base)
	if err := (&egress.Policy{Resolver: res}).CheckURL(t.Context(), u); err != nil {
		t.Fatalf("set-time check: %v", err)
	}
	res.addr.Store("127.0.0.1")

	extra := map[string]*Principal{"rebound": tenantPrincipal(t, "rebound", base)}
	h := newHarness(t, harnessOpts{extra: extra, cfg: Config{Egress: &egress.Policy{Resolver: res}}})
	resp, body := h.do(t, "rebound", "POST", "/v1/chat/completions", chatBody, nil)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %s", resp.StatusCode, body)
	}
	if _, code := openAIError(t, body); code != "upstream_unavailable" || !strings.Contains(body, "OAIS_UPSTREAM_ALLOWED_NETWORKS") {
		t.Errorf("body %s, want upstream_unavailable naming OAIS_UPSTREAM_ALLOWED_NETWORKS", body)
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the internal service accepted %d connections, want 0", n)
	}

	allowed := newHarness(t, harnessOpts{extra: extra, cfg: Config{Egress: &egress.Policy{Resolver: res,
		Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}})
	if resp, body := allowed.do(t, "rebound", "POST", "/v1/chat/completions", chatBody, nil); resp.StatusCode != 200 {
		t.Fatalf("with loopback allowed: %d %s", resp.StatusCode, body)
	}
	if accepted.Load() != 1 {
		t.Fatalf("accepted %d, want 1", accepted.Load())
	}
}

// TestTenantProxy: through an HTTP proxy the operator set, a workspace's
// request goes to the proxy (dialled unchecked, it is the operator's), its
// host checked by name; a literal internal address is refused before the
// proxy sees it, and a URL naming the proxy itself is refused.
func TestTenantProxy(t *testing.T) {
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	t.Cleanup(proxy.Close)
	pu, _ := url.Parse(proxy.URL)
	tp := &tenantProxy{env: func(*http.Request) (*url.URL, error) { return pu, nil }}
	tr := &http.Transport{Proxy: tp.proxy, DialContext: tp.dialContext(&net.Dialer{}, (&egress.Policy{}).DialContext(&net.Dialer{}))}
	t.Cleanup(tr.CloseIdleConnections)
	do := func(target string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", target, strings.NewReader(chatBody))
		return tr.RoundTrip(req)
	}
	resp, err := do("http://llm.example.com/v1/chat/completions")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("through the proxy: %v", err)
	}
	resp.Body.Close()
	if proxied.Load() != 1 {
		t.Fatalf("proxy saw %d requests, want 1", proxied.Load())
	}
	for _, target := range []string{"http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/", "http://127.0.0.1:9/", "http://" + pu.Host + "/"} {
		if resp, err := do(target); !errors.Is(err, egress.ErrForbidden) {
			if resp != nil {
				resp.Body.Close()
			}
			t.Errorf("%s through the proxy: %v, want ErrForbidden", target, err)
		}
	}
	if proxied.Load() != 1 {
		t.Fatalf("proxy saw %d requests, want 1", proxied.Load())
	}
}
