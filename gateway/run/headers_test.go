package run

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/httpsecurity"
	"github.com/oais/oais/internal/storetest"
)

// TestSecurityHeaders: every answer of the wired gateway, refusals and
// /metrics included, says nosniff; HSTS comes with HTTPS only.
func TestSecurityHeaders(t *testing.T) {
	st := storetest.SQLite(t)
	cfg, err := Load(config.Map(map[string]string{
		"OAIS_DATABASE_URL":    st.URL.String(),
		"OAIS_SPOOL_DIR":       t.TempDir(),
		"OAIS_TRUSTED_PROXIES": "127.0.0.0/8,::1/128",
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g, err := Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	plain := httptest.NewServer(g.Handler)
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(g.Handler)
	t.Cleanup(secure.Close)

	for _, tc := range []struct {
		name   string
		srv    *httptest.Server
		header map[string]string
		hsts   bool
	}{
		{name: "plain HTTP", srv: plain},
		{name: "a trusted proxy's https", srv: plain, header: map[string]string{"X-Forwarded-Proto": "https"}, hsts: true},
		{name: "TLS", srv: secure, hsts: true},
	} {
		for _, req := range []struct{ method, path string }{
			{"GET", "/healthz"}, {"GET", "/metrics"}, {"GET", "/v1/models"}, {"POST", "/v1/chat/completions"}, {"GET", "/nowhere"},
		} {
			t.Run(tc.name+" "+req.method+" "+req.path, func(t *testing.T) {
				r, err := http.NewRequest(req.method, tc.srv.URL+req.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tc.header {
					r.Header.Set(k, v)
				}
				res, err := tc.srv.Client().Do(r)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("status %d: X-Content-Type-Options %q, want nosniff", res.StatusCode, got)
				}
				want := ""
				if tc.hsts {
					want = httpsecurity.HSTS
				}
				if got := res.Header.Get("Strict-Transport-Security"); got != want {
					t.Errorf("status %d: Strict-Transport-Security %q, want %q", res.StatusCode, got, want)
				}
			})
		}
	}
}
