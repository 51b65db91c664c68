package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/authtest"
)

const testIssuer = "https://oais.test"

// quiet keeps expected warnings out of the test output.
var quiet = slog.New(slog.DiscardHandler)

func newIssuer(t *testing.T, store auth.SigningKeyStore, clock *authtest.Clock, mod ...func(*auth.IssuerConfig)) *auth.Issuer {
	t.Helper()
	cfg := auth.IssuerConfig{Issuer: testIssuer, Now: clock.Now, KeyRetention: time.Hour, Logger: quiet}
	for _, m := range mod {
		m(&cfg)
	}
	i, err := auth.NewIssuer(context.Background(), store, cfg)
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	return i
}

func issue(t *testing.T, i *auth.Issuer) string {
	t.Helper()
	tok, _, err := i.Issue(context.Background(), auth.AccessSubject{UserID: "u1", SessionID: "s1", Email: "a@example.com"})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return tok
}

func tokenKID(t *testing.T, token string) string {
	t.Helper()
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return msg.Signatures()[0].ProtectedHeaders().KeyID()
}

// forge signs claims the issuer would have signed, but with alg and key of
// the test's choosing and the given kid.
func forge(t *testing.T, alg jwa.SignatureAlgorithm, key any, kid string, clock *authtest.Clock) string {
	t.Helper()
	now := clock.Now()
	tok, err := jwt.NewBuilder().Issuer(testIssuer).Audience([]string{auth.DefaultAudience}).
		Subject("u1").IssuedAt(now).NotBefore(now).Expiration(now.Add(time.Minute)).
		JwtID("j").Claim("sid", "s1").Build()
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, kid)
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	return string(signed)
}

func TestIssuerIssueAndVerify(t *testing.T) {
	clock := authtest.NewClock(time.Time{})
	i := newIssuer(t, &authtest.KeyStore{}, clock)
	tok, exp, err := i.Issue(context.Background(), auth.AccessSubject{UserID: "u1", SessionID: "s1", Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := i.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	now := clock.Now()
	checks := []struct {
		name      string
		got, want any
	}{
		{"iss", c.Issuer, testIssuer},
		{"aud", c.Audience, []string{auth.DefaultAudience}},
		{"sub", c.Subject, "u1"},
		{"sid", c.SessionID, "s1"},
		{"email", c.Email, "a@example.com"},
		{"iat", c.IssuedAt.Equal(now), true},
		{"nbf", c.NotBefore.Equal(now), true},
		{"exp", c.ExpiresAt.Equal(now.Add(auth.DefaultAccessTTL)), true},
		{"returned exp", exp.Equal(c.ExpiresAt), true},
		{"jti present", c.ID != "", true},
		{"kid present", tokenKID(t, tok) != "", true},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			if !slices.Equal([]string{jsonOf(ch.got)}, []string{jsonOf(ch.want)}) {
				t.Fatalf("got %v, want %v", ch.got, ch.want)
			}
		})
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestIssuerVerifyRejects(t *testing.T) {
	ctx := context.Background()
	clock := authtest.NewClock(time.Time{})
	store := &authtest.KeyStore{}
	i := newIssuer(t, store, clock)
	good := issue(t, i)
	kid := tokenKID(t, good)

	var pubJWK jwk.Key
	if k, ok := i.PublicKeys().LookupKeyID(kid); ok {
		pubJWK = k
	}
	var pubRaw ed25519.PublicKey
	if err := pubJWK.Raw(&pubRaw); err != nil {
		t.Fatal(err)
	}
	pubJSON, _ := json.Marshal(pubJWK)
	_, foreignKey, _ := ed25519.GenerateKey(rand.Reader)

	// A second issuer on the same keys but other iss/aud, and one whose
	// clock runs ahead, mint tokens that are well signed but not for us now.
	otherIss := newIssuer(t, store, clock, func(c *auth.IssuerConfig) { c.Issuer = "https://evil.test" })
	otherAud := newIssuer(t, store, clock, func(c *auth.IssuerConfig) { c.Audience = "gateway" })
	future := authtest.NewClock(clock.Now().Add(10 * time.Minute))
	ahead := newIssuer(t, store, future)

	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	noneHeader := b64([]byte(`{"alg":"none","kid":"` + kid + `"}`))

	tests := []struct {
		name    string
		token   func() string
		advance time.Duration
		wantErr error
	}{
		{name: "alg none", token: func() string { return noneHeader + "." + parts[1] + "." }},
		{name: "alg none with original signature", token: func() string { return noneHeader + "." + parts[1] + "." + parts[2] }},
		{name: "HS256 keyed with raw public key", token: func() string { return forge(t, jwa.HS256, []byte(pubRaw), kid, clock) }},
		{name: "HS256 keyed with public JWK", token: func() string { return forge(t, jwa.HS256, pubJSON, kid, clock) }},
		{name: "foreign kid", token: func() string { return forge(t, jwa.EdDSA, foreignKey, "foreign", clock) }, wantErr: auth.ErrUnknownKey},
		{name: "missing kid", token: func() string { return forge(t, jwa.EdDSA, foreignKey, "", clock) }},
		{name: "our kid, foreign key", token: func() string { return forge(t, jwa.EdDSA, foreignKey, kid, clock) }},
		{name: "wrong iss", token: func() string { return issue(t, otherIss) }},
		{name: "wrong aud", token: func() string { return issue(t, otherAud) }},
		{name: "expired", token: func() string { return issue(t, i) }, advance: auth.DefaultAccessTTL + auth.ClockSkew + time.Second, wantErr: auth.ErrTokenExpired},
		{name: "not yet valid", token: func() string { return issue(t, ahead) }},
		{name: "payload tampered", token: func() string {
			return parts[0] + "." + b64([]byte(`{"sub":"admin"}`)) + "." + parts[2]
		}},
		{name: "empty", token: func() string { return "" }},
		{name: "garbage", token: func() string { return "a.b.c" }},
		{name: "oversized", token: func() string { return strings.Repeat("a", 9000) + ".b.c" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token()
			clock.Advance(tt.advance)
			t.Cleanup(func() { clock.Advance(-tt.advance) })
			c, err := i.Verify(ctx, tok)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", c)
			}
			t.Logf("Verify error: %v", err)
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v does not wrap %v", err, tt.wantErr)
			}
		})
	}
	t.Run("good token still verifies", func(t *testing.T) {
		if _, err := i.Verify(ctx, good); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("within clock skew", func(t *testing.T) {
		clock.Advance(auth.DefaultAccessTTL + auth.ClockSkew/2)
		t.Cleanup(func() { clock.Advance(-(auth.DefaultAccessTTL + auth.ClockSkew/2)) })
		if _, err := i.Verify(ctx, good); err != nil {
			t.Fatal(err)
		}
	})
}

func TestIssuerRotation(t *testing.T) {
	ctx := context.Background()
	clock := authtest.NewClock(time.Time{})
	store := &authtest.KeyStore{}
	i := newIssuer(t, store, clock, func(c *auth.IssuerConfig) { c.AccessTTL = 30 * time.Minute })
	before := issue(t, i)

	clock.Advance(time.Minute)
	if err := i.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	after := issue(t, i)
	if tokenKID(t, before) == tokenKID(t, after) {
		t.Fatal("rotation did not change the signing kid")
	}

	t.Run("both keys verify after rotation", func(t *testing.T) {
		for _, tok := range []string{before, after} {
			if _, err := i.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(jwksKIDs(t, i)); n != 2 {
			t.Fatalf("JWKS has %d keys, want 2", n)
		}
	})
	t.Run("restart loads the stored keys", func(t *testing.T) {
		again := newIssuer(t, store, clock)
		if _, err := again.Verify(ctx, before); err != nil {
			t.Fatal(err)
		}
		if tokenKID(t, issue(t, again)) != tokenKID(t, after) {
			t.Fatal("restarted issuer signs with another key than the newest")
		}
		keys, _ := store.SigningKeys(ctx)
		if len(keys) != 2 {
			t.Fatalf("store has %d keys, want 2", len(keys))
		}
	})
	t.Run("another replica picks up a rotation on an unknown kid", func(t *testing.T) {
		replica := newIssuer(t, store, clock)
		if err := i.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		newest := issue(t, i)
		clock.Advance(15 * time.Second) // past the reload rate limit
		if _, err := replica.Verify(ctx, newest); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("retired key dropped after retention", func(t *testing.T) {
		clock.Advance(time.Hour + time.Minute)
		_, err := i.Verify(ctx, before)
		if !errors.Is(err, auth.ErrUnknownKey) {
			t.Fatalf("Verify(old) = %v, want ErrUnknownKey", err)
		}
		if kids := jwksKIDs(t, i); len(kids) != 1 || slices.Contains(kids, tokenKID(t, before)) {
			t.Fatalf("JWKS kids after retention = %v", kids)
		}
	})
}

func TestNewIssuerRejectsShortRetention(t *testing.T) {
	_, err := auth.NewIssuer(context.Background(), &authtest.KeyStore{}, auth.IssuerConfig{
		Issuer: testIssuer, AccessTTL: time.Hour, KeyRetention: time.Minute,
	})
	if err == nil {
		t.Fatal("NewIssuer accepted a retention shorter than the access TTL")
	}
}

func jwksKIDs(t *testing.T, i *auth.Issuer) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	i.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, auth.JWKSPath, nil))
	set, err := jwk.Parse(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("parse JWKS: %v", err)
	}
	var kids []string
	for n := range set.Len() {
		k, _ := set.Key(n)
		kids = append(kids, k.KeyID())
	}
	return kids
}

func TestJWKSHandler(t *testing.T) {
	i := newIssuer(t, &authtest.KeyStore{}, authtest.NewClock(time.Time{}))
	t.Run("GET serves public keys", func(t *testing.T) {
		rec := httptest.NewRecorder()
		i.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, auth.JWKSPath, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
			t.Fatalf("Cache-Control = %q", cc)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/jwk-set+json" {
			t.Fatalf("Content-Type = %q", ct)
		}
		var doc struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Keys) != 1 {
			t.Fatalf("%d keys", len(doc.Keys))
		}
		k := doc.Keys[0]
		for field, want := range map[string]any{"alg": "EdDSA", "use": "sig", "kty": "OKP", "crv": "Ed25519"} {
			if k[field] != want {
				t.Errorf("%s = %v, want %v", field, k[field], want)
			}
		}
		if k["kid"] == nil || k["kid"] == "" {
			t.Error("no kid")
		}
		if _, leaked := k["d"]; leaked {
			t.Fatal("JWKS leaks the private key")
		}
	})
	t.Run("POST refused", func(t *testing.T) {
		rec := httptest.NewRecorder()
		i.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, auth.JWKSPath, nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("status %d", rec.Code)
		}
	})
}
