package keysnapshot_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/gateway/keysnapshot"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/changes"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// owner signs up a user and makes them the owner of a new workspace.
func owner(t *testing.T, c *ent.Client, email string) (context.Context, *ent.Workspace) {
	t.Helper()
	sys := viewer.SystemContext(context.Background())
	u, err := c.User.Create().SetEmail(email).Save(sys)
	if err != nil {
		t.Fatal(err)
	}
	ctx := viewer.NewContext(context.Background(), &viewer.Viewer{UserID: u.ID, Email: email, Roles: map[string]viewer.Role{}})
	ws, err := workspaces.Create(ctx, c, "acme")
	if err != nil {
		t.Fatal(err)
	}
	return ctx, ws
}

// TestRevocationReachesEveryReplica runs two followers (two gateways) on one
// database, revokes a key and waits until both refuse it. It logs how long
// that took; the guarantee it checks is that both see it, with no restart.
func TestRevocationReachesEveryReplica(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx, ws := owner(t, s.Ent, "owner@example.com")
		svc := &apikeys.Service{}
		created, err := svc.Create(ctx, s.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: "ci"})
		if err != nil {
			t.Fatal(err)
		}
		h := created.Secret.Hash()
		run, stop := context.WithCancel(context.Background())
		defer stop()
		var replicas []*keysnapshot.Snapshot
		for i := 0; i < 2; i++ {
			snap := keysnapshot.New(s.Ent, keysnapshot.Options{PollInterval: 50 * time.Millisecond})
			if err := snap.Load(run); err != nil {
				t.Fatal(err)
			}
			p, ok := snap.Lookup(h)
			if !ok || p.Key.State.Check(time.Now()) != nil || p.Workspace.ID != ws.ID {
				t.Fatalf("replica %d: new key not usable: %+v %v", i, p, ok)
			}
			go snap.Follow(run)
			replicas = append(replicas, snap)
		}
		if _, ok := replicas[0].Lookup(keys.HashOf("sk-oais-unknown")); ok {
			t.Fatal("unknown hash found")
		}
		revokedAt := time.Now()
		if _, err := svc.Revoke(ctx, s.Ent, created.Key.ID); err != nil {
			t.Fatal(err)
		}
		for i, snap := range replicas {
			deadline := time.Now().Add(10 * time.Second)
			for {
				p, _ := snap.Lookup(h)
				if p.Key.State.Check(time.Now()) == keys.ErrRevoked {
					t.Logf("replica %d refused the revoked key %v after the revocation committed", i, time.Since(revokedAt).Round(time.Millisecond))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("replica %d still accepts the revoked key", i)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		// A workspace change (suspension, limits) reaches the keys' copies too.
		if _, err := workspaces.SetLimits(ctx, s.Ent, ws.ID, ptr(42), nil, nil); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if p, _ := replicas[1].Lookup(h); p.Workspace.RPM == 42 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("workspace limit change never reached the snapshot")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func ptr(i int) *int { return &i }

// TestWorkspaceUpstream follows a workspace's own upstream: set (its key
// sealed in the database, opened in the snapshot), changed, and cleared.
func TestWorkspaceUpstream(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx, ws := owner(t, s.Ent, "up@example.com")
		box, err := secretbox.New("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
		if err != nil {
			t.Fatal(err)
		}
		created, err := (&apikeys.Service{}).Create(ctx, s.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: "k"})
		if err != nil {
			t.Fatal(err)
		}
		secret := "sk-upstream-very-secret"
		if _, err := workspaces.SetUpstream(ctx, s.Ent, box, nil, ws.ID, workspaces.UpstreamParams{BaseURL: "https://llm.example.com/v1", APIKey: &secret, Models: []string{"m1"}}); err != nil {
			t.Fatal(err)
		}
		raw, err := s.Ent.Upstream.Query().Only(viewer.SystemContext(context.Background()))
		if err != nil || strings.Contains(string(raw.APIKeyCiphertext), secret) {
			t.Fatalf("upstream key stored in clear (or missing): %v", err)
		}
		snap := keysnapshot.New(s.Ent, keysnapshot.Options{PollInterval: 20 * time.Millisecond, Secrets: box})
		if err := snap.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		p, _ := snap.Lookup(created.Secret.Hash())
		if p.Workspace.Upstream == nil || p.Workspace.Upstream.BaseURL.Host != "llm.example.com" || p.Workspace.Upstream.Authorization != "Bearer "+secret || p.Workspace.Models[0] != "m1" {
			t.Fatalf("upstream not loaded: %+v", p.Workspace)
		}
		run, stop := context.WithCancel(context.Background())
		defer stop()
		go snap.Follow(run)
		if err := workspaces.ClearUpstream(ctx, s.Ent, ws.ID); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if p, _ := snap.Lookup(created.Secret.Hash()); p.Workspace.Upstream == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("cleared upstream still used")
			}
			time.Sleep(5 * time.Millisecond)
		}
		// Without the key, the upstream is kept but carries no credentials.
		if _, err := workspaces.SetUpstream(ctx, s.Ent, &secretbox.Box{}, nil, ws.ID, workspaces.UpstreamParams{BaseURL: "https://x.example.com", APIKey: &secret}); err == nil {
			t.Fatal("stored an upstream key without OAIS_SECRETS_KEY")
		}
	})
}

// TestNotifyWakesSnapshot: on PostgreSQL a change NOTIFYs gateways, which
// reload at once. The poll is set to a minute here, so only the
// notification can make the revocation visible within the wait.
func TestNotifyWakesSnapshot(t *testing.T) {
	s := storetest.Postgres(t)
	s.Ent.Use(changes.Hook())
	ctx, ws := owner(t, s.Ent, "notify@example.com")
	svc := &apikeys.Service{}
	created, err := svc.Create(ctx, s.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: "n"})
	if err != nil {
		t.Fatal(err)
	}
	wake := make(chan struct{}, 1)
	snap := keysnapshot.New(s.Ent, keysnapshot.Options{PollInterval: time.Minute, Wake: wake})
	if err := snap.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	run, stop := context.WithCancel(context.Background())
	defer stop()
	// On the database directly, as OAIS_DATABASE_LISTEN_URL is when the
	// store goes through PgBouncer (make test-pgbouncer).
	go changes.Listen(run, storetest.DirectURL(s), wake, slog.Default())
	go snap.Follow(run)
	time.Sleep(200 * time.Millisecond) // let LISTEN start; its first wake is harmless
	revokedAt := time.Now()
	if _, err := svc.Revoke(ctx, s.Ent, created.Key.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if p, _ := snap.Lookup(created.Secret.Hash()); p.Key.State.Check(time.Now()) == keys.ErrRevoked {
			t.Logf("notified snapshot refused the key %v after the revocation", time.Since(revokedAt).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("revocation never arrived by notification")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
