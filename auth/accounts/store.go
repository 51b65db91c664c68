package accounts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/predicate"
	"github.com/oais/oais/ent/refreshtoken"
	"github.com/oais/oais/ent/session"
	"github.com/oais/oais/ent/signingkey"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// Column limits of ent/schema/session.go; raise both together.
const (
	maxUserAgentLen = 500
	maxMethodLen    = 32
)

// SigningKeyStore keeps the control plane's JWT signing keys in the signing_keys
// table. The table is system-only, so every query runs as the system. Keys
// are sealed with OAIS_SECRETS_KEY (AES-256-GCM, bound to their kid), so a
// copy of the database alone cannot mint sessions; a store without the key
// adds none. Keys stored unsealed by earlier versions still load, and
// SealStored seals them.
type SigningKeyStore struct {
	client *ent.Client
	box    *secretbox.Box
}

var _ auth.SigningKeyStore = (*SigningKeyStore)(nil)

// sealedPrefix marks a sealed private JWK; a JWK is JSON, which never
// starts with it.
var sealedPrefix = []byte("sealed:")

// NewSigningKeyStore returns a SigningKeyStore over client that seals keys
// with box. Without a key in box (nil included) it loads unsealed keys but
// refuses to add any.
func NewSigningKeyStore(client *ent.Client, box *secretbox.Box) *SigningKeyStore {
	return &SigningKeyStore{client: client, box: box}
}

// SigningKeys returns every stored key, opened.
func (s *SigningKeyStore) SigningKeys(ctx context.Context) ([]auth.StoredKey, error) {
	rows, err := s.client.SigningKey.Query().All(viewer.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("accounts: load signing keys: %w", store.Classify(err))
	}
	out := make([]auth.StoredKey, len(rows))
	for i, r := range rows {
		priv := r.PrivateJwk
		if sealed, ok := bytes.CutPrefix(priv, sealedPrefix); ok {
			if !s.box.Enabled() {
				return nil, fmt.Errorf("accounts: signing key %s is sealed with OAIS_SECRETS_KEY, which is not set: start with the value the control plane had when it made the key", r.Kid)
			}
			if priv, err = s.box.Open(sealed, []byte(r.Kid)); err != nil {
				return nil, fmt.Errorf("accounts: signing key %s: %w (start with the OAIS_SECRETS_KEY it was sealed with)", r.Kid, err)
			}
		}
		out[i] = auth.StoredKey{KID: r.Kid, PrivateJWK: priv, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}

// errNoSealingKey refuses to store a signing key in the clear.
var errNoSealingKey = errors.New("accounts: signing keys are stored sealed, and OAIS_SECRETS_KEY is not set")

// AddSigningKey inserts k, sealed.
func (s *SigningKeyStore) AddSigningKey(ctx context.Context, k auth.StoredKey) error {
	priv, err := s.seal(k.KID, k.PrivateJWK)
	if err != nil {
		return err
	}
	err = s.client.SigningKey.Create().
		SetKid(k.KID).
		SetPrivateJwk(priv).
		SetCreatedAt(k.CreatedAt).
		Exec(viewer.SystemContext(ctx))
	if err != nil {
		return fmt.Errorf("accounts: add signing key: %w", store.Classify(err))
	}
	return nil
}

// SealStored seals the keys an earlier version stored in the clear (before
// signing keys were always sealed) and returns how many it sealed. The
// column is immutable, so each row is replaced, id, kid and times kept, in
// a transaction that deletes it only if it still holds what was read:
// replicas starting together seal each key once.
func (s *SigningKeyStore) SealStored(ctx context.Context) (int, error) {
	sys := viewer.SystemContext(ctx)
	rows, err := s.client.SigningKey.Query().All(sys)
	if err != nil {
		return 0, fmt.Errorf("accounts: load signing keys: %w", store.Classify(err))
	}
	n := 0
	for _, r := range rows {
		if bytes.HasPrefix(r.PrivateJwk, sealedPrefix) {
			continue
		}
		sealed, err := s.seal(r.Kid, r.PrivateJwk)
		if err != nil {
			return n, err
		}
		replaced, err := s.replaceKey(sys, r, sealed)
		if err != nil {
			return n, fmt.Errorf("accounts: seal signing key %s: %w", r.Kid, store.Classify(err))
		}
		if replaced {
			n++
		}
	}
	return n, nil
}

// replaceKey swaps r's private JWK for priv, unless r changed meanwhile.
func (s *SigningKeyStore) replaceKey(sys context.Context, r *ent.SigningKey, priv []byte) (bool, error) {
	tx, err := s.client.Tx(sys)
	if err != nil {
		return false, err
	}
	gone, err := tx.SigningKey.Delete().Where(signingkey.ID(r.ID), signingkey.PrivateJwk(r.PrivateJwk)).Exec(sys)
	if err == nil && gone == 1 {
		err = tx.SigningKey.Create().SetID(r.ID).SetKid(r.Kid).SetPrivateJwk(priv).
			SetCreatedAt(r.CreatedAt).SetNillableRetiredAt(r.RetiredAt).Exec(sys)
	}
	if err != nil || gone != 1 {
		_ = tx.Rollback()
		return false, err
	}
	return true, tx.Commit()
}

// seal returns priv as stored: sealedPrefix and priv sealed for kid.
func (s *SigningKeyStore) seal(kid string, priv []byte) ([]byte, error) {
	if !s.box.Enabled() {
		return nil, errNoSealingKey
	}
	sealed, err := s.box.Seal(priv, []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("accounts: seal signing key: %w", err)
	}
	return append(append([]byte{}, sealedPrefix...), sealed...), nil
}

// SessionStore keeps sessions and their refresh tokens (only SHA-256
// hashes) in the sessions and refresh_tokens tables.
type SessionStore struct{ client *ent.Client }

var _ auth.SessionStore = (*SessionStore)(nil)

// NewSessionStore returns a SessionStore over client.
func NewSessionStore(client *ent.Client) *SessionStore { return &SessionStore{client: client} }

// CreateSession inserts r.
func (s *SessionStore) CreateSession(ctx context.Context, r auth.SessionRecord) error {
	q := s.client.Session.Create().
		SetID(r.ID).
		SetUserID(r.UserID).
		SetEmail(r.Email).
		SetMethod(store.Truncate(r.Meta.Method, maxMethodLen)).
		SetUserAgent(store.Truncate(r.Meta.UserAgent, maxUserAgentLen)).
		SetCreatedAt(r.CreatedAt).
		SetExpiresAt(r.ExpiresAt)
	if used := r.LastUsedAt; !used.IsZero() {
		q.SetLastUsedAt(used)
	} else {
		q.SetLastUsedAt(r.CreatedAt)
	}
	if r.Meta.IP.IsValid() {
		q.SetIP(r.Meta.IP.String())
	}
	if !r.RevokedAt.IsZero() {
		q.SetRevokedAt(r.RevokedAt)
	}
	if err := q.Exec(viewer.SystemContext(ctx)); err != nil {
		return fmt.Errorf("accounts: create session: %w", store.Classify(err))
	}
	return nil
}

// Session returns the session with id, or auth.ErrSessionNotFound.
func (s *SessionStore) Session(ctx context.Context, id string) (auth.SessionRecord, error) {
	row, err := s.client.Session.Get(viewer.SystemContext(ctx), id)
	if ent.IsNotFound(err) {
		return auth.SessionRecord{}, auth.ErrSessionNotFound
	} else if err != nil {
		return auth.SessionRecord{}, fmt.Errorf("accounts: load session: %w", store.Classify(err))
	}
	rec := auth.SessionRecord{
		ID: row.ID, UserID: row.UserID, Email: row.Email,
		Meta:      auth.SessionMeta{Method: row.Method, UserAgent: row.UserAgent},
		CreatedAt: row.CreatedAt.UTC(), ExpiresAt: row.ExpiresAt.UTC(),
	}
	if ip, err := netip.ParseAddr(row.IP); err == nil {
		rec.Meta.IP = ip
	}
	if row.RevokedAt != nil {
		rec.RevokedAt = row.RevokedAt.UTC()
	}
	if row.LastUsedAt != nil {
		rec.LastUsedAt = row.LastUsedAt.UTC()
	}
	return rec, nil
}

// RevokeSession sets revoked_at once; a second call changes nothing.
func (s *SessionStore) RevokeSession(ctx context.Context, id string, now time.Time) error {
	sys := viewer.SystemContext(ctx)
	n, err := s.client.Session.Update().
		Where(session.ID(id), session.RevokedAtIsNil()).
		SetRevokedAt(now).
		Save(sys)
	if err != nil {
		return fmt.Errorf("accounts: revoke session: %w", store.Classify(err))
	}
	if n > 0 {
		return nil
	}
	exists, err := s.client.Session.Query().Where(session.ID(id)).Exist(sys)
	if err != nil {
		return fmt.Errorf("accounts: revoke session: %w", store.Classify(err))
	}
	if !exists {
		return auth.ErrSessionNotFound
	}
	return nil
}

// CreateRefresh inserts r, keeping only its hash, and marks its session
// used at r.CreatedAt.
func (s *SessionStore) CreateRefresh(ctx context.Context, r auth.RefreshRecord) error {
	q := s.client.RefreshToken.Create().
		SetTokenHash(hex.EncodeToString(r.Hash[:])).
		SetSessionID(r.SessionID).
		SetCreatedAt(r.CreatedAt).
		SetExpiresAt(r.ExpiresAt)
	if !r.UsedAt.IsZero() {
		q.SetUsedAt(r.UsedAt)
	}
	if err := q.Exec(viewer.SystemContext(ctx)); err != nil {
		return fmt.Errorf("accounts: create refresh token: %w", store.Classify(err))
	}
	if err := s.client.Session.UpdateOneID(r.SessionID).SetLastUsedAt(r.CreatedAt).Exec(viewer.SystemContext(ctx)); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("accounts: mark session used: %w", store.Classify(err))
	}
	return nil
}

// UseRefresh spends the token with hash. The spend is one conditional
// UPDATE … WHERE token_hash = ? AND used_at IS NULL, and only the caller
// whose UPDATE changed a row wins; the database serialises the two writes,
// so of two concurrent calls exactly one sees a row affected.
func (s *SessionStore) UseRefresh(ctx context.Context, hash [sha256.Size]byte, now time.Time) (auth.RefreshRecord, error) {
	sys := viewer.SystemContext(ctx)
	h := hex.EncodeToString(hash[:])
	n, err := s.client.RefreshToken.Update().
		Where(refreshtoken.TokenHash(h), refreshtoken.UsedAtIsNil()).
		SetUsedAt(now).
		Save(sys)
	if err != nil {
		return auth.RefreshRecord{}, fmt.Errorf("accounts: use refresh token: %w", store.Classify(err))
	}
	row, err := s.client.RefreshToken.Query().Where(refreshtoken.TokenHash(h)).Only(sys)
	if ent.IsNotFound(err) {
		return auth.RefreshRecord{}, auth.ErrRefreshNotFound
	} else if err != nil {
		return auth.RefreshRecord{}, fmt.Errorf("accounts: load refresh token: %w", store.Classify(err))
	}
	rec := auth.RefreshRecord{
		Hash: hash, SessionID: row.SessionID,
		CreatedAt: row.CreatedAt.UTC(), ExpiresAt: row.ExpiresAt.UTC(),
	}
	if row.UsedAt != nil {
		rec.UsedAt = row.UsedAt.UTC()
	}
	if n == 0 {
		return rec, auth.ErrRefreshReused
	}
	return rec, nil
}

// PrincipalLoader loads the viewer of a verified access token from the users
// and memberships tables, and the viewer of a service token from
// service_tokens (the one place that accepts them).
type PrincipalLoader struct {
	client *ent.Client
	// idle ends sessions unused that long (OAIS_SESSION_IDLE); 0: never.
	idle time.Duration
	now  func() time.Time
}

var _ auth.ServicePrincipalLoader = (*PrincipalLoader)(nil)

// NewPrincipalLoader returns PrincipalLoader over client, with no idle
// timeout of its own (refreshing still has one); Accounts.Principals
// returns one that has the accounts' idle timeout.
func NewPrincipalLoader(client *ent.Client) *PrincipalLoader {
	return &PrincipalLoader{client: client, now: time.Now}
}

// Principal returns the user with their role in each workspace. A missing
// or disabled user, or a session that is not the user's, was signed out or
// revoked, has ended or sat idle past the idle timeout, gives
// auth.ErrUnknownPrincipal. Workspaces that require a second factor the
// user lacks are left out of Roles and listed in MFAPending.
func (p *PrincipalLoader) Principal(ctx context.Context, userID, sessionID string) (*viewer.Viewer, error) {
	sys := viewer.SystemContext(ctx)
	now := p.now()
	live := []predicate.Session{session.ID(sessionID), session.UserID(userID), session.RevokedAtIsNil(), session.ExpiresAtGT(now)}
	if p.idle > 0 {
		cut := now.Add(-p.idle)
		live = append(live, session.Or(session.LastUsedAtGT(cut), session.And(session.LastUsedAtIsNil(), session.CreatedAtGT(cut))))
	}
	// The user through its live session, memberships eager-loaded: two
	// queries on every authenticated request instead of three.
	u, err := p.client.Session.Query().
		Where(live...).
		QueryUser().WithMemberships().Only(sys)
	switch {
	case ent.IsNotFound(err):
		return nil, fmt.Errorf("%w: session ended", auth.ErrUnknownPrincipal)
	case err != nil:
		return nil, fmt.Errorf("accounts: load session: %w", store.Classify(err))
	case u.Disabled:
		return nil, fmt.Errorf("%w: disabled", auth.ErrUnknownPrincipal)
	}
	roles := make(map[string]viewer.Role, len(u.Edges.Memberships))
	for _, m := range u.Edges.Memberships {
		roles[m.WorkspaceID] = viewer.Role(m.Role)
	}
	v := &viewer.Viewer{UserID: u.ID, Email: u.Email, SiteAdmin: u.SiteAdmin, Roles: roles, MFAEnabled: u.TotpEnabledAt != nil}
	if err := p.gateMFA(sys, v); err != nil {
		return nil, err
	}
	return v, nil
}

// Email returns the user's current email, or auth.ErrUnknownPrincipal for a
// missing or disabled user. It fits auth.SessionsConfig.LookupUser, so a
// disabled user's sessions stop refreshing.
func (p *PrincipalLoader) Email(ctx context.Context, userID string) (string, error) {
	u, err := activeUser(viewer.SystemContext(ctx), p.client, userID)
	if err != nil {
		return "", err
	}
	return u.Email, nil
}

func activeUser(sys context.Context, client *ent.Client, id string) (*ent.User, error) {
	u, err := client.User.Get(sys, id)
	switch {
	case ent.IsNotFound(err):
		return nil, auth.ErrUnknownPrincipal
	case err != nil:
		return nil, fmt.Errorf("accounts: load user: %w", store.Classify(err))
	case u.Disabled:
		return nil, fmt.Errorf("%w: disabled", auth.ErrUnknownPrincipal)
	}
	return u, nil
}

// isConflict reports whether err is a unique-constraint violation.
func isConflict(err error) bool { return errors.Is(store.Classify(err), store.ErrConflict) }
