package auth_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/authtest"
)

type sessionsFixture struct {
	clock    *authtest.Clock
	store    *authtest.SessionStore
	issuer   *auth.Issuer
	sessions *auth.Sessions
}

func newSessions(t *testing.T, mod ...func(*auth.SessionsConfig)) *sessionsFixture {
	t.Helper()
	f := &sessionsFixture{clock: authtest.NewClock(time.Time{}), store: authtest.NewSessionStore()}
	f.issuer = newIssuer(t, &authtest.KeyStore{}, f.clock)
	cfg := auth.SessionsConfig{Now: f.clock.Now, Logger: quiet}
	for _, m := range mod {
		m(&cfg)
	}
	f.sessions = auth.NewSessions(f.store, f.issuer, cfg)
	return f
}

func (f *sessionsFixture) start(t *testing.T) auth.Tokens {
	t.Helper()
	tok, err := f.sessions.Start(context.Background(), "u1", "a@example.com",
		auth.SessionMeta{Method: "password", UserAgent: "test", IP: netip.MustParseAddr("192.0.2.1")})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return tok
}

func TestSessionsStart(t *testing.T) {
	f := newSessions(t)
	tok := f.start(t)
	ctx := context.Background()

	t.Run("refresh token shape", func(t *testing.T) {
		if !strings.HasPrefix(tok.RefreshToken, auth.RefreshTokenPrefix) || len(tok.RefreshToken) != len(auth.RefreshTokenPrefix)+43 {
			t.Fatalf("refresh token %q has the wrong shape", tok.RefreshToken)
		}
	})
	t.Run("access token names user and session", func(t *testing.T) {
		c, err := f.issuer.Verify(ctx, tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject != "u1" || c.SessionID != tok.SessionID || c.Email != "a@example.com" || !c.ExpiresAt.Equal(tok.ExpiresAt) {
			t.Fatalf("claims %+v do not match tokens %+v", c, tok)
		}
	})
	t.Run("session stored with meta and absolute expiry", func(t *testing.T) {
		s, err := f.store.Session(ctx, tok.SessionID)
		if err != nil {
			t.Fatal(err)
		}
		if s.UserID != "u1" || s.Meta.Method != "password" || !s.ExpiresAt.Equal(f.clock.Now().Add(auth.DefaultRefreshTTL)) {
			t.Fatalf("session %+v", s)
		}
		if !tok.RefreshExpiresAt.Equal(s.ExpiresAt) {
			t.Fatalf("refresh expires %v, session %v", tok.RefreshExpiresAt, s.ExpiresAt)
		}
	})
}

func TestSessionsRefresh(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  func(*auth.SessionsConfig)
		// steps runs against a started session and returns the error of
		// the refresh under test.
		steps   func(t *testing.T, f *sessionsFixture, first auth.Tokens) error
		wantErr error
	}{
		{
			name: "rotates the refresh token",
			steps: func(t *testing.T, f *sessionsFixture, first auth.Tokens) error {
				f.clock.Advance(time.Hour)
				next, err := f.sessions.Refresh(ctx, first.RefreshToken)
				if err != nil {
					return err
				}
				if next.RefreshToken == first.RefreshToken || next.SessionID != first.SessionID {
					t.Fatalf("refresh did not rotate within the session: %+v", next)
				}
				_, err = f.sessions.Refresh(ctx, next.RefreshToken)
				return err
			},
		},
		{
			name: "reuse revokes the whole family",
			steps: func(t *testing.T, f *sessionsFixture, first auth.Tokens) error {
				next, err := f.sessions.Refresh(ctx, first.RefreshToken)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.sessions.Refresh(ctx, first.RefreshToken); !errors.Is(err, auth.ErrRefreshReused) {
					t.Fatalf("reuse = %v, want ErrRefreshReused", err)
				}
				// The legitimate holder's newer token is dead too.
				_, err = f.sessions.Refresh(ctx, next.RefreshToken)
				return err
			},
			wantErr: auth.ErrInvalidRefresh,
		},
		{
			name: "expires after the session lifetime",
			steps: func(t *testing.T, f *sessionsFixture, first auth.Tokens) error {
				f.clock.Advance(auth.DefaultRefreshTTL)
				_, err := f.sessions.Refresh(ctx, first.RefreshToken)
				return err
			},
			wantErr: auth.ErrInvalidRefresh,
		},
		{
			name: "refreshing never extends the absolute lifetime",
			cfg:  func(c *auth.SessionsConfig) { c.RefreshTTL = 2 * time.Hour; c.IdleTimeout = time.Hour },
			steps: func(t *testing.T, f *sessionsFixture, first auth.Tokens) error {
				tok := first
				for range 2 {
					f.clock.Advance(50 * time.Minute)
					var err error
					if tok, err = f.sessions.Refresh(ctx, tok.RefreshToken); err != nil {
						t.Fatalf("refresh within idle timeout: %v", err)
					}
				}
				f.clock.Advance(50 * time.Minute) // 150 min > 2 h
				_, err := f.sessions.Refresh(ctx, tok.RefreshToken)
				return err
			},
			wantErr: auth.ErrInvalidRefresh,
		},
		{
			name: "idle timeout",
			cfg:  func(c *auth.SessionsConfig) { c.IdleTimeout = time.Hour },
			steps: func(t *testing.T, f *sessionsFixture, first auth.Tokens) error {
				f.clock.Advance(time.Hour + time.Second)
				_, err := f.sessions.Refresh(ctx, first.RefreshToken)
				return err
			},
			wantErr: auth.ErrInvalidRefresh,
		},
		{
			name: "sign out with refresh token",
			steps: func(t *testing.T, f *sessionsFixture, first auth.Tokens) error {
				if err := f.sessions.SignOut(ctx, first.RefreshToken); err != nil {
					t.Fatal(err)
				}
				_, err := f.sessions.Refresh(ctx, first.RefreshToken)
				return err
			},
			wantErr: auth.ErrRefreshReused,
		},
		{
			name: "sign out with an already used token still ends the session",
			steps: func(t *testing.T, f *sessionsFixture, first auth.Tokens) error {
				next, err := f.sessions.Refresh(ctx, first.RefreshToken)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.sessions.SignOut(ctx, first.RefreshToken); err != nil {
					t.Fatal(err)
				}
				_, err = f.sessions.Refresh(ctx, next.RefreshToken)
				return err
			},
			wantErr: auth.ErrInvalidRefresh,
		},
		{
			name: "revoke by session ID",
			steps: func(t *testing.T, f *sessionsFixture, first auth.Tokens) error {
				if err := f.sessions.RevokeSession(ctx, "u1", first.SessionID); err != nil {
					t.Fatal(err)
				}
				_, err := f.sessions.Refresh(ctx, first.RefreshToken)
				return err
			},
			wantErr: auth.ErrInvalidRefresh,
		},
		{
			name: "revoking another user's session is not found",
			steps: func(t *testing.T, f *sessionsFixture, first auth.Tokens) error {
				if err := f.sessions.RevokeSession(ctx, "u2", first.SessionID); !errors.Is(err, auth.ErrSessionNotFound) {
					t.Fatalf("RevokeSession(other user) = %v", err)
				}
				_, err := f.sessions.Refresh(ctx, first.RefreshToken)
				return err
			},
		},
		{
			name: "lookup refuses a disabled user",
			cfg: func(c *auth.SessionsConfig) {
				c.LookupUser = func(context.Context, string) (string, error) { return "", auth.ErrUnknownPrincipal }
			},
			steps: func(t *testing.T, f *sessionsFixture, first auth.Tokens) error {
				_, err := f.sessions.Refresh(ctx, first.RefreshToken)
				return err
			},
			wantErr: auth.ErrUnknownPrincipal,
		},
		{
			name: "lookup refreshes the email",
			cfg: func(c *auth.SessionsConfig) {
				c.LookupUser = func(context.Context, string) (string, error) { return "new@example.com", nil }
			},
			steps: func(t *testing.T, f *sessionsFixture, first auth.Tokens) error {
				next, err := f.sessions.Refresh(ctx, first.RefreshToken)
				if err != nil {
					return err
				}
				c, err := f.issuer.Verify(ctx, next.AccessToken)
				if err != nil || c.Email != "new@example.com" {
					t.Fatalf("claims %+v, %v", c, err)
				}
				return nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mods []func(*auth.SessionsConfig)
			if tt.cfg != nil {
				mods = append(mods, tt.cfg)
			}
			f := newSessions(t, mods...)
			err := tt.steps(t, f, f.start(t))
			if tt.wantErr == nil && err != nil {
				t.Fatalf("err = %v", err)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestSessionsRejectsMalformedRefresh(t *testing.T) {
	f := newSessions(t)
	valid := f.start(t).RefreshToken
	tests := []struct {
		name, token string
	}{
		{"empty", ""},
		{"no prefix", strings.TrimPrefix(valid, auth.RefreshTokenPrefix)},
		{"api key", "sk-oais-" + strings.TrimPrefix(valid, auth.RefreshTokenPrefix)},
		{"truncated", valid[:len(valid)-1]},
		{"bad alphabet", valid[:len(valid)-1] + "*"},
		{"well formed but unknown", auth.RefreshTokenPrefix + strings.Repeat("A", 43)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.sessions.Refresh(context.Background(), tt.token); !errors.Is(err, auth.ErrInvalidRefresh) {
				t.Fatalf("Refresh = %v, want ErrInvalidRefresh", err)
			}
			if err := f.sessions.SignOut(context.Background(), tt.token); !errors.Is(err, auth.ErrInvalidRefresh) {
				t.Fatalf("SignOut = %v, want ErrInvalidRefresh", err)
			}
		})
	}
}

// TestSessionsConcurrentRefresh presents one refresh token many times at
// once: exactly one exchange uses the token (the others are reuses), at
// most one wins, and the race must end the session. The one that used the
// token may still lose: a reuse detected before it loaded its session has
// revoked the session already, and it gets ErrInvalidRefresh (revoked).
func TestSessionsConcurrentRefresh(t *testing.T) {
	f := newSessions(t)
	first := f.start(t)
	const n = 8
	var (
		wg                          sync.WaitGroup
		mu                          sync.Mutex
		won, reused, revoked, other int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.sessions.Refresh(context.Background(), first.RefreshToken)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, auth.ErrRefreshReused):
				reused++
			case errors.Is(err, auth.ErrInvalidRefresh) && strings.Contains(err.Error(), "session revoked"):
				revoked++
			default:
				other++
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	raced := make(chan struct{})
	go func() { wg.Wait(); close(raced) }()
	select {
	case <-raced:
	case <-time.After(time.Minute): // a deadlock guard, not a timing assertion
		t.Fatal("the racing refreshes did not all return within a minute")
	}
	if won+revoked != 1 || reused != n-1 || other != 0 {
		t.Fatalf("won=%d revoked=%d reused=%d other=%d, want one exchange to use the token (won or found its session revoked by the race) and %d reuses", won, revoked, reused, other, n-1)
	}
	s, err := f.store.Session(context.Background(), first.SessionID)
	if err != nil || s.RevokedAt.IsZero() {
		t.Fatalf("session not revoked: %+v, %v", s, err)
	}
}
