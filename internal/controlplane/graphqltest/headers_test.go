package graphqltest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oais/oais/internal/storetest"
)

// wantHSTS is the Strict-Transport-Security every HTTPS answer carries.
const wantHSTS = "max-age=31536000; includeSubDomains"

// TestSecurityHeaders checks the headers of every kind of control-plane
// answer (GraphQL, JWKS, health, the dashboard, a 404): never sniffed,
// never framed, no referrer to other sites, and HSTS exactly when the
// request reached us over HTTPS.
func TestSecurityHeaders(t *testing.T) {
	paths := []struct{ method, path string }{
		{"POST", "/graphql"},
		{"GET", "/.well-known/jwks.json"},
		{"GET", "/healthz"},
		{"GET", "/"},
		{"GET", "/w/ws_1/keys"},
		{"GET", "/assets/missing.js"},
	}
	get := func(t *testing.T, c *http.Client, base, method, path string, hdr map[string]string) http.Header {
		t.Helper()
		var body *strings.Reader
		if method == "POST" {
			body = strings.NewReader(`{"query":"{ viewer { id } }"}`)
		} else {
			body = strings.NewReader("")
		}
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		res.Body.Close()
		return res.Header
	}
	check := func(t *testing.T, c *http.Client, base string, hdr map[string]string, hsts bool) {
		t.Helper()
		for _, p := range paths {
			h := get(t, c, base, p.method, p.path, hdr)
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("%s %s: X-Content-Type-Options %q, want nosniff", p.method, p.path, got)
			}
			if got := h.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("%s %s: X-Frame-Options %q, want DENY", p.method, p.path, got)
			}
			if got := h.Get("Referrer-Policy"); got != "same-origin" {
				t.Errorf("%s %s: Referrer-Policy %q, want same-origin", p.method, p.path, got)
			}
			want := ""
			if hsts {
				want = wantHSTS
			}
			if got := strings.Join(h.Values("Strict-Transport-Security"), ", "); got != want {
				t.Errorf("%s %s with %v: Strict-Transport-Security %q, want %q", p.method, p.path, hdr, got, want)
			}
		}
	}
	https := map[string]string{"X-Forwarded-Proto": "https"}

	t.Run("plain HTTP", func(t *testing.T) {
		s := start(t, storetest.SQLiteURL(t), nil)
		check(t, s.client, s.url, nil, false)
		// Anyone can send the header; only a trusted proxy is believed.
		check(t, s.client, s.url, https, false)
	})
	t.Run("behind a trusted TLS proxy", func(t *testing.T) {
		s := start(t, storetest.SQLiteURL(t), map[string]string{"OAIS_TRUSTED_PROXIES": "127.0.0.0/8,::1/128"})
		check(t, s.client, s.url, https, true)
		check(t, s.client, s.url, map[string]string{"X-Forwarded-Proto": "http"}, false)
	})
	t.Run("published over HTTPS", func(t *testing.T) {
		s := start(t, storetest.SQLiteURL(t), map[string]string{"OAIS_PUBLIC_URL": "https://oais.example.com"})
		check(t, s.client, s.url, nil, true)
	})
	t.Run("TLS", func(t *testing.T) {
		s := start(t, storetest.SQLiteURL(t), nil)
		ts := httptest.NewTLSServer(s.cp.Handler)
		t.Cleanup(ts.Close)
		check(t, ts.Client(), ts.URL, nil, true)
	})
}
