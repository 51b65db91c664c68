package httpsecurity

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestHeaders(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	cases := []struct {
		name   string
		opts   Options
		remote string
		proto  string
		tls    bool
		hsts   bool
	}{
		{name: "plain HTTP", remote: "203.0.113.9:5000"},
		{name: "TLS to us", remote: "203.0.113.9:5000", tls: true, hsts: true},
		{name: "published over HTTPS", opts: Options{HTTPS: true}, remote: "203.0.113.9:5000", hsts: true},
		{name: "a client's own X-Forwarded-Proto", opts: Options{TrustedProxies: proxies}, remote: "203.0.113.9:5000", proto: "https"},
		{name: "no trusted proxies at all", remote: "10.1.2.3:5000", proto: "https"},
		{name: "a trusted proxy's https", opts: Options{TrustedProxies: proxies}, remote: "10.1.2.3:5000", proto: "https", hsts: true},
		{name: "a trusted proxy's HTTPS, spelled loudly", opts: Options{TrustedProxies: proxies}, remote: "10.1.2.3:5000", proto: " HTTPS ", hsts: true},
		{name: "a trusted proxy's http", opts: Options{TrustedProxies: proxies}, remote: "10.1.2.3:5000", proto: "http"},
		{name: "the nearest proxy's word counts", opts: Options{TrustedProxies: proxies}, remote: "10.1.2.3:5000", proto: "https, http"},
		{name: "a trusted IPv6 proxy", opts: Options{TrustedProxies: proxies}, remote: "[fd00::1]:5000", proto: "https", hsts: true},
		{name: "an IPv4-mapped trusted proxy", opts: Options{TrustedProxies: proxies}, remote: "[::ffff:10.1.2.3]:5000", proto: "https", hsts: true},
		{name: "an unparsable peer", opts: Options{TrustedProxies: proxies}, remote: "somewhere", proto: "https"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := Headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }), tc.opts)
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Result().Header
			for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"} {
				if got.Get(k) != want {
					t.Errorf("%s = %q, want %q", k, got.Get(k), want)
				}
			}
			want := ""
			if tc.hsts {
				want = HSTS
			}
			if g := got.Get("Strict-Transport-Security"); g != want {
				t.Errorf("Strict-Transport-Security = %q, want %q", g, want)
			}
		})
	}
}

// TestHeadersAreNotShared: a handler that adds to or replaces a header
// changes its own answer only, although the values are shared slices.
func TestHeadersAreNotShared(t *testing.T) {
	h := Headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/embed" {
			w.Header().Add("X-Frame-Options", "SAMEORIGIN")
			w.Header().Set("Referrer-Policy", "no-referrer")
		}
	}), Options{HTTPS: true})
	for _, p := range []string{"/embed", "/", "/embed", "/"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		xfo := strings.Join(w.Result().Header.Values("X-Frame-Options"), ",")
		ref := w.Result().Header.Get("Referrer-Policy")
		switch {
		case p == "/" && (xfo != "DENY" || ref != "same-origin"):
			t.Fatalf("after a handler changed its own headers, %s got X-Frame-Options %q, Referrer-Policy %q", p, xfo, ref)
		case p == "/embed" && (xfo != "DENY,SAMEORIGIN" || ref != "no-referrer"):
			t.Fatalf("%s: X-Frame-Options %q, Referrer-Policy %q", p, xfo, ref)
		}
	}
}
