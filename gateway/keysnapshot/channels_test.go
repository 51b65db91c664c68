package keysnapshot_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/gateway"
	"github.com/oais/oais/gateway/keysnapshot"
	"github.com/oais/oais/gateway/route"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/channels"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

// TestChannelsFollowed: gateways follow channels like keys. A running
// snapshot sees a channel created, disabled, re-keyed and deleted, in a
// workspace (WorkspacePolicy.Channels of its keys' principals) and
// site-wide (SiteChannels), within the bound TestRevocationReachesEveryReplica
// gives a revocation, and with no restart; the key is unsealed with the
// gateway's sealing key.
func TestChannelsFollowed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx, ws := owner(t, s.Ent, "channels@example.com")
		box, err := secretbox.New("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
		if err != nil {
			t.Fatal(err)
		}
		svc := &channels.Service{Box: box}
		created, err := (&apikeys.Service{}).Create(ctx, s.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: "k"})
		if err != nil {
			t.Fatal(err)
		}
		h := created.Secret.Hash()
		key := "sk-provider-one-secret"
		params := func(name string) channels.Params {
			return channels.Params{WorkspaceID: &ws.ID, Name: name, Type: "AZURE", BaseURL: "https://one.example.com/openai",
				APIKey: &key, APIVersion: ptrTo("2024-10-21"), Models: []string{"gpt-4o"},
				ModelMap: []channels.Mapping{{From: "gpt-4o", To: "my-deployment"}}, Priority: ptr(5), Weight: ptr(3)}
		}
		one, err := svc.Create(ctx, s.Ent, params("one"))
		if err != nil {
			t.Fatal(err)
		}
		snap := keysnapshot.New(s.Ent, keysnapshot.Options{PollInterval: 50 * time.Millisecond, Secrets: box})
		run, stop := context.WithCancel(context.Background())
		defer stop()
		if err := snap.Load(run); err != nil {
			t.Fatal(err)
		}
		go snap.Follow(run)

		wsChannels := func() []*route.Channel {
			p, ok := snap.Lookup(h)
			if !ok {
				t.Fatal("key not found")
			}
			return p.Workspace.Channels
		}
		got := wsChannels()
		if len(got) != 1 {
			t.Fatalf("loaded %d channels, want 1", len(got))
		}
		c := got[0]
		if c.ID != one.ID || c.Name != "one" || c.Type != route.Azure || c.APIKey != key || c.APIVersion != "2024-10-21" ||
			c.BaseURL.String() != "https://one.example.com/openai" || c.Priority != 5 || c.Weight != 3 || !c.Enabled ||
			c.UpstreamModel("gpt-4o") != "my-deployment" || !c.Serves("gpt-4o") || c.Serves("other") || c.WorkspaceID != ws.ID {
			t.Fatalf("loaded channel %+v", c)
		}
		if len(snap.SiteChannels()) != 0 {
			t.Fatalf("site channels %v, want none", snap.SiteChannels())
		}

		// Created: a second channel of the workspace, and a site-wide one.
		two := params("two")
		two.Priority = ptr(9)
		if _, err := svc.Create(ctx, s.Ent, two); err != nil {
			t.Fatal(err)
		}
		within(t, "a new workspace channel", func() bool {
			l := wsChannels()
			return len(l) == 2 && l[0].Name == "two" && l[1].Name == "one"
		})
		admin := viewer.NewContext(context.Background(), &viewer.Viewer{UserID: "usr_admin", SiteAdmin: true, Roles: map[string]viewer.Role{}})
		site, err := svc.Create(admin, s.Ent, channels.Params{Name: "site", Type: "OPENAI", BaseURL: "https://site.example.com/v1", APIKey: &key})
		if err != nil {
			t.Fatal(err)
		}
		within(t, "a new site-wide channel", func() bool {
			l := snap.SiteChannels()
			return len(l) == 1 && l[0].ID == site.ID && l[0].APIKey == key && l[0].WorkspaceID == ""
		})

		// Disabled, then re-keyed.
		off := params("one")
		off.Enabled, off.APIKey = ptrTo(false), nil
		if _, err := svc.Update(ctx, s.Ent, one.ID, off); err != nil {
			t.Fatal(err)
		}
		within(t, "a disabled channel", func() bool {
			for _, c := range wsChannels() {
				if c.ID == one.ID {
					return !c.Enabled && c.APIKey == key
				}
			}
			return false
		})
		next := "sk-provider-rotated"
		off.APIKey = &next
		if _, err := svc.Update(ctx, s.Ent, one.ID, off); err != nil {
			t.Fatal(err)
		}
		within(t, "a new channel key", func() bool {
			for _, c := range wsChannels() {
				if c.ID == one.ID {
					return c.APIKey == next
				}
			}
			return false
		})

		// Deleted.
		if err := svc.Delete(ctx, s.Ent, one.ID); err != nil {
			t.Fatal(err)
		}
		if err := svc.Delete(admin, s.Ent, site.ID); err != nil {
			t.Fatal(err)
		}
		within(t, "deleted channels", func() bool {
			l := wsChannels()
			return len(l) == 1 && l[0].Name == "two" && len(snap.SiteChannels()) == 0
		})
	})
}

// TestChannelKeyBoundToItsRow is the attack on the sealed key: a channel's
// ciphertext copied onto another channel's row (a database write, a
// restored backup) does not open there, and a gateway with another sealing
// key cannot open it either; either way the channel is disabled, never
// used without its key, and the log names the fix but not the key.
func TestChannelKeyBoundToItsRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx, ws := owner(t, s.Ent, "bound@example.com")
		box, err := secretbox.New("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
		if err != nil {
			t.Fatal(err)
		}
		svc := &channels.Service{Box: box}
		key := "sk-provider-bound-secret"
		a, err := svc.Create(ctx, s.Ent, channels.Params{WorkspaceID: &ws.ID, Name: "a", Type: "OPENAI", BaseURL: "https://a.example.com/v1", APIKey: &key})
		if err != nil {
			t.Fatal(err)
		}
		b, err := svc.Create(ctx, s.Ent, channels.Params{WorkspaceID: &ws.ID, Name: "b", Type: "OPENAI", BaseURL: "https://b.example.com/v1"})
		if err != nil {
			t.Fatal(err)
		}
		sys := viewer.SystemContext(context.Background())
		if err := s.Ent.Channel.UpdateOneID(b.ID).SetAPIKeyCiphertext(a.APIKeyCiphertext).Exec(sys); err != nil {
			t.Fatal(err)
		}
		other, err := secretbox.New("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=")
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name     string
			box      *secretbox.Box
			disabled map[string]bool
		}{
			{"same sealing key", box, map[string]bool{"b": true}},
			{"another sealing key", other, map[string]bool{"a": true, "b": true}},
			{"no sealing key", nil, map[string]bool{"a": true, "b": true}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var logs strings.Builder
				snap := keysnapshot.New(s.Ent, keysnapshot.Options{Secrets: tc.box, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
				if err := snap.Load(context.Background()); err != nil {
					t.Fatal(err)
				}
				pol := policyOf(t, snap, ws.ID)
				for _, c := range pol.Channels {
					if c.Enabled == tc.disabled[c.Name] {
						t.Errorf("channel %s enabled %v", c.Name, c.Enabled)
					}
					if tc.disabled[c.Name] && c.APIKey != "" {
						t.Errorf("channel %s got a key", c.Name)
					}
				}
				if strings.Contains(logs.String(), key) || !strings.Contains(logs.String(), "OAIS_SECRETS_KEY") {
					t.Errorf("log: %s", logs.String())
				}
			})
		}
	})
}

// policyOf returns workspace ws's policy through a fresh key of it.
func policyOf(t *testing.T, snap *keysnapshot.Snapshot, ws string) *gateway.WorkspacePolicy {
	t.Helper()
	p, ok := keysnapshot.WorkspacePolicy(snap, ws)
	if !ok {
		t.Fatalf("workspace %s not in the snapshot", ws)
	}
	return p
}

// within waits, as the revocation test does, for what to hold.
func within(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the snapshot", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ptrTo[T any](v T) *T { return &v }
