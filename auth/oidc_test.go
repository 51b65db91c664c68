package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/oais/oais/auth"
)

// provider is a real mockoidc server on loopback. Every request to it runs
// under mu, so a test can change the provider (its keypair, its clock, the
// tampering below) between requests without a data race.
type provider struct {
	t  *testing.T
	m  *mockoidc.MockOIDC
	mu sync.Mutex
	// tamperNonce makes the authorize endpoint see another nonce than the
	// one we sent, as if the code had been obtained for another login.
	tamperNonce bool
	// rewrite, if set, re-signs the ID token of a token response after
	// changing its claims; it returns the alg, private key and kid to use.
	rewrite func(tok jwt.Token) (jwa.SignatureAlgorithm, any, string)
}

func startProvider(t *testing.T) *provider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{t: t, m: m}
	if err := m.AddMiddleware(p.intercept); err != nil {
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

// change runs f with the provider paused between requests.
func (p *provider) change(f func(m *mockoidc.MockOIDC)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p.m)
}

func (p *provider) intercept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch {
		case r.URL.Path == mockoidc.AuthorizationEndpoint && p.tamperNonce:
			q := r.URL.Query()
			q.Set("nonce", "tampered")
			r.URL.RawQuery = q.Encode()
		case r.URL.Path == mockoidc.TokenEndpoint && p.rewrite != nil:
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if rec.Code == http.StatusOK {
				body = p.rewriteIDToken(body)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *provider) rewriteIDToken(body []byte) []byte {
	var resp map[string]any
	if err := json.Unmarshal(body, &resp); err != nil {
		p.t.Errorf("token response: %v", err)
		return body
	}
	raw, _ := resp["id_token"].(string)
	tok, err := jwt.Parse([]byte(raw), jwt.WithVerify(false), jwt.WithValidate(false))
	if err != nil {
		p.t.Errorf("parse id token: %v", err)
		return body
	}
	alg, key, kid := p.rewrite(tok)
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, kid)
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		p.t.Errorf("re-sign id token: %v", err)
		return body
	}
	resp["id_token"] = string(signed)
	out, _ := json.Marshal(resp)
	return out
}

// signedByProvider re-signs with the provider's own key, for claim changes
// only mockoidc's keypair can make look genuine.
func (p *provider) signedByProvider() (jwa.SignatureAlgorithm, any, string) {
	kid, err := p.m.Keypair.KeyID()
	if err != nil {
		p.t.Errorf("kid: %v", err)
	}
	return jwa.RS256, p.m.Keypair.PrivateKey, kid
}

// app is the control plane's side: our OIDC client behind the two routes.
type app struct {
	oidc *auth.OIDC
	base string

	mu    sync.Mutex
	ident *auth.Identity
	err   error
	calls int
}

func startApp(t *testing.T, p *provider) *app {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &app{base: "http://" + ln.Addr().String()}
	backchannel := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(backchannel.CloseIdleConnections)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	o, err := auth.NewOIDC(context.Background(), auth.OIDCConfig{
		Issuer:       p.m.Issuer(),
		ClientID:     p.m.ClientID,
		ClientSecret: p.m.ClientSecret,
		RedirectURL:  a.base + auth.OIDCCallbackPath,
		CookieSecret: secret,
		HTTPClient:   backchannel,
		Logger:       quiet,
	})
	if err != nil {
		t.Fatalf("NewOIDC: %v", err)
	}
	t.Cleanup(o.Close)
	a.oidc = o

	mux := http.NewServeMux()
	mux.Handle("GET "+auth.OIDCLoginPath, o.LoginHandler())
	mux.HandleFunc("GET "+auth.OIDCCallbackPath, func(w http.ResponseWriter, r *http.Request) {
		id, err := o.Callback(w, r)
		a.mu.Lock()
		a.ident, a.err = id, err
		a.calls++
		a.mu.Unlock()
		if err != nil {
			http.Error(w, "sign-in failed", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	// The server starts only now, after every field it reads is set.
	srv := httptest.NewUnstartedServer(mux)
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return a
}

// newBrowser returns a client with a cookie jar that follows redirects up
// to, but not into, our callback, so a test can look at or alter it.
func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Jar:       jar,
		Transport: &http.Transport{},
		Timeout:   10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == auth.OIDCCallbackPath || len(via) > 5 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// authorize runs the browser through our login and the provider, and returns
// the callback URL the provider redirected to.
func (a *app) authorize(t *testing.T, browser *http.Client) *url.URL {
	t.Helper()
	resp, err := browser.Get(a.base + auth.OIDCLoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("provider answered %d, want a redirect to the callback", resp.StatusCode)
	}
	u, err := resp.Location()
	if err != nil || u.Path != auth.OIDCCallbackPath {
		t.Fatalf("redirect to %v (%v), want the callback", u, err)
	}
	return u
}

// callback delivers u in browser and returns what Callback returned.
func (a *app) callback(t *testing.T, browser *http.Client, u *url.URL) (*auth.Identity, error) {
	t.Helper()
	a.mu.Lock()
	before := a.calls
	a.mu.Unlock()
	resp, err := browser.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.calls != before+1 {
		t.Fatalf("callback handler ran %d times", a.calls-before)
	}
	return a.ident, a.err
}

func (a *app) signIn(t *testing.T) (*auth.Identity, error) {
	t.Helper()
	b := newBrowser(t)
	return a.callback(t, b, a.authorize(t, b))
}

func TestOIDCLoginRedirect(t *testing.T) {
	p := startProvider(t)
	a := startApp(t, p)
	b := newBrowser(t)
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := b.Get(a.base + auth.OIDCLoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "oais_oidc_") {
			cookie = c
		}
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"redirects to the provider", resp.StatusCode == http.StatusFound && loc.Path == mockoidc.AuthorizationEndpoint},
		{"code flow", q.Get("response_type") == "code"},
		{"client id", q.Get("client_id") == p.m.ClientID},
		{"redirect uri", q.Get("redirect_uri") == a.base+auth.OIDCCallbackPath},
		{"openid scope", strings.Contains(q.Get("scope"), "openid")},
		{"state", len(q.Get("state")) >= 43},
		{"nonce", len(q.Get("nonce")) >= 43 && q.Get("nonce") != q.Get("state")},
		{"pkce S256", q.Get("code_challenge_method") == "S256" && len(q.Get("code_challenge")) == 43},
		{"state cookie set", cookie != nil},
		{"cookie HttpOnly", cookie != nil && cookie.HttpOnly},
		{"cookie SameSite=Lax", cookie != nil && cookie.SameSite == http.SameSiteLaxMode},
		{"cookie not Secure on http", cookie != nil && !cookie.Secure},
		{"cookie short-lived", cookie != nil && cookie.MaxAge > 0 && cookie.MaxAge <= 600},
		{"cookie scoped to the callback", cookie != nil && cookie.Path == auth.OIDCCallbackPath},
		{"verifier not in the URL", cookie != nil && !strings.Contains(loc.String(), cookie.Value)},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Fatalf("failed; location %s, cookie %+v", loc, cookie)
			}
		})
	}
}

func TestOIDCCallback(t *testing.T) {
	rogue, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// setup changes the provider before the sign-in under test.
		setup func(t *testing.T, p *provider)
		// deliver overrides how the callback URL reaches the app.
		deliver func(t *testing.T, a *app, b *http.Client, u *url.URL) (*auth.Identity, error)
		wantErr error
	}{
		{name: "happy path"},
		{
			name:    "nonce tampered",
			setup:   func(t *testing.T, p *provider) { p.change(func(*mockoidc.MockOIDC) { p.tamperNonce = true }) },
			wantErr: auth.ErrOIDCIDToken,
		},
		{
			name: "state tampered (CSRF)",
			deliver: func(t *testing.T, a *app, b *http.Client, u *url.URL) (*auth.Identity, error) {
				q := u.Query()
				// Keep the prefix that names the cookie, so the cookie is
				// found and its state compared.
				st := q.Get("state")
				q.Set("state", st[:len(st)-1]+map[bool]string{true: "B", false: "A"}[st[len(st)-1] == 'A'])
				u.RawQuery = q.Encode()
				return a.callback(t, b, u)
			},
			wantErr: auth.ErrOIDCState,
		},
		{
			name: "callback in a browser that did not start the login (login CSRF)",
			deliver: func(t *testing.T, a *app, _ *http.Client, u *url.URL) (*auth.Identity, error) {
				return a.callback(t, newBrowser(t), u)
			},
			wantErr: auth.ErrOIDCState,
		},
		{
			name: "forged state cookie",
			deliver: func(t *testing.T, a *app, b *http.Client, u *url.URL) (*auth.Identity, error) {
				var forged []*http.Cookie
				for _, c := range b.Jar.Cookies(u) {
					payload, _, _ := strings.Cut(c.Value, ".")
					forged = append(forged, &http.Cookie{Name: c.Name, Value: payload + ".AAAA", Path: auth.OIDCCallbackPath})
				}
				b.Jar.SetCookies(u, forged)
				return a.callback(t, b, u)
			},
			wantErr: auth.ErrOIDCState,
		},
		{
			name: "callback replayed",
			deliver: func(t *testing.T, a *app, b *http.Client, u *url.URL) (*auth.Identity, error) {
				if _, err := a.callback(t, b, u); err != nil {
					t.Fatalf("first callback: %v", err)
				}
				return a.callback(t, b, u)
			},
			wantErr: auth.ErrOIDCState,
		},
		{
			name: "wrong audience",
			setup: func(t *testing.T, p *provider) {
				p.change(func(*mockoidc.MockOIDC) {
					p.rewrite = func(tok jwt.Token) (jwa.SignatureAlgorithm, any, string) {
						_ = tok.Set(jwt.AudienceKey, []string{"another-client"})
						return p.signedByProvider()
					}
				})
			},
			wantErr: auth.ErrOIDCIDToken,
		},
		{
			name: "expired id token",
			setup: func(t *testing.T, p *provider) {
				p.change(func(m *mockoidc.MockOIDC) { m.FastForward(-time.Hour) })
			},
			wantErr: auth.ErrOIDCIDToken,
		},
		{
			name: "wrong issuer",
			setup: func(t *testing.T, p *provider) {
				p.change(func(*mockoidc.MockOIDC) {
					p.rewrite = func(tok jwt.Token) (jwa.SignatureAlgorithm, any, string) {
						_ = tok.Set(jwt.IssuerKey, "https://evil.test")
						return p.signedByProvider()
					}
				})
			},
			wantErr: auth.ErrOIDCIDToken,
		},
		{
			name: "signed by a key not in the JWKS",
			setup: func(t *testing.T, p *provider) {
				p.change(func(*mockoidc.MockOIDC) {
					p.rewrite = func(jwt.Token) (jwa.SignatureAlgorithm, any, string) { return jwa.RS256, rogue, "rogue" }
				})
			},
			wantErr: auth.ErrOIDCIDToken,
		},
		{
			name: "provider's kid, rogue key",
			setup: func(t *testing.T, p *provider) {
				p.change(func(*mockoidc.MockOIDC) {
					p.rewrite = func(tok jwt.Token) (jwa.SignatureAlgorithm, any, string) {
						_, _, kid := p.signedByProvider()
						return jwa.RS256, rogue, kid
					}
				})
			},
			wantErr: auth.ErrOIDCIDToken,
		},
		{
			name: "HS256 with the client secret",
			setup: func(t *testing.T, p *provider) {
				p.change(func(m *mockoidc.MockOIDC) {
					p.rewrite = func(jwt.Token) (jwa.SignatureAlgorithm, any, string) {
						_, _, kid := p.signedByProvider()
						return jwa.HS256, []byte(m.ClientSecret), kid
					}
				})
			},
			wantErr: auth.ErrOIDCIDToken,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProvider(t)
			p.change(func(m *mockoidc.MockOIDC) {
				m.QueueUser(&mockoidc.MockUser{Subject: "sub-42", Email: "jane@example.com", EmailVerified: true, PreferredUsername: "jane"})
			})
			a := startApp(t, p)
			if tt.setup != nil {
				tt.setup(t, p)
			}
			b := newBrowser(t)
			u := a.authorize(t, b)
			deliver := tt.deliver
			if deliver == nil {
				deliver = func(t *testing.T, a *app, b *http.Client, u *url.URL) (*auth.Identity, error) {
					return a.callback(t, b, u)
				}
			}
			id, err := deliver(t, a, b, u)
			if tt.wantErr != nil {
				t.Logf("Callback error: %v", err)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Callback = %+v, %v; want %v", id, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Callback: %v", err)
			}
			want := auth.Identity{Issuer: p.m.Issuer(), Subject: "sub-42", Email: "jane@example.com", EmailVerified: true, Name: "jane"}
			if *id != want {
				t.Fatalf("identity %+v, want %+v", *id, want)
			}
			if left := b.Jar.Cookies(u); len(left) != 0 {
				t.Fatalf("state cookie not cleared: %v", left)
			}
		})
	}
}

// TestOIDCProviderKeyRotation has the provider switch to a new signing key
// after we cached its JWKS: the unknown kid must trigger a refetch.
func TestOIDCProviderKeyRotation(t *testing.T) {
	p := startProvider(t)
	a := startApp(t, p)
	if _, err := a.signIn(t); err != nil {
		t.Fatalf("sign-in before rotation: %v", err)
	}
	kp, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	var oldKID, newKID string
	p.change(func(m *mockoidc.MockOIDC) {
		oldKID, _ = m.Keypair.KeyID()
		m.Keypair = kp
		newKID, _ = kp.KeyID()
	})
	if oldKID == newKID {
		t.Fatal("rotation kept the kid")
	}
	id, err := a.signIn(t)
	if err != nil {
		t.Fatalf("sign-in after rotation: %v", err)
	}
	if id.Subject == "" {
		t.Fatalf("identity %+v", id)
	}
}

func TestNewOIDCConfigErrors(t *testing.T) {
	p := startProvider(t)
	good := func() auth.OIDCConfig {
		return auth.OIDCConfig{
			Issuer: p.m.Issuer(), ClientID: p.m.ClientID, ClientSecret: p.m.ClientSecret,
			RedirectURL: "https://oais.test" + auth.OIDCCallbackPath, CookieSecret: make([]byte, 32), Logger: quiet,
		}
	}
	tests := []struct {
		name    string
		mod     func(*auth.OIDCConfig)
		wantErr error
	}{
		{name: "no issuer", mod: func(c *auth.OIDCConfig) { c.Issuer = "" }},
		{name: "no client secret", mod: func(c *auth.OIDCConfig) { c.ClientSecret = "" }},
		{name: "short cookie secret", mod: func(c *auth.OIDCConfig) { c.CookieSecret = make([]byte, 16) }},
		{name: "relative redirect", mod: func(c *auth.OIDCConfig) { c.RedirectURL = auth.OIDCCallbackPath }},
		{name: "issuer mismatch", mod: func(c *auth.OIDCConfig) { c.Issuer = p.m.Addr() + "/oidc/" }, wantErr: auth.ErrOIDCProvider},
		{name: "unreachable", mod: func(c *auth.OIDCConfig) { c.Issuer = "http://127.0.0.1:1/oidc" }, wantErr: auth.ErrOIDCProvider},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.mod(&cfg)
			o, err := auth.NewOIDC(context.Background(), cfg)
			if err == nil {
				o.Close()
				t.Fatal("NewOIDC accepted the config")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	t.Run("good config", func(t *testing.T) {
		o, err := auth.NewOIDC(context.Background(), good())
		if err != nil {
			t.Fatal(err)
		}
		o.Close()
	})
}
