package tenancy_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"entgo.io/ent/dialect/sql/schema"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/ent/auditevent"
	"github.com/oais/oais/ent/billingaccount"
	"github.com/oais/oais/ent/billingperiod"
	"github.com/oais/oais/ent/channel"
	"github.com/oais/oais/ent/invitation"
	"github.com/oais/oais/ent/latencyrollup"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/migrate"
	"github.com/oais/oais/ent/privacy"
	"github.com/oais/oais/ent/servicetoken"
	"github.com/oais/oais/ent/upstream"
	"github.com/oais/oais/ent/usageevent"
	"github.com/oais/oais/ent/usagequarantine"
	"github.com/oais/oais/ent/usagerollup"
	"github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// fixture is one workspace's rows of every tenant type.
type fixture struct {
	ws, member, key, usage, auditEv, billing, period string
	upstream, usageRollup, latencyRollup             string
	quarantine                                       string
	invitation                                       string
	serviceToken                                     string
	channel                                          string
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
	up := c.Upstream.Create().SetWorkspaceID(ws.ID).SetBaseURL("https://" + name + ".example.com/v1").SetAPIKeyCiphertext([]byte(name + "-sealed")).SaveX(sys)
	hour := time.Now().UTC().Truncate(time.Hour)
	ur := c.UsageRollup.Create().SetWorkspaceID(ws.ID).SetAPIKeyID(k.ID).SetModel("m").SetHour(hour).SetRequests(1).SaveX(sys)
	lr := c.LatencyRollup.Create().SetWorkspaceID(ws.ID).SetHour(hour).SetBucket(0).SetCount(1).SaveX(sys)
	uq := c.UsageQuarantine.Create().SetID("uq_" + name).SetWorkspaceID(ws.ID).SetRequestID(name + "-bad").SetReason("test").SetRecord("{}").SaveX(sys)
	inv := c.Invitation.Create().SetWorkspaceID(ws.ID).SetEmail("guest@" + name + ".example").SetRole("ADMIN").SetTokenHash(name + "-invite").
		SetExpiresAt(time.Now().Add(time.Hour)).SetSentAt(time.Now()).SaveX(sys)
	st := c.ServiceToken.Create().SetWorkspaceID(ws.ID).SetName("ci").SetRole("ADMIN").SetTokenHash(name + "-st").SetCreatedByID(u.ID).SaveX(sys)
	ch := c.Channel.Create().SetWorkspaceID(ws.ID).SetName("own").SetBaseURL("https://" + name + ".example.com/v1").
		SetAPIKeyCiphertext([]byte(name + "-sealed")).SaveX(sys)
	v := &viewer.Viewer{UserID: u.ID, Email: u.Email, Roles: map[string]viewer.Role{ws.ID: viewer.RoleOwner}}
	return fixture{channel: ch.ID, ws: ws.ID, member: m.ID, key: k.ID, usage: ue.ID, auditEv: ae.ID, billing: ba.ID, period: bp.ID,
		upstream: up.ID, usageRollup: ur.ID, latencyRollup: lr.ID, quarantine: uq.ID, invitation: inv.ID, serviceToken: st.ID}, v
}

// read gets one row of a workspace-owned type by id. The table ties it to
// the schema, so TestCrossTenantCoversEveryType notices a type without one.
type read struct {
	table string
	id    func(fixture) string
	get   func(ctx context.Context, c *ent.Client, id string) error
	// systemOnly: only the system reads the type (an operator's table), so
	// every member is denied outright instead of filtered to nothing.
	systemOnly bool
}

var reads = []read{
	{table: workspace.Table, id: func(f fixture) string { return f.ws }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.Workspace.Get(ctx, id)
		return err
	}},
	{table: membership.Table, id: func(f fixture) string { return f.member }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.Membership.Get(ctx, id)
		return err
	}},
	{table: apikey.Table, id: func(f fixture) string { return f.key }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.APIKey.Get(ctx, id)
		return err
	}},
	{table: usageevent.Table, id: func(f fixture) string { return f.usage }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.UsageEvent.Get(ctx, id)
		return err
	}},
	{table: auditevent.Table, id: func(f fixture) string { return f.auditEv }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.AuditEvent.Get(ctx, id)
		return err
	}},
	{table: billingaccount.Table, id: func(f fixture) string { return f.billing }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.BillingAccount.Get(ctx, id)
		return err
	}},
	{table: billingperiod.Table, id: func(f fixture) string { return f.period }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.BillingPeriod.Get(ctx, id)
		return err
	}},
	// It holds the workspace's sealed upstream key.
	{table: upstream.Table, id: func(f fixture) string { return f.upstream }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.Upstream.Get(ctx, id)
		return err
	}},
	{table: usagerollup.Table, id: func(f fixture) string { return f.usageRollup }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.UsageRollup.Get(ctx, id)
		return err
	}},
	{table: latencyrollup.Table, id: func(f fixture) string { return f.latencyRollup }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.LatencyRollup.Get(ctx, id)
		return err
	}},
	// Quarantined usage records, for operators only.
	{table: usagequarantine.Table, systemOnly: true, id: func(f fixture) string { return f.quarantine }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.UsageQuarantine.Get(ctx, id)
		return err
	}},
	// Who was invited, and the state of the links.
	{table: invitation.Table, id: func(f fixture) string { return f.invitation }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.Invitation.Get(ctx, id)
		return err
	}},
	// Who automates what, and with which role.
	{table: servicetoken.Table, id: func(f fixture) string { return f.serviceToken }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.ServiceToken.Get(ctx, id)
		return err
	}},
	// It holds the channel's sealed provider key.
	{table: channel.Table, id: func(f fixture) string { return f.channel }, get: func(ctx context.Context, c *ent.Client, id string) error {
		_, err := c.Channel.Get(ctx, id)
		return err
	}},
}

// write is a change a member of another workspace tries on a row of a.
type write struct {
	name  string
	table string
	do    func(ctx context.Context, c *ent.Client, a fixture) error
	// systemWritten: only the system writes the type, so any other viewer
	// is denied outright (whatever the id) instead of filtered to nothing.
	systemWritten bool
}

var writes = []write{
	{name: "rename workspace", table: workspace.Table, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.Workspace.UpdateOneID(a.ws).SetName("pwned").Exec(ctx)
	}},
	{name: "change role", table: membership.Table, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.Membership.UpdateOneID(a.member).SetRole("VIEWER").Exec(ctx)
	}},
	{name: "delete membership", table: membership.Table, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.Membership.DeleteOneID(a.member).Exec(ctx)
	}},
	{name: "revoke key", table: apikey.Table, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.APIKey.UpdateOneID(a.key).SetStatus("REVOKED").Exec(ctx)
	}},
	{name: "edit billing", table: billingaccount.Table, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.BillingAccount.UpdateOneID(a.billing).SetStandingReason("x").Exec(ctx)
	}},
	{name: "repoint upstream", table: upstream.Table, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.Upstream.UpdateOneID(a.upstream).SetBaseURL("https://attacker.example.com/v1").Exec(ctx)
	}},
	{name: "delete upstream", table: upstream.Table, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.Upstream.DeleteOneID(a.upstream).Exec(ctx)
	}},
	{name: "delete usage event", table: usageevent.Table, systemWritten: true, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.UsageEvent.DeleteOneID(a.usage).Exec(ctx)
	}},
	{name: "delete audit event", table: auditevent.Table, systemWritten: true, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.AuditEvent.DeleteOneID(a.auditEv).Exec(ctx)
	}},
	{name: "mark period sent", table: billingperiod.Table, systemWritten: true, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.BillingPeriod.UpdateOneID(a.period).SetSentAt(time.Now()).Exec(ctx)
	}},
	{name: "zero usage rollup", table: usagerollup.Table, systemWritten: true, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.UsageRollup.UpdateOneID(a.usageRollup).SetCostMicros(0).Exec(ctx)
	}},
	{name: "delete quarantined usage", table: usagequarantine.Table, systemWritten: true, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.UsageQuarantine.DeleteOneID(a.quarantine).Exec(ctx)
	}},
	{name: "zero latency rollup", table: latencyrollup.Table, systemWritten: true, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.LatencyRollup.UpdateOneID(a.latencyRollup).SetCount(0).Exec(ctx)
	}},
	{name: "redirect an invitation's link", table: invitation.Table, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.Invitation.UpdateOneID(a.invitation).SetTokenHash("attacker-known").Exec(ctx)
	}},
	{name: "un-revoke a service token", table: servicetoken.Table, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.ServiceToken.UpdateOneID(a.serviceToken).ClearRevokedAt().SetName("pwned").Exec(ctx)
	}},
	{name: "repoint channel", table: channel.Table, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.Channel.UpdateOneID(a.channel).SetBaseURL("https://attacker.example.com/v1").Exec(ctx)
	}},
	{name: "delete channel", table: channel.Table, do: func(ctx context.Context, c *ent.Client, a fixture) error {
		return c.Channel.DeleteOneID(a.channel).Exec(ctx)
	}},
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
		for _, r := range reads {
			t.Run("read "+r.table, func(t *testing.T) {
				id := r.id(a)
				want, wantText := ent.IsNotFound, "not found"
				if r.systemOnly {
					want, wantText = func(err error) bool { return errors.Is(err, privacy.Deny) }, "deny"
				}
				if err := r.get(asB, c, id); !want(err) {
					t.Fatalf("foreign read: %v, want %s", err, wantText)
				}
				if err := r.get(asB, c, id+"x"); !want(err) {
					t.Fatalf("missing id: %v, want %s", err, wantText)
				}
				if err := r.get(context.Background(), c, id); !errors.Is(err, privacy.Deny) {
					t.Fatalf("no viewer: %v, want deny", err)
				}
				if err := r.get(viewer.SystemContext(context.Background()), c, id); err != nil {
					t.Fatalf("system read: %v", err)
				}
			})
		}
		for _, w := range writes {
			t.Run("write "+w.name, func(t *testing.T) {
				err := w.do(asB, c, a)
				switch {
				case w.systemWritten && !errors.Is(err, privacy.Deny):
					t.Fatalf("foreign write: %v, want deny (only the system writes %s)", err, w.table)
				case !w.systemWritten && !ent.IsNotFound(err):
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
			err = c.Upstream.Create().SetWorkspaceID(a.ws).SetBaseURL("https://attacker.example.com/v1").Exec(asB)
			if !errors.Is(err, privacy.Deny) {
				t.Fatalf("an upstream for a foreign workspace: %v, want deny", err)
			}
			err = c.Channel.Create().SetWorkspaceID(a.ws).SetName("evil").SetBaseURL("https://attacker.example.com/v1").Exec(asB)
			if !errors.Is(err, privacy.Deny) {
				t.Fatalf("a channel for a foreign workspace: %v, want deny", err)
			}
			err = c.Channel.Create().SetName("evil-site").SetBaseURL("https://attacker.example.com/v1").Exec(asB)
			if !errors.Is(err, privacy.Deny) {
				t.Fatalf("a site-wide channel by a workspace owner: %v, want deny", err)
			}
			err = c.Invitation.Create().SetWorkspaceID(a.ws).SetEmail("me@b.example").SetRole("OWNER").SetTokenHash("mine").
				SetExpiresAt(time.Now().Add(time.Hour)).SetSentAt(time.Now()).Exec(asB)
			if !errors.Is(err, privacy.Deny) {
				t.Fatalf("an invitation into a foreign workspace: %v, want deny", err)
			}
		})
		t.Run("lists hold only own rows", func(t *testing.T) {
			keys := c.APIKey.Query().AllX(asB)
			wss := c.Workspace.Query().AllX(asB)
			uses := c.UsageEvent.Query().AllX(asB)
			if len(keys) != 1 || keys[0].WorkspaceID == a.ws || len(wss) != 1 || wss[0].ID == a.ws || len(uses) != 1 {
				t.Fatalf("lists leak: %d keys, %d workspaces, %d usage", len(keys), len(wss), len(uses))
			}
			ups := c.Upstream.Query().AllX(asB)
			urs := c.UsageRollup.Query().AllX(asB)
			lrs := c.LatencyRollup.Query().AllX(asB)
			if len(ups) != 1 || ups[0].WorkspaceID == a.ws || len(urs) != 1 || urs[0].WorkspaceID == a.ws || len(lrs) != 1 || lrs[0].WorkspaceID == a.ws {
				t.Fatalf("lists leak: %d upstreams, %d usage rollups, %d latency rollups", len(ups), len(urs), len(lrs))
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

// TestCrossTenantCoversEveryType fails when a table that belongs to a
// workspace has no read or no write in TestCrossTenant, so a new tenant
// type cannot ship untested. Belonging is read off the generated schema,
// not a list: a workspace_id column (TenantMixin adds it; the audit log
// declares its own), or the workspaces table itself.
func TestCrossTenantCoversEveryType(t *testing.T) {
	read, written := map[string]bool{}, map[string]bool{}
	for _, r := range reads {
		read[r.table] = true
	}
	for _, w := range writes {
		written[w.table] = true
	}
	owned := map[string]bool{}
	for _, tb := range migrate.Tables {
		hasWorkspace := slices.ContainsFunc(tb.Columns, func(c *schema.Column) bool { return c.Name == "workspace_id" })
		if !hasWorkspace && tb.Name != workspace.Table {
			continue
		}
		owned[tb.Name] = true
		if !read[tb.Name] {
			t.Errorf("%s belongs to a workspace but TestCrossTenant never reads it as another tenant: add it to reads", tb.Name)
		}
		if !written[tb.Name] {
			t.Errorf("%s belongs to a workspace but TestCrossTenant never writes it as another tenant: add it to writes", tb.Name)
		}
	}
	for _, tables := range []map[string]bool{read, written} {
		for tb := range tables {
			if !owned[tb] {
				t.Errorf("TestCrossTenant has a row for %s, which is not a workspace's (no workspace_id column)", tb)
			}
		}
	}
}

// TestInvitationsManagersOnly: inside one workspace, invitations are the
// owners' and admins' business; developers and viewers neither see nor
// change them, nor invite (which would mail strangers in its name).
func TestInvitationsManagersOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		c := s.Ent
		a, owner := seed(t, c, "gamma")
		for _, role := range []viewer.Role{viewer.RoleDeveloper, viewer.RoleViewer} {
			t.Run(string(role), func(t *testing.T) {
				as := viewer.NewContext(context.Background(), &viewer.Viewer{UserID: "usr_x", Roles: map[string]viewer.Role{a.ws: role}})
				if n := c.Invitation.Query().CountX(as); n != 0 {
					t.Fatalf("sees %d invitations", n)
				}
				if _, err := c.Invitation.Get(as, a.invitation); !ent.IsNotFound(err) {
					t.Fatalf("read: %v, want not found", err)
				}
				if err := c.Invitation.UpdateOneID(a.invitation).SetRevokedAt(time.Now()).Exec(as); !ent.IsNotFound(err) {
					t.Fatalf("revoke: %v, want not found", err)
				}
				err := c.Invitation.Create().SetWorkspaceID(a.ws).SetEmail("x@y.example").SetRole("VIEWER").SetTokenHash("t-" + string(role)).
					SetExpiresAt(time.Now().Add(time.Hour)).SetSentAt(time.Now()).Exec(as)
				if !errors.Is(err, privacy.Deny) {
					t.Fatalf("invite: %v, want deny", err)
				}
			})
		}
		as := viewer.NewContext(context.Background(), owner)
		if n := c.Invitation.Query().CountX(as); n != 1 {
			t.Fatalf("the owner sees %d invitations, want 1", n)
		}
	})
}

// TestChannelsPolicy: a site-wide channel (no workspace) is invisible and
// untouchable to a workspace's owner, as a missing id; a site admin reads
// and changes it, but not a workspace's channel it has no role in. Inside
// a workspace, developers and viewers read its channels and change none.
func TestChannelsPolicy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		c := s.Ent
		a, owner := seed(t, c, "delta")
		sys := viewer.SystemContext(context.Background())
		site := c.Channel.Create().SetName("site").SetBaseURL("https://site.example.com/v1").SaveX(sys)
		asOwner := viewer.NewContext(context.Background(), owner)
		if _, err := c.Channel.Get(asOwner, site.ID); !ent.IsNotFound(err) {
			t.Fatalf("owner reads a site-wide channel: %v, want not found", err)
		}
		if err := c.Channel.UpdateOneID(site.ID).SetEnabled(false).Exec(asOwner); !ent.IsNotFound(err) {
			t.Fatalf("owner changes a site-wide channel: %v, want not found", err)
		}
		if n := c.Channel.Query().CountX(asOwner); n != 1 {
			t.Fatalf("owner lists %d channels, want its own 1", n)
		}
		admin := viewer.NewContext(context.Background(), &viewer.Viewer{UserID: "usr_admin", SiteAdmin: true, Roles: map[string]viewer.Role{}})
		if err := c.Channel.UpdateOneID(site.ID).SetEnabled(false).Exec(admin); err != nil {
			t.Fatalf("site admin changes a site-wide channel: %v", err)
		}
		if _, err := c.Channel.Get(admin, a.channel); !ent.IsNotFound(err) {
			t.Fatalf("site admin reads a workspace's channel: %v, want not found", err)
		}
		if err := c.Channel.Create().SetName("site-2").SetBaseURL("https://site.example.com/v1").Exec(admin); err != nil {
			t.Fatalf("site admin creates a site-wide channel: %v", err)
		}
		for _, role := range []viewer.Role{viewer.RoleDeveloper, viewer.RoleViewer} {
			as := viewer.NewContext(context.Background(), &viewer.Viewer{UserID: "usr_x", Roles: map[string]viewer.Role{a.ws: role}})
			if _, err := c.Channel.Get(as, a.channel); err != nil {
				t.Fatalf("%s reads its workspace's channel: %v", role, err)
			}
			if err := c.Channel.UpdateOneID(a.channel).SetEnabled(false).Exec(as); !ent.IsNotFound(err) {
				t.Fatalf("%s changes a channel: %v, want not found", role, err)
			}
			if err := c.Channel.Create().SetWorkspaceID(a.ws).SetName("x").SetBaseURL("https://x.example.com").Exec(as); !errors.Is(err, privacy.Deny) {
				t.Fatalf("%s creates a channel: %v, want deny", role, err)
			}
		}
	})
}
