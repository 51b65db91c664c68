package controlplane_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/controlplane"
	"github.com/oais/oais/internal/storetest"
)

// TestSSOAcrossReplicas: behind a load balancer, the IdP's redirect may
// reach another control-plane replica than the one that started the
// sign-in. With the same OAIS_SECRETS_KEY the state cookie verifies there;
// without one on SQLite, replicas on one database share the key kept
// beside it.
func TestSSOAcrossReplicas(t *testing.T) {
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	idp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(idp, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	for _, tt := range []struct {
		name       string
		secretsKey string
		wantPath   string
	}{
		{"shared OAIS_SECRETS_KEY", base64.StdEncoding.EncodeToString(key), accounts.CompletePath},
		{"no OAIS_SECRETS_KEY: the key beside the SQLite database", "", accounts.CompletePath},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Replica B's address is the public URL: the IdP sends the
			// browser back there, whoever started the sign-in.
			lnB, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := controlplane.Load(config.Map(map[string]string{
				"OAIS_DATABASE_URL":             storetest.SQLiteURL(t),
				"OAIS_PUBLIC_URL":               "http://" + lnB.Addr().String(),
				"OAIS_BOOTSTRAP_ADMIN_PASSWORD": "a long enough password",
				"OAIS_OIDC_ISSUER":              m.Issuer(),
				"OAIS_OIDC_CLIENT_ID":           m.ClientID,
				"OAIS_OIDC_CLIENT_SECRET":       m.ClientSecret,
				"OAIS_SECRETS_KEY":              tt.secretsKey,
			}))
			if err != nil {
				t.Fatal(err)
			}
			open := func() *controlplane.Server {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				s, err := controlplane.Open(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
			a, b := open(), open()
			srvA := httptest.NewServer(a.Handler)
			t.Cleanup(srvA.Close)
			srvB := httptest.NewUnstartedServer(b.Handler)
			_ = srvB.Listener.Close()
			srvB.Listener = lnB
			srvB.Start()
			t.Cleanup(srvB.Close)

			jar, _ := cookiejar.New(nil) // cookies ignore ports: A's state cookie reaches B
			browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
				CheckRedirect: func(req *http.Request, via []*http.Request) error {
					if req.URL.Path == accounts.CompletePath || req.URL.Path == accounts.SignInPath || len(via) > 5 {
						return http.ErrUseLastResponse
					}
					return nil
				}}
			resp, err := browser.Get(srvA.URL + auth.OIDCLoginPath)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("status %d, no redirect: %v", resp.StatusCode, err)
			}
			if loc.Path != tt.wantPath {
				t.Fatalf("sign-in started on A, finished on B at %s; want %s", loc, tt.wantPath)
			}
		})
	}
}
