package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// Refresh-token shape: a fixed prefix that secret scanners can match, then
// 32 random bytes (256 bits) in unpadded base64url.
const (
	RefreshTokenPrefix = "oais_rt_"
	refreshTokenBytes  = 32
	refreshTokenLen    = len(RefreshTokenPrefix) + 43
)

// DefaultRefreshTTL is the absolute lifetime of a session: refreshing never
// extends a session past it.
const DefaultRefreshTTL = 30 * 24 * time.Hour

// DefaultIdleTimeout ends a session unused (neither signed in nor
// refreshed) for this long (OAIS_SESSION_IDLE).
const DefaultIdleTimeout = 24 * time.Hour

// SessionMeta describes the client that started a session, for the user's
// "where am I signed in" list and for audits.
type SessionMeta struct {
	// Method is how the user signed in, e.g. "password" or "oidc".
	Method    string
	UserAgent string
	IP        netip.Addr
}

// SessionRecord is one session: a family of refresh tokens that descend from
// one sign-in. Its ID is the sid claim of every access token issued in it.
type SessionRecord struct {
	ID     string
	UserID string
	// Email is the user's email at sign-in, copied into access tokens
	// unless SessionsConfig.LookupUser refreshes it.
	Email     string
	Meta      SessionMeta
	CreatedAt time.Time
	// ExpiresAt is the absolute end of the session.
	ExpiresAt time.Time
	// RevokedAt is zero until the session is signed out or revoked.
	RevokedAt time.Time
	// LastUsedAt is the last sign-in or refresh; zero means CreatedAt.
	LastUsedAt time.Time
}

// RefreshRecord is one refresh token as stored: only the SHA-256 of the token
// string, never the token.
type RefreshRecord struct {
	// Hash is sha256(token); unique.
	Hash      [sha256.Size]byte
	SessionID string
	CreatedAt time.Time
	// ExpiresAt is min(session end, CreatedAt + idle timeout).
	ExpiresAt time.Time
	// UsedAt is zero until the token is exchanged (or signed out with).
	UsedAt time.Time
}

// SessionStore persists sessions and their refresh tokens.
type SessionStore interface {
	// CreateSession inserts s; its ID is new.
	CreateSession(ctx context.Context, s SessionRecord) error
	// Session returns the session with id, or ErrSessionNotFound.
	Session(ctx context.Context, id string) (SessionRecord, error)
	// RevokeSession sets RevokedAt = now if it is still zero (idempotent),
	// or returns ErrSessionNotFound.
	RevokeSession(ctx context.Context, id string, now time.Time) error
	// CreateRefresh inserts r and sets its session's LastUsedAt to
	// r.CreatedAt (a refresh is a use of the session).
	CreateRefresh(ctx context.Context, r RefreshRecord) error
	// UseRefresh marks the token with hash as used at now and returns it.
	// It MUST be atomic (a compare-and-set such as
	// UPDATE … SET used_at = $now WHERE hash = $h AND used_at IS NULL):
	// of two concurrent calls with one hash exactly one succeeds. If the
	// token was already used it returns the stored record (UsedAt set) with
	// ErrRefreshReused; an unknown hash gives ErrRefreshNotFound. Expiry
	// is checked by the caller, not the store.
	UseRefresh(ctx context.Context, hash [sha256.Size]byte, now time.Time) (RefreshRecord, error)
}

// AccessIssuer issues access tokens; *Issuer is one.
type AccessIssuer interface {
	Issue(ctx context.Context, s AccessSubject) (token string, expiresAt time.Time, err error)
}

var _ AccessIssuer = (*Issuer)(nil)

// SessionsConfig configures Sessions. Zero fields take the defaults.
type SessionsConfig struct {
	// RefreshTTL is the absolute session lifetime; DefaultRefreshTTL if 0.
	RefreshTTL time.Duration
	// IdleTimeout, if set, ends a session that has not refreshed for
	// that long (each refresh token expires IdleTimeout after issue, and
	// a refresh more than IdleTimeout after the session's LastUsedAt is
	// refused, whatever the token's own expiry said when it was made).
	IdleTimeout time.Duration
	// LookupUser, if set, is called on every refresh: it returns the user's
	// current email, or an error (e.g. ErrUnknownPrincipal) for a user who
	// was deleted or disabled, which ends the refresh with that error.
	LookupUser func(ctx context.Context, userID string) (email string, err error)
	// Now is the clock; time.Now if nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// Tokens are what a sign-in or refresh returns to the client.
type Tokens struct {
	AccessToken string
	// ExpiresAt is the access token's expiry (AuthPayload.expiresAt).
	ExpiresAt        time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
	SessionID        string
	UserID           string
}

// Sessions starts, refreshes and ends sessions. Refresh tokens rotate on
// every use; presenting a used one again revokes the whole session, since
// it means the token was copied (OAuth 2.0 Security BCP §4.14).
type Sessions struct {
	store  SessionStore
	issuer AccessIssuer
	cfg    SessionsConfig
	log    *slog.Logger
}

// NewSessions returns Sessions over store, issuing access tokens with issuer.
func NewSessions(store SessionStore, issuer AccessIssuer, cfg SessionsConfig) *Sessions {
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Sessions{store: store, issuer: issuer, cfg: cfg, log: cfg.Logger}
}

// Start begins a session for a user who has just authenticated (password or
// SSO) and returns its first tokens.
func (s *Sessions) Start(ctx context.Context, userID, email string, meta SessionMeta) (Tokens, error) {
	if userID == "" {
		return Tokens{}, errors.New("auth: session needs a user")
	}
	now := s.cfg.Now().UTC()
	id, err := newSessionID()
	if err != nil {
		return Tokens{}, err
	}
	sess := SessionRecord{
		ID: id, UserID: userID, Email: email, Meta: meta,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL), LastUsedAt: now,
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return Tokens{}, fmt.Errorf("auth: create session: %w", err)
	}
	return s.issue(ctx, sess, email, now)
}

// Refresh exchanges a refresh token for new tokens; the presented token is
// used up. A reused token revokes its session and returns ErrRefreshReused;
// anything else unacceptable returns an error wrapping ErrInvalidRefresh.
func (s *Sessions) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	hash, err := hashRefresh(refreshToken)
	if err != nil {
		return Tokens{}, err
	}
	now := s.cfg.Now().UTC()
	rec, err := s.store.UseRefresh(ctx, hash, now)
	switch {
	case errors.Is(err, ErrRefreshReused):
		s.log.WarnContext(ctx, "auth: refresh token reused, revoking session", slog.String("session_id", rec.SessionID))
		if rerr := s.store.RevokeSession(ctx, rec.SessionID, now); rerr != nil && !errors.Is(rerr, ErrSessionNotFound) {
			return Tokens{}, fmt.Errorf("auth: revoke reused session: %w", rerr)
		}
		return Tokens{}, ErrRefreshReused
	case errors.Is(err, ErrRefreshNotFound):
		return Tokens{}, fmt.Errorf("%w: unknown", ErrInvalidRefresh)
	case err != nil:
		return Tokens{}, fmt.Errorf("auth: use refresh token: %w", err)
	}
	if !now.Before(rec.ExpiresAt) {
		return Tokens{}, fmt.Errorf("%w: expired", ErrInvalidRefresh)
	}
	sess, err := s.store.Session(ctx, rec.SessionID)
	if errors.Is(err, ErrSessionNotFound) {
		return Tokens{}, fmt.Errorf("%w: session gone", ErrInvalidRefresh)
	} else if err != nil {
		return Tokens{}, fmt.Errorf("auth: load session: %w", err)
	}
	// Checked after UseRefresh so a token minted concurrently with a
	// sign-out cannot revive the session.
	if !sess.RevokedAt.IsZero() {
		return Tokens{}, fmt.Errorf("%w: session revoked", ErrInvalidRefresh)
	}
	if !now.Before(sess.ExpiresAt) {
		return Tokens{}, fmt.Errorf("%w: session expired", ErrInvalidRefresh)
	}
	if s.Idle(sess, now) {
		return Tokens{}, fmt.Errorf("%w: session idle", ErrInvalidRefresh)
	}
	email := sess.Email
	if s.cfg.LookupUser != nil {
		if email, err = s.cfg.LookupUser(ctx, sess.UserID); err != nil {
			return Tokens{}, fmt.Errorf("auth: refresh for user: %w", err)
		}
	}
	return s.issue(ctx, sess, email, now)
}

// SignOut ends the session that refreshToken belongs to. Signing out with an
// already-used token of the session works too. An unknown or malformed
// token wraps ErrInvalidRefresh.
func (s *Sessions) SignOut(ctx context.Context, refreshToken string) error {
	hash, err := hashRefresh(refreshToken)
	if err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	rec, err := s.store.UseRefresh(ctx, hash, now)
	if errors.Is(err, ErrRefreshNotFound) {
		return fmt.Errorf("%w: unknown", ErrInvalidRefresh)
	} else if err != nil && !errors.Is(err, ErrRefreshReused) {
		return fmt.Errorf("auth: use refresh token: %w", err)
	}
	if err := s.store.RevokeSession(ctx, rec.SessionID, now); err != nil && !errors.Is(err, ErrSessionNotFound) {
		return fmt.Errorf("auth: revoke session: %w", err)
	}
	return nil
}

// RevokeSession ends session sessionID of user userID (sign out by session,
// e.g. from the access token's sid or a session list). A session of another
// user gets ErrSessionNotFound, as if it did not exist.
func (s *Sessions) RevokeSession(ctx context.Context, userID, sessionID string) error {
	sess, err := s.store.Session(ctx, sessionID)
	if err != nil {
		return err
	}
	if sess.UserID != userID {
		return ErrSessionNotFound
	}
	return s.store.RevokeSession(ctx, sessionID, s.cfg.Now().UTC())
}

// Idle reports whether sess has gone unused for the idle timeout at now.
func (s *Sessions) Idle(sess SessionRecord, now time.Time) bool {
	last := sess.LastUsedAt
	if last.IsZero() {
		last = sess.CreatedAt
	}
	return s.cfg.IdleTimeout > 0 && !now.Before(last.Add(s.cfg.IdleTimeout))
}

func (s *Sessions) issue(ctx context.Context, sess SessionRecord, email string, now time.Time) (Tokens, error) {
	token, hash, err := newRefreshToken()
	if err != nil {
		return Tokens{}, err
	}
	exp := sess.ExpiresAt
	if s.cfg.IdleTimeout > 0 && now.Add(s.cfg.IdleTimeout).Before(exp) {
		exp = now.Add(s.cfg.IdleTimeout)
	}
	if err := s.store.CreateRefresh(ctx, RefreshRecord{Hash: hash, SessionID: sess.ID, CreatedAt: now, ExpiresAt: exp}); err != nil {
		return Tokens{}, fmt.Errorf("auth: store refresh token: %w", err)
	}
	access, accessExp, err := s.issuer.Issue(ctx, AccessSubject{UserID: sess.UserID, SessionID: sess.ID, Email: email})
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{
		AccessToken: access, ExpiresAt: accessExp,
		RefreshToken: token, RefreshExpiresAt: exp,
		SessionID: sess.ID, UserID: sess.UserID,
	}, nil
}

func newRefreshToken() (string, [sha256.Size]byte, error) {
	b := make([]byte, refreshTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", [sha256.Size]byte{}, fmt.Errorf("auth: read refresh token: %w", err)
	}
	t := RefreshTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return t, sha256.Sum256([]byte(t)), nil
}

// hashRefresh checks the token's shape before hashing, so garbage never
// reaches the store.
func hashRefresh(t string) ([sha256.Size]byte, error) {
	body, ok := strings.CutPrefix(t, RefreshTokenPrefix)
	if !ok || len(t) != refreshTokenLen {
		return [sha256.Size]byte{}, fmt.Errorf("%w: malformed", ErrInvalidRefresh)
	}
	if _, err := base64.RawURLEncoding.DecodeString(body); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("%w: malformed", ErrInvalidRefresh)
	}
	return sha256.Sum256([]byte(t)), nil
}

// newSessionID returns a random UUIDv4 string, so the store may keep it in a
// uuid column.
func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: read session id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
