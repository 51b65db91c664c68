package auth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Defaults of IssuerConfig.
const (
	DefaultAccessTTL = 15 * time.Minute
	// DefaultKeyRetention is how long a superseded signing key keeps
	// verifying. It must cover AccessTTL (tokens signed just before a
	// rotation) plus the JWKS cache lifetime of any external verifier.
	DefaultKeyRetention = 24 * time.Hour
	DefaultAudience     = "oais-controlplane"
	// ClockSkew is the leeway granted to exp, nbf and iat between replicas.
	ClockSkew = 30 * time.Second
	// JWKSPath is where JWKSHandler is mounted (CONTRACT §4).
	JWKSPath = "/.well-known/jwks.json"
)

const (
	// signingAlg is the only algorithm Verify accepts; pinning it is what
	// defeats "none" and HS256-with-the-public-key confusion.
	signingAlg = jwa.EdDSA
	// maxTokenLen bounds the work an unauthenticated header can cause.
	maxTokenLen = 8 << 10
	// keyReloadInterval rate-limits reloading keys from the store when a
	// token names an unknown kid (another replica may have rotated), so
	// forged kids cannot turn into one database query per request.
	keyReloadInterval = 10 * time.Second
	jwksMaxAge        = 5 * time.Minute
)

// StoredKey is one signing key as persisted. Keys are append-only: a key is
// active until a newer one (by CreatedAt) is added, then retired at the
// newer key's CreatedAt and kept for verification for the retention period.
type StoredKey struct {
	// KID is the key ID (RFC 7638 thumbprint); unique.
	KID string
	// PrivateJWK is the private key as a JWK JSON document. It is a secret:
	// store it encrypted at rest if the database is shared, never log it.
	PrivateJWK []byte
	// CreatedAt orders keys; the newest is the one that signs.
	CreatedAt time.Time
}

// SigningKeyStore persists the issuer's signing keys.
type SigningKeyStore interface {
	// SigningKeys returns every stored key, in any order.
	SigningKeys(ctx context.Context) ([]StoredKey, error)
	// AddSigningKey inserts k. It need not be atomic with anything else:
	// two replicas that both create a key on first start simply end up with
	// two keys, and the newer one wins.
	AddSigningKey(ctx context.Context, k StoredKey) error
}

// IssuerConfig configures an Issuer. Zero fields take the defaults.
type IssuerConfig struct {
	// Issuer is the iss claim, normally OAIS_PUBLIC_URL. Required.
	Issuer string
	// Audience is the aud claim; DefaultAudience if empty.
	Audience     string
	AccessTTL    time.Duration
	KeyRetention time.Duration
	// Now is the clock; time.Now if nil. Tests inject one.
	Now    func() time.Time
	Logger *slog.Logger
}

// AccessSubject is who an access token is issued to.
type AccessSubject struct {
	UserID    string
	SessionID string
	Email     string
}

// Claims are the verified claims of one of our access tokens.
type Claims struct {
	Issuer    string
	Audience  []string
	Subject   string // user ID
	SessionID string
	Email     string
	ID        string // jti
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
}

// Issuer signs and verifies the control plane's access JWTs (EdDSA/Ed25519)
// and serves their public keys as a JWKS.
type Issuer struct {
	store SigningKeyStore
	cfg   IssuerConfig
	log   *slog.Logger

	// reloadMu lets one Verify reload at a time; the others wait and use
	// its result instead of querying the store again.
	reloadMu   sync.Mutex
	mu         sync.RWMutex
	signing    jwk.Key   // private; nil until loaded
	signedFrom time.Time // when the signing key was created
	verifying  map[string]verifyKey
	lastReload time.Time
}

type verifyKey struct {
	public    jwk.Key
	retiredAt time.Time // zero while active
}

// NewIssuer loads the signing keys from store, creating the first one if
// there is none.
func NewIssuer(ctx context.Context, store SigningKeyStore, cfg IssuerConfig) (*Issuer, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("auth: IssuerConfig.Issuer is required")
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = DefaultAccessTTL
	}
	if cfg.KeyRetention <= 0 {
		cfg.KeyRetention = DefaultKeyRetention
	}
	if cfg.KeyRetention < cfg.AccessTTL+ClockSkew {
		return nil, fmt.Errorf("auth: key retention %v must cover the access TTL %v", cfg.KeyRetention, cfg.AccessTTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	i := &Issuer{store: store, cfg: cfg, log: cfg.Logger}
	if err := i.Reload(ctx); err != nil {
		return nil, err
	}
	if i.signingKey() == nil {
		i.log.InfoContext(ctx, "auth: no signing key stored, creating the first one")
		if err := i.Rotate(ctx); err != nil {
			return nil, err
		}
	}
	return i, nil
}

// Rotate creates a new signing key, stores it and starts signing with it.
// Tokens signed by earlier keys keep verifying for the retention period.
func (i *Issuer) Rotate(ctx context.Context) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("auth: generate signing key: %w", err)
	}
	key, err := jwk.FromRaw(priv)
	if err != nil {
		return fmt.Errorf("auth: wrap signing key: %w", err)
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return fmt.Errorf("auth: thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	for k, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: signingAlg, jwk.KeyUsageKey: jwk.ForSignature} {
		if err := key.Set(k, v); err != nil {
			return fmt.Errorf("auth: set %s: %w", k, err)
		}
	}
	raw, err := json.Marshal(key)
	if err != nil {
		return fmt.Errorf("auth: encode signing key: %w", err)
	}
	sk := StoredKey{KID: kid, PrivateJWK: raw, CreatedAt: i.cfg.Now().UTC()}
	if err := i.store.AddSigningKey(ctx, sk); err != nil {
		return fmt.Errorf("auth: store signing key: %w", err)
	}
	i.log.InfoContext(ctx, "auth: signing key rotated", slog.String("kid", kid))
	// Reload rather than install locally, so that concurrent first starts of
	// several replicas converge on the newest key.
	return i.Reload(ctx)
}

// Reload re-reads the keys from the store. Verify calls it by itself (rate
// limited) when it meets an unknown kid; a periodic call is optional.
func (i *Issuer) Reload(ctx context.Context) error {
	stored, err := i.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("auth: load signing keys: %w", err)
	}
	slices.SortFunc(stored, func(a, b StoredKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	verifying := make(map[string]verifyKey, len(stored))
	var signing jwk.Key
	var signedFrom time.Time
	for n, sk := range stored {
		priv, err := jwk.ParseKey(sk.PrivateJWK)
		if err != nil {
			return fmt.Errorf("auth: parse signing key %q: %w", sk.KID, err)
		}
		if priv.KeyID() != sk.KID || priv.KeyType() != "OKP" {
			return fmt.Errorf("auth: signing key %q does not match its record", sk.KID)
		}
		pub, err := priv.PublicKey()
		if err != nil {
			return fmt.Errorf("auth: public key of %q: %w", sk.KID, err)
		}
		var retired time.Time
		if n+1 < len(stored) {
			retired = stored[n+1].CreatedAt
		}
		verifying[sk.KID] = verifyKey{public: pub, retiredAt: retired}
		signing, signedFrom = priv, sk.CreatedAt
	}
	i.mu.Lock()
	i.signing, i.signedFrom, i.verifying, i.lastReload = signing, signedFrom, verifying, i.cfg.Now()
	i.mu.Unlock()
	return nil
}

// DefaultKeyMaxAge is how long a signing key signs before RotateIfOlder
// replaces it.
const DefaultKeyMaxAge = 30 * 24 * time.Hour

// RotateIfOlder rotates the signing key when it is older than maxAge, and
// reports whether it did. The control plane calls it periodically; several
// replicas rotating at once only add keys, and all converge on the newest.
func (i *Issuer) RotateIfOlder(ctx context.Context, maxAge time.Duration) (bool, error) {
	if err := i.Reload(ctx); err != nil {
		return false, err
	}
	i.mu.RLock()
	from := i.signedFrom
	i.mu.RUnlock()
	if i.cfg.Now().Sub(from) < maxAge {
		return false, nil
	}
	return true, i.Rotate(ctx)
}

func (i *Issuer) signingKey() jwk.Key {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.signing
}

// Issue signs an access token for s and returns it with its expiry.
func (i *Issuer) Issue(ctx context.Context, s AccessSubject) (string, time.Time, error) {
	key := i.signingKey()
	if key == nil {
		return "", time.Time{}, errors.New("auth: issuer has no signing key")
	}
	if s.UserID == "" || s.SessionID == "" {
		return "", time.Time{}, errors.New("auth: access token needs a user and a session")
	}
	// JWT dates have second precision; truncate so the returned expiry is
	// exactly the token's.
	now := i.cfg.Now().UTC().Truncate(time.Second)
	exp := now.Add(i.cfg.AccessTTL)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: read jti: %w", err)
	}
	tok, err := jwt.NewBuilder().
		Issuer(i.cfg.Issuer).
		Audience([]string{i.cfg.Audience}).
		Subject(s.UserID).
		IssuedAt(now).
		NotBefore(now).
		Expiration(exp).
		JwtID(base64.RawURLEncoding.EncodeToString(jti)).
		Claim("sid", s.SessionID).
		Claim("email", s.Email).
		Build()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: build token: %w", err)
	}
	// jws copies the key's kid into the protected header.
	signed, err := jwt.Sign(tok, jwt.WithKey(signingAlg, key))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign token: %w", err)
	}
	return string(signed), exp, nil
}

// Verify checks an access token and returns its claims. Only EdDSA tokens
// whose kid names one of our current or retained keys are accepted, and
// iss, aud, exp, nbf and iat are validated with ClockSkew leeway. Every
// failure wraps ErrInvalidToken.
func (i *Issuer) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > maxTokenLen || strings.Count(token, ".") != 2 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrInvalidToken)
	}
	msg, err := jws.Parse([]byte(token), jws.WithCompact())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	h := sigs[0].ProtectedHeaders()
	if h.Algorithm() != signingAlg {
		return nil, fmt.Errorf("%w: algorithm %q not accepted", ErrInvalidToken, h.Algorithm())
	}
	pub, err := i.verificationKey(ctx, h.KeyID())
	if err != nil {
		return nil, err
	}
	now := i.cfg.Now
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKey(signingAlg, pub),
		jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(now)),
		jwt.WithAcceptableSkew(ClockSkew),
		jwt.WithIssuer(i.cfg.Issuer),
		jwt.WithAudience(i.cfg.Audience),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.IssuedAtKey),
		jwt.WithRequiredClaim(jwt.NotBeforeKey),
		jwt.WithRequiredClaim(jwt.JwtIDKey),
		jwt.WithRequiredClaim("sid"),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired()) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrTokenExpired)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	c := &Claims{
		Issuer:    tok.Issuer(),
		Audience:  tok.Audience(),
		Subject:   tok.Subject(),
		ID:        tok.JwtID(),
		IssuedAt:  tok.IssuedAt(),
		NotBefore: tok.NotBefore(),
		ExpiresAt: tok.Expiration(),
	}
	c.SessionID, _ = stringClaim(tok, "sid")
	c.Email, _ = stringClaim(tok, "email")
	if c.SessionID == "" {
		return nil, fmt.Errorf("%w: empty sid", ErrInvalidToken)
	}
	return c, nil
}

func stringClaim(tok jwt.Token, name string) (string, bool) {
	v, ok := tok.Get(name)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// verificationKey returns the public key for kid, reloading from the store
// at most once per keyReloadInterval when kid is unknown.
func (i *Issuer) verificationKey(ctx context.Context, kid string) (jwk.Key, error) {
	if kid == "" {
		return nil, fmt.Errorf("%w: no kid", ErrInvalidToken)
	}
	lookup := func() (verifyKey, bool, bool) {
		i.mu.RLock()
		defer i.mu.RUnlock()
		vk, ok := i.verifying[kid]
		return vk, ok, i.cfg.Now().Sub(i.lastReload) >= keyReloadInterval
	}
	vk, ok, stale := lookup()
	if !ok && stale {
		i.reloadMu.Lock()
		if vk, ok, stale = lookup(); !ok && stale {
			if err := i.Reload(ctx); err != nil {
				// Still count the attempt, or a store outage would turn
				// every forged kid into another query.
				i.mu.Lock()
				i.lastReload = i.cfg.Now()
				i.mu.Unlock()
				i.log.WarnContext(ctx, "auth: reload signing keys", slog.Any("error", err))
			}
			vk, ok, _ = lookup()
		}
		i.reloadMu.Unlock()
	}
	if !ok || !i.accepts(vk) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrUnknownKey)
	}
	return vk.public, nil
}

func (i *Issuer) accepts(vk verifyKey) bool {
	return vk.retiredAt.IsZero() || i.cfg.Now().Before(vk.retiredAt.Add(i.cfg.KeyRetention))
}

// PublicKeys returns the JWKS of every key that still verifies.
func (i *Issuer) PublicKeys() jwk.Set {
	set := jwk.NewSet()
	i.mu.RLock()
	defer i.mu.RUnlock()
	kids := make([]string, 0, len(i.verifying))
	for kid := range i.verifying {
		kids = append(kids, kid)
	}
	slices.Sort(kids) // stable output for caches and ETags
	for _, kid := range kids {
		if vk := i.verifying[kid]; i.accepts(vk) {
			_ = set.AddKey(vk.public)
		}
	}
	return set
}

// JWKSHandler serves the public keys at GET JWKSPath, with the kid, alg and
// use of each, cacheable for a few minutes: a verifier that meets an unknown
// kid should refetch, as ours does.
func (i *Issuer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := json.Marshal(i.PublicKeys())
		if err != nil {
			i.log.ErrorContext(r.Context(), "auth: encode jwks", slog.Any("error", err))
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(jwksMaxAge.Seconds())))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}
