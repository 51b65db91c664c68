package accounts_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

// provider is a real mockoidc server on loopback, as in auth's tests; its
// requests run under mu so a test can queue users between sign-ins.
type provider struct {
	m  *mockoidc.MockOIDC
	mu sync.Mutex
}

func startProvider(t *testing.T) *provider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{m: m}
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.Lock()
			defer p.mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

func (p *provider) queue(u *mockoidc.MockUser) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m.QueueUser(u)
}

// ssoApp is the control plane's SSO routes over f's accounts; its base URL
// is also the public URL the dashboard lives at.
type ssoApp struct {
	base string
	oidc *auth.OIDC
}

func startSSO(t *testing.T, p *provider, f *fixture, rules ...accounts.DomainRule) *ssoApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &ssoApp{base: "http://" + ln.Addr().String()}
	backchannel := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(backchannel.CloseIdleConnections)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	o, err := auth.NewOIDC(context.Background(), auth.OIDCConfig{
		Issuer: p.m.Issuer(), ClientID: p.m.ClientID, ClientSecret: p.m.ClientSecret,
		RedirectURL: a.base + auth.OIDCCallbackPath, CookieSecret: secret,
		HTTPClient: backchannel, Logger: f.log,
	})
	if err != nil {
		t.Fatalf("NewOIDC: %v", err)
	}
	t.Cleanup(o.Close)
	a.oidc = o
	login, callback := accounts.OIDCHandlers(o, f.acc, a.base+"/", rules...)
	mux := http.NewServeMux()
	mux.Handle("GET "+auth.OIDCLoginPath, login)
	mux.Handle(auth.OIDCCallbackPath, callback)
	srv := httptest.NewUnstartedServer(mux)
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return a
}

// newBrowser follows redirects through our login, the provider and our
// callback, and stops at the dashboard's pages, which are not served here.
func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Jar: jar, Transport: &http.Transport{}, Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == accounts.CompletePath || req.URL.Path == accounts.SignInPath || len(via) > 5 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// ssoSignIn runs a whole SSO sign-in and returns where the callback sent
// the browser and the refresh cookie it set ("" if none). tamper, if set,
// may change the callback URL on the way.
func (a *ssoApp) ssoSignIn(t *testing.T, b *http.Client, tamper func(*url.URL)) (*url.URL, *http.Cookie) {
	t.Helper()
	if tamper != nil {
		prev := b.CheckRedirect
		b.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == auth.OIDCCallbackPath {
				tamper(req.URL)
			}
			return prev(req, via)
		}
		defer func() { b.CheckRedirect = prev }()
	}
	resp, err := b.Get(a.base + auth.OIDCLoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want a redirect to the dashboard", resp.StatusCode)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == auth.RefreshCookie {
			return loc, c
		}
	}
	return loc, nil
}

// ssoAccess exchanges the refresh cookie of an SSO sign-in for its tokens,
// as the dashboard does at accounts.CompletePath.
func ssoAccess(t *testing.T, f *fixture, c *http.Cookie) auth.Tokens {
	t.Helper()
	if c == nil || c.Value == "" {
		t.Fatal("the SSO sign-in set no refresh cookie")
	}
	tok, _, err := f.acc.Refresh(context.Background(), c.Value, clientIP)
	if err != nil {
		t.Fatalf("refresh with the SSO cookie: %v", err)
	}
	return tok
}

func TestOIDCHandlers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ws := mkWorkspace(t, s, "Corp")
		f := newFixture(t, s)
		mkUser(t, s, "taken@corp.example", "their password")
		p := startProvider(t)
		app := startSSO(t, p, f, accounts.DomainRule{Domain: "corp.example", WorkspaceID: ws.ID, Role: viewer.RoleDeveloper})

		t.Run("new user lands signed in with the domain's role", func(t *testing.T) {
			p.queue(&mockoidc.MockUser{Subject: "sub-1", Email: "Ann@Corp.Example", EmailVerified: true, PreferredUsername: "ann"})
			loc, cookie := app.ssoSignIn(t, newBrowser(t), nil)
			// Issue 15: the session travels in the HttpOnly cookie only.
			// With tokens in the URL (the fragment it used to carry), a
			// crafted link to /auth/complete signed a victim into the
			// attacker's account.
			if loc.String() != app.base+accounts.CompletePath {
				t.Fatalf("redirected to %s, want exactly %s%s: nothing of the session in the URL", loc, app.base, accounts.CompletePath)
			}
			if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != auth.SessionPath || cookie.Secure {
				t.Fatalf("refresh cookie %+v: want HttpOnly, SameSite=Strict, Path=%s, not Secure on http", cookie, auth.SessionPath)
			}
			tok := ssoAccess(t, f, cookie)
			claims, err := f.issuer.Verify(ctx, tok.AccessToken)
			if err != nil || claims.Email != "ann@corp.example" {
				t.Fatalf("access token: %+v, %v", claims, err)
			}
			v, err := accounts.NewPrincipalLoader(s.Ent).Principal(ctx, claims.Subject, claims.SessionID)
			if err != nil || v.Roles[ws.ID] != viewer.RoleDeveloper {
				t.Fatalf("principal %+v, %v", v, err)
			}
			if _, _, err := f.acc.Refresh(ctx, tok.RefreshToken, clientIP); err != nil {
				t.Fatalf("refresh the SSO session: %v", err)
			}
			wantRole(t, s, ws.ID, claims.Subject, membership.RoleDEVELOPER)
		})
		failures := []struct {
			name   string
			user   *mockoidc.MockUser
			tamper func(*url.URL)
			code   string
		}{
			{
				name: "unverified email of an existing account",
				user: &mockoidc.MockUser{Subject: "sub-2", Email: "taken@corp.example", EmailVerified: false},
				code: "sso_account_exists",
			},
			{
				name: "state tampered",
				user: &mockoidc.MockUser{Subject: "sub-3", Email: "x@corp.example", EmailVerified: true},
				tamper: func(u *url.URL) {
					q := u.Query()
					st := q.Get("state")
					last := "A"
					if st[len(st)-1] == 'A' {
						last = "B"
					}
					q.Set("state", st[:len(st)-1]+last)
					u.RawQuery = q.Encode()
				},
				code: "sso_state",
			},
		}
		for _, tt := range failures {
			t.Run(tt.name, func(t *testing.T) {
				p.queue(tt.user)
				loc, cookie := app.ssoSignIn(t, newBrowser(t), tt.tamper)
				if cookie != nil {
					t.Errorf("a failed SSO sign-in set the refresh cookie")
				}
				want := app.base + accounts.SignInPath + "?error=" + tt.code
				if loc.String() != want {
					t.Fatalf("redirected to %s, want %s", loc, want)
				}
			})
		}
	})
}
