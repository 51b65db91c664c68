package accounts_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

func newSession(t *testing.T, st *accounts.SessionStore, userID string, now time.Time) auth.SessionRecord {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	rec := auth.SessionRecord{
		ID: fmt.Sprintf("sess-%x", b), UserID: userID, Email: "a@example.com",
		Meta:      auth.SessionMeta{Method: "password", UserAgent: strings.Repeat("ü", 300), IP: netip.MustParseAddr("2001:db8::1")},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}
	if err := st.CreateSession(context.Background(), rec); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return rec
}

func newRefresh(t *testing.T, st *accounts.SessionStore, sessionID string, now time.Time) [sha256.Size]byte {
	t.Helper()
	var h [sha256.Size]byte
	_, _ = rand.Read(h[:])
	if err := st.CreateRefresh(context.Background(), auth.RefreshRecord{Hash: h, SessionID: sessionID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatalf("CreateRefresh: %v", err)
	}
	return h
}

func TestSessionStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		st := accounts.NewSessionStore(s.Ent)
		u := mkUser(t, s, "a@example.com", "")
		now := time.Now().UTC().Truncate(time.Microsecond)
		sess := newSession(t, st, u.ID, now)

		t.Run("session round trip", func(t *testing.T) {
			got, err := st.Session(ctx, sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.UserID != u.ID || got.Meta.IP != sess.Meta.IP || got.Meta.Method != "password" ||
				!got.CreatedAt.Equal(now) || !got.ExpiresAt.Equal(sess.ExpiresAt) || !got.RevokedAt.IsZero() {
				t.Fatalf("session %+v, want %+v", got, sess)
			}
			if len(got.Meta.UserAgent) > 500 || !strings.HasPrefix(sess.Meta.UserAgent, got.Meta.UserAgent) {
				t.Fatalf("user agent not cut to the column at a rune boundary: %d bytes", len(got.Meta.UserAgent))
			}
		})
		t.Run("unknown session", func(t *testing.T) {
			if _, err := st.Session(ctx, "nope"); !errors.Is(err, auth.ErrSessionNotFound) {
				t.Fatalf("err = %v", err)
			}
			if err := st.RevokeSession(ctx, "nope", now); !errors.Is(err, auth.ErrSessionNotFound) {
				t.Fatalf("revoke err = %v", err)
			}
		})
		t.Run("revoke is idempotent and keeps the first time", func(t *testing.T) {
			s2 := newSession(t, st, u.ID, now)
			if err := st.RevokeSession(ctx, s2.ID, now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := st.RevokeSession(ctx, s2.ID, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			got, _ := st.Session(ctx, s2.ID)
			if !got.RevokedAt.Equal(now.Add(time.Minute)) {
				t.Fatalf("revoked at %v", got.RevokedAt)
			}
		})
		t.Run("use refresh once, then reused", func(t *testing.T) {
			h := newRefresh(t, st, sess.ID, now)
			rec, err := st.UseRefresh(ctx, h, now.Add(time.Second))
			if err != nil || rec.SessionID != sess.ID || !rec.UsedAt.Equal(now.Add(time.Second)) || rec.Hash != h {
				t.Fatalf("first use = %+v, %v", rec, err)
			}
			rec, err = st.UseRefresh(ctx, h, now.Add(2*time.Second))
			if !errors.Is(err, auth.ErrRefreshReused) || rec.SessionID != sess.ID || !rec.UsedAt.Equal(now.Add(time.Second)) {
				t.Fatalf("second use = %+v, %v; want the stored record with ErrRefreshReused", rec, err)
			}
		})
		t.Run("unknown refresh", func(t *testing.T) {
			if _, err := st.UseRefresh(ctx, sha256.Sum256([]byte("x")), now); !errors.Is(err, auth.ErrRefreshNotFound) {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("refresh of an unknown session is refused", func(t *testing.T) {
			err := st.CreateRefresh(ctx, auth.RefreshRecord{Hash: sha256.Sum256([]byte("y")), SessionID: "nope", CreatedAt: now, ExpiresAt: now})
			if !errors.Is(err, store.ErrConstraint) && !errors.Is(err, store.ErrConflict) {
				t.Fatalf("err = %v, want a classified constraint error", err)
			}
		})
		t.Run("duplicate hash conflicts", func(t *testing.T) {
			h := newRefresh(t, st, sess.ID, now)
			err := st.CreateRefresh(ctx, auth.RefreshRecord{Hash: h, SessionID: sess.ID, CreatedAt: now, ExpiresAt: now})
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict", err)
			}
		})
	})
}

// TestUseRefreshRace spends each token from several goroutines at once:
// exactly one may win, the rest must see ErrRefreshReused.
func TestUseRefreshRace(t *testing.T) {
	const rounds, racers = 10, 8
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		st := accounts.NewSessionStore(s.Ent)
		u := mkUser(t, s, "race@example.com", "")
		now := time.Now().UTC()
		sess := newSession(t, st, u.ID, now)
		for round := range rounds {
			h := newRefresh(t, st, sess.ID, now)
			var (
				wg           sync.WaitGroup
				mu           sync.Mutex
				wins, reuses int
				other        []error
				start        = make(chan struct{})
			)
			for range racers {
				wg.Go(func() {
					<-start
					_, err := st.UseRefresh(ctx, h, time.Now())
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						wins++
					case errors.Is(err, auth.ErrRefreshReused):
						reuses++
					default:
						other = append(other, err)
					}
				})
			}
			close(start)
			wait(t, &wg, fmt.Sprintf("round %d's racing UseRefresh calls", round))
			if wins != 1 || reuses != racers-1 || len(other) > 0 {
				t.Fatalf("round %d: %d wins, %d reuses, errors %v; want exactly one win", round, wins, reuses, other)
			}
		}
	})
}

func TestKeyStoreWithIssuer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ks := accounts.NewSigningKeyStore(s.Ent, newBox(t))
		first, err := auth.NewIssuer(ctx, ks, auth.IssuerConfig{Issuer: "http://oais.test"})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := first.Issue(ctx, auth.AccessSubject{UserID: "usr_1", SessionID: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		// A second replica loads the same key and verifies the first's token.
		second, err := auth.NewIssuer(ctx, ks, auth.IssuerConfig{Issuer: "http://oais.test"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := second.Verify(ctx, tok); err != nil {
			t.Fatalf("second replica: %v", err)
		}
		keys, err := ks.SigningKeys(ctx)
		if err != nil || len(keys) != 1 {
			t.Fatalf("stored keys %d, %v; want one", len(keys), err)
		}
		if err := first.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		if keys, _ := ks.SigningKeys(ctx); len(keys) != 2 {
			t.Fatalf("after rotation %d keys", len(keys))
		}
		t.Run("members cannot read keys", func(t *testing.T) {
			member := viewer.NewContext(ctx, &viewer.Viewer{UserID: "usr_1", SiteAdmin: true})
			if _, err := s.Ent.SigningKey.Query().All(member); err == nil {
				t.Fatal("a site admin read the signing keys")
			}
		})
	})
}

func TestPrincipals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := accounts.NewPrincipalLoader(s.Ent)
		admin := mkUser(t, s, "root@example.com", "", func(q *ent.UserCreate) { q.SetSiteAdmin(true) })
		dev := mkUser(t, s, "dev@example.com", "")
		gone := mkUser(t, s, "gone@example.com", "", func(q *ent.UserCreate) { q.SetDisabled(true) })
		a, b := mkWorkspace(t, s, "A"), mkWorkspace(t, s, "B")
		addMember(t, s, a.ID, dev.ID, membership.RoleDEVELOPER)
		addMember(t, s, b.ID, dev.ID, membership.RoleVIEWER)
		addMember(t, s, a.ID, admin.ID, membership.RoleOWNER)
		sessions := accounts.NewSessionStore(s.Ent)
		now := time.Now()
		sid := map[string]string{}
		for _, u := range []*ent.User{admin, dev, gone} {
			sid[u.ID] = newSession(t, sessions, u.ID, now).ID
		}
		ended := newSession(t, sessions, dev.ID, now.Add(-2*time.Hour)).ID // expired an hour ago
		signedOut := newSession(t, sessions, dev.ID, now).ID
		if err := sessions.RevokeSession(ctx, signedOut, now); err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			name    string
			id      string
			session string // "" for the user's live session
			want    viewer.Viewer
			wantErr error
		}{
			{name: "member of two workspaces", id: dev.ID, want: viewer.Viewer{UserID: dev.ID, Email: "dev@example.com",
				Roles: map[string]viewer.Role{a.ID: viewer.RoleDeveloper, b.ID: viewer.RoleViewer}}},
			{name: "site admin", id: admin.ID, want: viewer.Viewer{UserID: admin.ID, Email: "root@example.com", SiteAdmin: true,
				Roles: map[string]viewer.Role{a.ID: viewer.RoleOwner}}},
			{name: "disabled", id: gone.ID, wantErr: auth.ErrUnknownPrincipal},
			{name: "missing", id: "usr_nope", wantErr: auth.ErrUnknownPrincipal},
			{name: "signed-out session", id: dev.ID, session: signedOut, wantErr: auth.ErrUnknownPrincipal},
			{name: "ended session", id: dev.ID, session: ended, wantErr: auth.ErrUnknownPrincipal},
			{name: "another user's session", id: dev.ID, session: sid[admin.ID], wantErr: auth.ErrUnknownPrincipal},
			{name: "no session", id: dev.ID, session: "-", wantErr: auth.ErrUnknownPrincipal},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				session := tt.session
				switch session {
				case "":
					session = sid[tt.id]
				case "-":
					session = ""
				}
				v, err := p.Principal(ctx, tt.id, session)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if v.UserID != tt.want.UserID || v.Email != tt.want.Email || v.SiteAdmin != tt.want.SiteAdmin || v.System ||
					fmt.Sprint(v.Roles) != fmt.Sprint(tt.want.Roles) {
					t.Fatalf("viewer %+v, want %+v", *v, tt.want)
				}
			})
		}
		t.Run("email lookup refuses disabled users", func(t *testing.T) {
			if _, err := p.Email(ctx, gone.ID); !errors.Is(err, auth.ErrUnknownPrincipal) {
				t.Fatalf("err = %v", err)
			}
			if e, err := p.Email(ctx, dev.ID); err != nil || e != "dev@example.com" {
				t.Fatalf("Email = %q, %v", e, err)
			}
		})
	})
}
