package keysnapshot_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/oais/oais/gateway"
	"github.com/oais/oais/gateway/keysnapshot"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

// TestLifecycleReachesSnapshot follows issue 16's changes into a running
// snapshot, without a restart: an edit of every setting a gateway enforces,
// a reset request count (a new budget generation), a credit quota, the
// workspace switched off, and deletes, of a key loaded at start (in the
// index) and of one added since (in recent); a deleted key is then
// unknown, to Lookup and to Fetch alike.
func TestLifecycleReachesSnapshot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx, ws := owner(t, s.Ent, "lifecycle@example.com")
		svc := &apikeys.Service{}
		mk := func(label string) *apikeys.Created {
			t.Helper()
			c, err := svc.Create(ctx, s.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: label})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		loaded := mk("loaded")
		snap := keysnapshot.New(s.Ent, keysnapshot.Options{PollInterval: 20 * time.Millisecond})
		if err := snap.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		run, stop := context.WithCancel(context.Background())
		defer stop()
		go snap.Follow(run)
		added := mk("added")
		until := func(what string, h keys.Hash, ok func(p *gateway.Principal, found bool) bool) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				if p, found := snap.Lookup(h); ok(p, found) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s never reached the snapshot", what)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		until("the added key", added.Secret.Hash(), func(_ *gateway.Principal, found bool) bool { return found })

		// An edit of what the gateway enforces.
		models, ips := []string{"gpt-4o-mini"}, []string{"203.0.113.0/24"}
		quota, rpm, maxReq := int64(250), int64(7), int64(3)
		if _, err := svc.Update(ctx, s.Ent, loaded.Key.ID, apikeys.UpdateParams{AllowedModels: models, IPAllowlist: ips, CreditQuotaCents: &quota,
			RPM: &rpm, MaxRequests: &maxReq}); err != nil {
			t.Fatal(err)
		}
		until("the edit", loaded.Secret.Hash(), func(p *gateway.Principal, _ bool) bool {
			k := p.Key
			return slices.Equal(k.AllowedModels, models) && slices.Equal(k.IPAllowlist, []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}) &&
				k.CreditQuotaMicros == 250*10_000 && k.RPM == 7 && k.State.MaxRequests == 3 && k.RequestGen == 0
		})

		// A reset starts a new generation of the request budget.
		if err := s.Ent.APIKey.UpdateOneID(loaded.Key.ID).SetRequestCount(3).Exec(viewer.SystemContext(context.Background())); err != nil {
			t.Fatal(err)
		}
		reset, err := svc.ResetRequests(ctx, s.Ent, loaded.Key.ID)
		if err != nil {
			t.Fatal(err)
		}
		until("the reset", loaded.Secret.Hash(), func(p *gateway.Principal, _ bool) bool {
			return p.Key.RequestGen == reset.RequestsResetAt.UnixMicro() && p.Key.State.RequestCount == 0 && p.Key.RequestGen != 0
		})

		// The owner switches the workspace off, and on again.
		for _, active := range []bool{false, true} {
			if _, err := workspaces.SetActive(ctx, s.Ent, ws.ID, active); err != nil {
				t.Fatal(err)
			}
			until("the workspace switch", added.Secret.Hash(), func(p *gateway.Principal, _ bool) bool { return p.Workspace.Inactive == !active })
		}

		// Deletes, of an indexed key and of a recent one.
		n := snap.Len()
		for i, c := range []*apikeys.Created{loaded, added} {
			if _, err := svc.Delete(ctx, s.Ent, c.Key.ID); err != nil {
				t.Fatal(err)
			}
			until("the delete", c.Secret.Hash(), func(_ *gateway.Principal, found bool) bool { return !found })
			if got := snap.Len(); got != n-i-1 {
				t.Errorf("Len = %d after %d deletes, want %d", got, i+1, n-i-1)
			}
			if p, found := snap.Fetch(context.Background(), c.Secret.Hash()); found || p != nil {
				t.Errorf("Fetch found the deleted key %s", c.Key.Label)
			}
		}
		// A fresh load never sees them.
		fresh := keysnapshot.New(s.Ent, keysnapshot.Options{})
		if err := fresh.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*apikeys.Created{loaded, added} {
			if _, found := fresh.Lookup(c.Secret.Hash()); found {
				t.Errorf("a fresh load holds the deleted key %s", c.Key.Label)
			}
		}
	})
}
