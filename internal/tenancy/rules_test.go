package tenancy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/privacy"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// fixture is one workspace's rows of every tenant type.
type fixture struct {
	ws, member, key, usage, auditEv, billing, period string
}

func seed(t *testing.T, c *ent.Client, name string) (fixture, *viewer.Viewer) {
	t.Helper()
	sys := viewer.SystemContext(context.Background())
	u := c.User.Create().SetEmail(name + "@example.com").SaveX(sys)
	ws := c.Workspace.Create().SetName(name).SetSlug(name).SaveX(sys)
	m := c.Membership.Create().SetWorkspaceID(ws.ID).SetUserID(u.ID).SetRole("OWNER").SaveX(sys)
	k := c.APIKey.Create().SetWorkspaceID(ws.ID).SetLabel("k").SetSecretHash(name + "-hash").SetMaskedKey("sk-oa**********abcd").SetCreatedByID(u.ID).SaveX(sys)
	ue := c.UsageEvent.Create().SetWorkspaceID(ws.ID).SetRequestID(name + "-req").SetAPIKeyID(k.ID).SetModel("m").SetEndpoint("/v1/chat/completions").
		SetStatus(200).SetSource("upstream").SetOccurredAt(time.Now()).SaveX(sys)
	if err := audit.Record(sys, c, audit.Event{WorkspaceID: ws.ID, Action: audit.KeyCreated, TargetID: k.ID}); err != nil {
		t.Fatal(err)
	}
	ae := c.AuditEvent.Query().Order(ent.Desc("id")).FirstX(sys)
	ba := c.BillingAccount.Create().SetWorkspaceID(ws.ID).SaveX(sys)
	bp := c.BillingPeriod.Create().SetWorkspaceID(ws.ID).SetIntervalStart(time.Now()).SetIntervalEnd(time.Now()).SetCostMicros(1).SetIdentifier(name + "-p").SaveX(sys)
	v := &viewer.Viewer{UserID: u.ID, Email: u.Email, Roles: map[string]viewer.Role{ws.ID: viewer.RoleOwner}}
	return fixture{ws.ID, m.ID, k.ID, ue.ID, ae.ID, ba.ID, bp.ID}, v
}

// TestCrossTenant is the store-level tenancy guarantee: for every type that
// belongs to a workspace, a member of another workspace (even its owner)
// can neither read nor change a row, and sees exactly what a missing id
// gives: not found. No viewer at all is denied.
func TestCrossTenant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		c := s.Ent
		a, _ := seed(t, c, "alpha")
		_, bViewer := seed(t, c, "beta")
		asB := viewer.NewContext(context.Background(), bViewer)
		reads := []struct {
			name string
			get  func(ctx context.Context, id string) error
			id   string
		}{
			{"workspace", func(ctx context.Context, id string) error { _, err := c.Workspace.Get(ctx, id); return err }, a.ws},
			{"membership", func(ctx context.Context, id string) error { _, err := c.Membership.Get(ctx, id); return err }, a.member},
			{"api key", func(ctx context.Context, id string) error { _, err := c.APIKey.Get(ctx, id); return err }, a.key},
			{"usage event", func(ctx context.Context, id string) error { _, err := c.UsageEvent.Get(ctx, id); return err }, a.usage},
			{"audit event", func(ctx context.Context, id string) error { _, err := c.AuditEvent.Get(ctx, id); return err }, a.auditEv},
			{"billing account", func(ctx context.Context, id string) error { _, err := c.BillingAccount.Get(ctx, id); return err }, a.billing},
			{"billing period", func(ctx context.Context, id string) error { _, err := c.BillingPeriod.Get(ctx, id); return err }, a.period},
		}
		for _, r := range reads {
			t.Run("read "+r.name, func(t *testing.T) {
				if err := r.get(asB, r.id); !ent.IsNotFound(err) {
					t.Fatalf("foreign read: %v, want not found", err)
				}
				if err := r.get(asB, r.id+"x"); !ent.IsNotFound(err) {
					t.Fatalf("missing id: %v, want not found", err)
				}
				if err := r.get(context.Background(), r.id); !errors.Is(err, privacy.Deny) {
					t.Fatalf("no viewer: %v, want deny", err)
				}
				if err := r.get(viewer.SystemContext(context.Background()), r.id); err != nil {
					t.Fatalf("system read: %v", err)
				}
			})
		}
		writes := []struct {
			name string
			do   func(ctx context.Context) error
		}{
			{"rename workspace", func(ctx context.Context) error { return c.Workspace.UpdateOneID(a.ws).SetName("pwned").Exec(ctx) }},
			{"change role", func(ctx context.Context) error { return c.Membership.UpdateOneID(a.member).SetRole("VIEWER").Exec(ctx) }},
			{"revoke key", func(ctx context.Context) error { return c.APIKey.UpdateOneID(a.key).SetStatus("REVOKED").Exec(ctx) }},
			{"delete membership", func(ctx context.Context) error { return c.Membership.DeleteOneID(a.member).Exec(ctx) }},
			{"edit billing", func(ctx context.Context) error {
				return c.BillingAccount.UpdateOneID(a.billing).SetStandingReason("x").Exec(ctx)
			}},
		}
		for _, w := range writes {
			t.Run("write "+w.name, func(t *testing.T) {
				if err := w.do(asB); !ent.IsNotFound(err) {
					t.Fatalf("foreign write: %v, want not found", err)
				}
			})
		}
		t.Run("create in foreign workspace", func(t *testing.T) {
			err := c.APIKey.Create().SetWorkspaceID(a.ws).SetLabel("x").SetSecretHash("evil").SetMaskedKey("m").Exec(asB)
			if !errors.Is(err, privacy.Deny) {
				t.Fatalf("foreign create: %v, want deny", err)
			}
			err = c.Membership.Create().SetWorkspaceID(a.ws).SetUserID(bViewer.UserID).SetRole("OWNER").Exec(asB)
			if !errors.Is(err, privacy.Deny) {
				t.Fatalf("joining a foreign workspace: %v, want deny", err)
			}
		})
		t.Run("lists hold only own rows", func(t *testing.T) {
			keys := c.APIKey.Query().AllX(asB)
			wss := c.Workspace.Query().AllX(asB)
			uses := c.UsageEvent.Query().AllX(asB)
			if len(keys) != 1 || keys[0].WorkspaceID == a.ws || len(wss) != 1 || wss[0].ID == a.ws || len(uses) != 1 {
				t.Fatalf("lists leak: %d keys, %d workspaces, %d usage", len(keys), len(wss), len(uses))
			}
		})
		t.Run("audit log is append-only", func(t *testing.T) {
			// Every field is immutable, so ent has no setter to call; deleting
			// is refused by the policy, even for the system.
			err := c.AuditEvent.DeleteOneID(a.auditEv).Exec(viewer.SystemContext(context.Background()))
			if err == nil {
				t.Fatal("audit line deleted")
			}
		})
	})
}
