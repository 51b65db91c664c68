package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Paths of the SSO endpoints (CONTRACT §4).
const (
	OIDCLoginPath    = "/auth/oidc/login"
	OIDCCallbackPath = "/auth/oidc/callback"
)

const (
	// oidcStateTTL is how long a user may take at the provider's login page.
	oidcStateTTL        = 10 * time.Minute
	oidcCookiePrefix    = "oais_oidc_"
	minCookieSecretLen  = 32
	maxProviderResponse = 1 << 20
	// jwksForcedRefreshInterval rate-limits JWKS refetches triggered by an
	// unknown kid, so forged tokens cannot make us hammer the provider.
	jwksForcedRefreshInterval = time.Minute
	oidcHTTPTimeout           = 10 * time.Second
)

// asymmetricAlgs are the ID-token algorithms we accept. HS256 with the
// client secret is allowed by OIDC but refused here: it would make the
// client secret a signing key.
var asymmetricAlgs = []jwa.SignatureAlgorithm{
	jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512,
	jwa.ES256, jwa.ES384, jwa.ES512, jwa.EdDSA,
}

// OIDCConfig configures single sign-on with one OpenID Connect provider.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL (OAIS_OIDC_ISSUER); discovery is
	// read from Issuer + "/.well-known/openid-configuration".
	Issuer       string
	ClientID     string
	ClientSecret string // never logged
	// RedirectURL is our callback, OAIS_PUBLIC_URL + OIDCCallbackPath. Its
	// scheme decides whether the state cookie is Secure.
	RedirectURL string
	// Scopes default to openid, email, profile; openid is always added.
	Scopes []string
	// CookieSecret (at least 32 bytes) authenticates the state cookie.
	CookieSecret []byte
	// TokenAuthMethod is "client_secret_basic", "client_secret_post", or
	// empty to choose from discovery (trying basic, then post).
	TokenAuthMethod string
	// HTTPClient talks to the provider; a client with a timeout if nil.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Identity is a user as asserted by the provider's verified ID token.
// Link accounts by (Issuer, Subject); trust Email for linking to an
// existing local account only when EmailVerified is true.
type Identity struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	// Name is the name claim, or preferred_username when there is none.
	Name string
}

type discovery struct {
	Issuer           string   `json:"issuer"`
	AuthorizationURL string   `json:"authorization_endpoint"`
	TokenURL         string   `json:"token_endpoint"`
	JWKSURI          string   `json:"jwks_uri"`
	SigningAlgs      []string `json:"id_token_signing_alg_values_supported"`
	TokenAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	ChallengeMethods []string `json:"code_challenge_methods_supported"`
}

// Token endpoint client authentication, decided once per process.
const (
	authUnknown int32 = iota
	authBasic
	authPost
)

// OIDC runs the authorization-code flow with PKCE (S256), state and nonce
// against one provider. The control plane mounts LoginHandler at
// OIDCLoginPath and, at OIDCCallbackPath, calls Callback, provisions or
// finds the user from the returned Identity, starts a session and
// redirects to the dashboard; this type knows nothing about users.
type OIDC struct {
	cfg       OIDCConfig
	hc        *http.Client
	log       *slog.Logger
	disc      discovery
	algs      []jwa.SignatureAlgorithm
	scopes    string
	cookieKey []byte
	cookie    cookieShape
	authStyle atomic.Int32

	keys   *jwk.Cache
	cancel context.CancelFunc
	now    func() time.Time

	refreshMu  sync.Mutex
	lastForced time.Time
}

type cookieShape struct {
	path   string
	secure bool
}

// NewOIDC reads the provider's discovery document and JWKS. Call Close when
// done to stop the JWKS cache's background refresher.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("auth: OIDC issuer is required (OAIS_OIDC_ISSUER)")
	case cfg.ClientID == "":
		return nil, errors.New("auth: OIDC client ID is required (OAIS_OIDC_CLIENT_ID)")
	case cfg.ClientSecret == "":
		return nil, errors.New("auth: OIDC client secret is required (OAIS_OIDC_CLIENT_SECRET)")
	case len(cfg.CookieSecret) < minCookieSecretLen:
		return nil, fmt.Errorf("auth: OIDC cookie secret must be at least %d bytes", minCookieSecretLen)
	}
	redirect, err := url.Parse(cfg.RedirectURL)
	if err != nil || (redirect.Scheme != "https" && redirect.Scheme != "http") || redirect.Host == "" {
		return nil, fmt.Errorf("auth: OIDC redirect URL %q is not an absolute http(s) URL (OAIS_PUBLIC_URL)", cfg.RedirectURL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: oidcHTTPTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	scopes := []string{"openid"}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"email", "profile"}
	}
	for _, s := range cfg.Scopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	// Derive the cookie key so the server secret can be shared with other
	// uses without one MAC being replayable as another.
	mac := hmac.New(sha256.New, cfg.CookieSecret)
	mac.Write([]byte("oais oidc state cookie v1"))

	o := &OIDC{
		cfg:       cfg,
		hc:        cfg.HTTPClient,
		log:       cfg.Logger,
		scopes:    strings.Join(scopes, " "),
		cookieKey: mac.Sum(nil),
		cookie:    cookieShape{path: redirect.Path, secure: redirect.Scheme == "https"},
		now:       time.Now,
	}
	if o.cookie.path == "" {
		o.cookie.path = "/"
	}
	switch cfg.TokenAuthMethod {
	case "client_secret_basic":
		o.authStyle.Store(authBasic)
	case "client_secret_post":
		o.authStyle.Store(authPost)
	case "":
	default:
		return nil, fmt.Errorf("auth: unsupported OIDC token auth method %q", cfg.TokenAuthMethod)
	}
	if err := o.discover(ctx); err != nil {
		return nil, err
	}

	// The cache outlives ctx (which may only bound start-up); Close ends it.
	cacheCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o.cancel = cancel
	o.keys = jwk.NewCache(cacheCtx)
	if err := o.keys.Register(o.disc.JWKSURI,
		jwk.WithHTTPClient(o.hc),
		jwk.WithFetchWhitelist(jwk.NewMapWhitelist().Add(o.disc.JWKSURI)),
	); err != nil {
		cancel()
		return nil, fmt.Errorf("%w: register jwks: %w", ErrOIDCProvider, err)
	}
	if _, err := o.keys.Refresh(ctx, o.disc.JWKSURI); err != nil {
		cancel()
		return nil, fmt.Errorf("%w: fetch jwks: %w", ErrOIDCProvider, err)
	}
	return o, nil
}

// Close stops the background JWKS refresher.
func (o *OIDC) Close() { o.cancel() }

func (o *OIDC) discover(ctx context.Context) error {
	u := strings.TrimSuffix(o.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: discovery: %w", ErrOIDCProvider, err)
	}
	req.Header.Set("Accept", "application/json")
	if err := o.doJSON(req, &o.disc); err != nil {
		return fmt.Errorf("%w: discovery: %w", ErrOIDCProvider, err)
	}
	d := &o.disc
	// OIDC Discovery §4.3: the document must be for the issuer we asked.
	if d.Issuer != o.cfg.Issuer {
		return fmt.Errorf("%w: discovery issuer %q is not %q", ErrOIDCProvider, d.Issuer, o.cfg.Issuer)
	}
	if d.AuthorizationURL == "" || d.TokenURL == "" || d.JWKSURI == "" {
		return fmt.Errorf("%w: discovery lacks an endpoint", ErrOIDCProvider)
	}
	if len(d.ChallengeMethods) > 0 && !slices.Contains(d.ChallengeMethods, "S256") {
		return fmt.Errorf("%w: provider does not support PKCE S256", ErrOIDCProvider)
	}
	advertised := d.SigningAlgs
	if len(advertised) == 0 {
		advertised = []string{jwa.RS256.String()} // OIDC Discovery default
	}
	for _, a := range asymmetricAlgs {
		if slices.Contains(advertised, a.String()) {
			o.algs = append(o.algs, a)
		}
	}
	if len(o.algs) == 0 {
		return fmt.Errorf("%w: no acceptable ID token algorithm in %v", ErrOIDCProvider, advertised)
	}
	if o.authStyle.Load() == authUnknown {
		basic := slices.Contains(d.TokenAuthMethods, "client_secret_basic")
		post := slices.Contains(d.TokenAuthMethods, "client_secret_post")
		switch {
		case post && !basic:
			o.authStyle.Store(authPost)
		case basic && !post:
			o.authStyle.Store(authBasic)
		}
	}
	return nil
}

// LoginHandler starts sign-in: it answers GET with a redirect to the
// provider, after setting a short-lived, HttpOnly, SameSite=Lax cookie that
// carries the state, nonce and PKCE verifier under an HMAC. Lax is needed:
// the provider's redirect back is a cross-site top-level GET.
func (o *OIDC) LoginHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		st, err := newOIDCState(o.now())
		if err != nil {
			o.log.ErrorContext(r.Context(), "auth: oidc login", slog.Any("error", err))
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name:     st.cookieName(),
			Value:    o.sealState(st),
			Path:     o.cookie.path,
			MaxAge:   int(oidcStateTTL.Seconds()),
			HttpOnly: true,
			Secure:   o.cookie.secure || r.TLS != nil,
			SameSite: http.SameSiteLaxMode,
		})
		challenge := sha256.Sum256([]byte(st.Verifier))
		q := url.Values{
			"response_type":         {"code"},
			"client_id":             {o.cfg.ClientID},
			"redirect_uri":          {o.cfg.RedirectURL},
			"scope":                 {o.scopes},
			"state":                 {st.State},
			"nonce":                 {st.Nonce},
			"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
			"code_challenge_method": {"S256"},
		}
		target, err := url.Parse(o.disc.AuthorizationURL)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		// Keep any query the provider put in its endpoint (e.g. a tenant).
		merged := target.Query()
		for k, v := range q {
			merged[k] = v
		}
		target.RawQuery = merged.Encode()
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target.String(), http.StatusFound)
	})
}

// Callback finishes sign-in at OIDCCallbackPath: it checks the state query
// against the browser's state cookie (CSRF), removes the cookie, exchanges
// the code with the PKCE verifier and verifies the ID token (signature from
// the provider's JWKS, alg, iss, aud, azp, exp, iat, nonce). Errors wrap
// ErrOIDCState, ErrOIDCProvider or ErrOIDCIDToken; none contains a secret.
// Callback writes only the cookie deletion to w; the response is the caller's.
func (o *OIDC) Callback(w http.ResponseWriter, r *http.Request) (*Identity, error) {
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	st, err := o.openState(r, state)
	if err != nil {
		return nil, err
	}
	http.SetCookie(w, &http.Cookie{
		Name: st.cookieName(), Value: "", Path: o.cookie.path, MaxAge: -1,
		HttpOnly: true, Secure: o.cookie.secure || r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("%w: authorization failed: %s", ErrOIDCProvider, sanitize(e))
	}
	code := q.Get("code")
	if code == "" {
		return nil, fmt.Errorf("%w: no code in callback", ErrOIDCProvider)
	}
	rawID, err := o.exchange(ctx, code, st.Verifier)
	if err != nil {
		return nil, err
	}
	tok, err := o.verifyIDToken(ctx, rawID, st.Nonce)
	if err != nil {
		return nil, err
	}
	id := &Identity{Issuer: tok.Issuer(), Subject: tok.Subject()}
	if v, ok := tok.Get("email"); ok {
		id.Email, _ = v.(string)
	}
	if v, ok := tok.Get("email_verified"); ok {
		// Some providers send "true" as a string.
		switch b := v.(type) {
		case bool:
			id.EmailVerified = b
		case string:
			id.EmailVerified = b == "true"
		}
	}
	for _, claim := range []string{"name", "preferred_username"} {
		if v, ok := tok.Get(claim); ok {
			if s, _ := v.(string); s != "" {
				id.Name = s
				break
			}
		}
	}
	return id, nil
}

// oidcState is what the state cookie carries between login and callback.
type oidcState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"`
}

func newOIDCState(now time.Time) (oidcState, error) {
	var parts [3]string
	for i := range parts {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return oidcState{}, fmt.Errorf("auth: read state: %w", err)
		}
		parts[i] = base64.RawURLEncoding.EncodeToString(b)
	}
	return oidcState{State: parts[0], Nonce: parts[1], Verifier: parts[2], Expires: now.Add(oidcStateTTL).Unix()}, nil
}

// cookieName is per login attempt, so two tabs signing in at once do not
// overwrite each other's state.
func (s oidcState) cookieName() string { return cookieNameFor(s.State) }

func cookieNameFor(state string) string { return oidcCookiePrefix + state[:12] }

func (o *OIDC) sealState(s oidcState) string {
	payload, _ := json.Marshal(s) // plain strings and an int cannot fail
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(o.cookieMAC(s.cookieName(), p))
}

func (o *OIDC) cookieMAC(name, payload string) []byte {
	mac := hmac.New(sha256.New, o.cookieKey)
	mac.Write([]byte(name + "=" + payload))
	return mac.Sum(nil)
}

func (o *OIDC) openState(r *http.Request, state string) (oidcState, error) {
	if len(state) < 12 || len(state) > 128 {
		return oidcState{}, fmt.Errorf("%w: no state", ErrOIDCState)
	}
	name := cookieNameFor(state)
	c, err := r.Cookie(name)
	if err != nil {
		return oidcState{}, fmt.Errorf("%w: no state cookie", ErrOIDCState)
	}
	p, sig, ok := strings.Cut(c.Value, ".")
	gotMAC, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(gotMAC, o.cookieMAC(name, p)) {
		return oidcState{}, fmt.Errorf("%w: state cookie not authentic", ErrOIDCState)
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	var st oidcState
	if err != nil || json.Unmarshal(raw, &st) != nil {
		return oidcState{}, fmt.Errorf("%w: state cookie unreadable", ErrOIDCState)
	}
	if o.now().Unix() > st.Expires {
		return oidcState{}, fmt.Errorf("%w: state expired", ErrOIDCState)
	}
	if subtle.ConstantTimeCompare([]byte(st.State), []byte(state)) != 1 {
		return oidcState{}, fmt.Errorf("%w: state does not match", ErrOIDCState)
	}
	return st, nil
}

// exchange redeems the code at the token endpoint and returns the raw ID token.
func (o *OIDC) exchange(ctx context.Context, code, verifier string) (string, error) {
	style := o.authStyle.Load()
	tryBoth := style == authUnknown
	if tryBoth {
		style = authBasic // RFC 6749 §2.3.1 and OIDC's default
	}
	idToken, status, err := o.redeem(ctx, code, verifier, style)
	if err != nil && tryBoth && (status == http.StatusBadRequest || status == http.StatusUnauthorized) {
		// The provider rejected how we authenticated (it cannot have used
		// the code yet); try the other way and remember what works.
		idToken, _, err = o.redeem(ctx, code, verifier, authPost)
		if err == nil {
			o.authStyle.Store(authPost)
		}
	} else if err == nil && tryBoth {
		o.authStyle.Store(authBasic)
	}
	return idToken, err
}

func (o *OIDC) redeem(ctx context.Context, code, verifier string, style int32) (string, int, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {o.cfg.RedirectURL},
		"code_verifier": {verifier},
	}
	if style == authPost {
		form.Set("client_id", o.cfg.ClientID)
		form.Set("client_secret", o.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.disc.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("%w: token request: %w", ErrOIDCProvider, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if style == authBasic {
		req.SetBasicAuth(url.QueryEscape(o.cfg.ClientID), url.QueryEscape(o.cfg.ClientSecret))
	}
	var body struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
	}
	resp, err := o.hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("%w: token endpoint: %w", ErrOIDCProvider, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxProviderResponse))
	if err != nil {
		return "", resp.StatusCode, fmt.Errorf("%w: token endpoint: %w", ErrOIDCProvider, err)
	}
	_ = json.Unmarshal(raw, &body)
	if resp.StatusCode != http.StatusOK {
		// Only the error code: descriptions may echo what we sent.
		return "", resp.StatusCode, fmt.Errorf("%w: token endpoint status %d: %s", ErrOIDCProvider, resp.StatusCode, sanitize(body.Error))
	}
	if body.IDToken == "" {
		return "", resp.StatusCode, fmt.Errorf("%w: no id_token in token response", ErrOIDCProvider)
	}
	return body.IDToken, resp.StatusCode, nil
}

func (o *OIDC) verifyIDToken(ctx context.Context, raw, nonce string) (jwt.Token, error) {
	msg, err := jws.Parse([]byte(raw), jws.WithCompact())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOIDCIDToken, err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrOIDCIDToken)
	}
	h := sigs[0].ProtectedHeaders()
	alg := h.Algorithm()
	if !slices.Contains(o.algs, alg) {
		return nil, fmt.Errorf("%w: algorithm %q not accepted", ErrOIDCIDToken, alg)
	}
	key, err := o.providerKey(ctx, h.KeyID(), alg)
	if err != nil {
		return nil, err
	}
	tok, err := jwt.Parse([]byte(raw),
		jwt.WithKey(alg, key),
		jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(o.now)),
		jwt.WithAcceptableSkew(ClockSkew),
		jwt.WithIssuer(o.cfg.Issuer),
		jwt.WithAudience(o.cfg.ClientID),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.IssuedAtKey),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOIDCIDToken, err)
	}
	got, _ := tok.Get("nonce")
	gotNonce, _ := got.(string)
	if subtle.ConstantTimeCompare([]byte(gotNonce), []byte(nonce)) != 1 {
		return nil, fmt.Errorf("%w: nonce does not match", ErrOIDCIDToken)
	}
	// OIDC Core §3.1.3.7: with several audiences, azp must be us.
	if azpV, ok := tok.Get("azp"); ok || len(tok.Audience()) > 1 {
		if azp, _ := azpV.(string); azp != o.cfg.ClientID {
			return nil, fmt.Errorf("%w: azp is not our client", ErrOIDCIDToken)
		}
	}
	return tok, nil
}

// providerKey finds the provider's key for kid. An unknown kid usually means
// the provider rotated keys, so the JWKS is refetched, at most once per
// jwksForcedRefreshInterval.
func (o *OIDC) providerKey(ctx context.Context, kid string, alg jwa.SignatureAlgorithm) (jwk.Key, error) {
	set, err := o.keys.Get(ctx, o.disc.JWKSURI)
	if err != nil {
		return nil, fmt.Errorf("%w: jwks: %w", ErrOIDCProvider, err)
	}
	key, ok := lookupKey(set, kid)
	if !ok {
		o.refreshMu.Lock()
		// Another login may have refreshed while we waited.
		if set, err = o.keys.Get(ctx, o.disc.JWKSURI); err == nil {
			key, ok = lookupKey(set, kid)
		}
		if now := o.now(); !ok && (o.lastForced.IsZero() || now.Sub(o.lastForced) >= jwksForcedRefreshInterval) {
			o.lastForced = now
			o.log.InfoContext(ctx, "auth: unknown oidc kid, refreshing jwks", slog.String("kid", kid))
			if set, err = o.keys.Refresh(ctx, o.disc.JWKSURI); err == nil {
				key, ok = lookupKey(set, kid)
			} else {
				o.log.WarnContext(ctx, "auth: refresh oidc jwks", slog.Any("error", err))
			}
		}
		o.refreshMu.Unlock()
	}
	if !ok {
		return nil, fmt.Errorf("%w: unknown key %q", ErrOIDCIDToken, kid)
	}
	if ka := key.Algorithm().String(); ka != "" && ka != alg.String() {
		return nil, fmt.Errorf("%w: key %q is for %s, token says %s", ErrOIDCIDToken, kid, ka, alg)
	}
	return key, nil
}

// lookupKey finds a signing key by kid; a provider with a single key may
// omit kid.
func lookupKey(set jwk.Set, kid string) (jwk.Key, bool) {
	usable := func(k jwk.Key) bool { return k.KeyUsage() == "" || k.KeyUsage() == string(jwk.ForSignature) }
	if kid != "" {
		k, ok := set.LookupKeyID(kid)
		return k, ok && usable(k)
	}
	if set.Len() == 1 {
		k, _ := set.Key(0)
		return k, usable(k)
	}
	return nil, false
}

func (o *OIDC) doJSON(req *http.Request, v any) error {
	resp, err := o.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "" && ct != "application/json" {
		return fmt.Errorf("content type %q", ct)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxProviderResponse)).Decode(v)
}

// sanitize keeps a provider-supplied error code printable and short before
// it goes into an error string (and maybe a log line).
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
