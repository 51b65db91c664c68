// Package authtest provides in-memory implementations of the auth package's
// store interfaces, for tests of auth and of its callers. They follow the
// interfaces' documented contracts, atomicity included, under one mutex.
package authtest

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/oais/oais/auth"
)

// KeyStore is an in-memory auth.SigningKeyStore.
type KeyStore struct {
	mu   sync.Mutex
	keys []auth.StoredKey
}

var _ auth.SigningKeyStore = (*KeyStore)(nil)

// SigningKeys returns a copy of the stored keys.
func (s *KeyStore) SigningKeys(context.Context) ([]auth.StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.keys), nil
}

// AddSigningKey appends k, refusing a duplicate KID like a unique index would.
func (s *KeyStore) AddSigningKey(_ context.Context, k auth.StoredKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.keys {
		if e.KID == k.KID {
			return errors.New("authtest: duplicate kid")
		}
	}
	s.keys = append(s.keys, k)
	return nil
}

// SessionStore is an in-memory auth.SessionStore.
type SessionStore struct {
	mu       sync.Mutex
	sessions map[string]auth.SessionRecord
	refresh  map[[sha256.Size]byte]auth.RefreshRecord
}

var _ auth.SessionStore = (*SessionStore)(nil)

// NewSessionStore returns an empty SessionStore.
func NewSessionStore() *SessionStore {
	return &SessionStore{
		sessions: map[string]auth.SessionRecord{},
		refresh:  map[[sha256.Size]byte]auth.RefreshRecord{},
	}
}

// CreateSession inserts r.
func (s *SessionStore) CreateSession(_ context.Context, r auth.SessionRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.sessions[r.ID]; dup {
		return errors.New("authtest: duplicate session id")
	}
	s.sessions[r.ID] = r
	return nil
}

// Session returns the session with id.
func (s *SessionStore) Session(_ context.Context, id string) (auth.SessionRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.sessions[id]
	if !ok {
		return auth.SessionRecord{}, auth.ErrSessionNotFound
	}
	return r, nil
}

// RevokeSession marks the session revoked once.
func (s *SessionStore) RevokeSession(_ context.Context, id string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.sessions[id]
	if !ok {
		return auth.ErrSessionNotFound
	}
	if r.RevokedAt.IsZero() {
		r.RevokedAt = now
		s.sessions[id] = r
	}
	return nil
}

// CreateRefresh inserts r.
func (s *SessionStore) CreateRefresh(_ context.Context, r auth.RefreshRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.refresh[r.Hash]; dup {
		return errors.New("authtest: duplicate refresh hash")
	}
	s.refresh[r.Hash] = r
	if sess, ok := s.sessions[r.SessionID]; ok {
		sess.LastUsedAt = r.CreatedAt
		s.sessions[r.SessionID] = sess
	}
	return nil
}

// UseRefresh marks the token used, atomically.
func (s *SessionStore) UseRefresh(_ context.Context, hash [sha256.Size]byte, now time.Time) (auth.RefreshRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refresh[hash]
	if !ok {
		return auth.RefreshRecord{}, auth.ErrRefreshNotFound
	}
	if !r.UsedAt.IsZero() {
		return r, auth.ErrRefreshReused
	}
	r.UsedAt = now
	s.refresh[hash] = r
	return r, nil
}

// Clock is a settable clock for tests; its zero value starts at a fixed
// instant so tests never depend on the wall clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
