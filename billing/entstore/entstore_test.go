package entstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/billing/billingtest"
	"github.com/oais/oais/billing/entstore"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/usageevent"
	"github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/usage"
	"github.com/oais/oais/internal/viewer"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const interval = time.Minute

// t0 is an interval boundary far enough ahead that no real clock matters.
var t0 = time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)

// databases opens a fresh, migrated database of each kind per call, for
// tests (like RunLedgerSuite's cases) that need an empty one each time.
var databases = []struct {
	name string
	open func(testing.TB) *store.Store
}{
	{"sqlite", storetest.SQLite},
	{"postgres", storetest.Postgres},
}

// sys is a background context with the system viewer.
func sys() context.Context { return viewer.SystemContext(context.Background()) }

// newWorkspace creates a workspace named name whose owner's address is
// email (none if empty), with its billing account, and returns its id.
func newWorkspace(t *testing.T, s *store.Store, name, email string) string {
	t.Helper()
	ctx := sys()
	ws, err := s.Ent.Workspace.Create().SetName(name).SetSlug(fmt.Sprintf("%s-%d", name, time.Now().UnixNano())).Save(ctx)
	if err != nil {
		t.Fatalf("create workspace: %v", err)
	}
	if err := s.Ent.BillingAccount.Create().SetWorkspaceID(ws.ID).Exec(ctx); err != nil {
		t.Fatalf("create billing account: %v", err)
	}
	if email != "" {
		// A later admin, to check that the owner (not the first member) is billed.
		admin, err := s.Ent.User.Create().SetEmail("admin-" + email).SetName("admin").Save(ctx)
		if err != nil {
			t.Fatalf("create user: %v", err)
		}
		u, err := s.Ent.User.Create().SetEmail(email).SetName("owner").Save(ctx)
		if err != nil {
			t.Fatalf("create user: %v", err)
		}
		for _, m := range []struct {
			user string
			role membership.Role
		}{{admin.ID, membership.RoleADMIN}, {u.ID, membership.RoleOWNER}} {
			if err := s.Ent.Membership.Create().SetWorkspaceID(ws.ID).SetUserID(m.user).SetRole(m.role).Exec(ctx); err != nil {
				t.Fatalf("create membership: %v", err)
			}
		}
	}
	return ws.ID
}

// addUsage inserts rec into usage_events as ingested at ingestedAt,
// ignoring a request id seen before (as the ledger's own insert does).
func addUsage(ctx context.Context, s *store.Store, rec usage.Record, ingestedAt time.Time) error {
	source := rec.Source
	if source == "" {
		source = usage.Source(usageevent.SourceUpstream)
	}
	endpoint := rec.Endpoint
	if endpoint == "" {
		endpoint = "/v1/chat/completions"
	}
	q := s.Ent.UsageEvent.Create()
	if rec.ErrorCode != "" {
		q.SetErrorCode(rec.ErrorCode)
	}
	return q.
		SetRequestID(rec.RequestID).
		SetWorkspaceID(rec.WorkspaceID).
		SetAPIKeyID(rec.KeyID).
		SetModel(rec.Model).
		SetEndpoint(endpoint).
		SetPromptTokens(rec.PromptTokens).
		SetCompletionTokens(rec.CompletionTokens).
		SetCostMicros(rec.CostMicros).
		SetStatus(rec.Status).
		SetSource(usageevent.Source(source)).
		SetOccurredAt(rec.Time.UTC()).
		SetIngestedAt(ingestedAt.UTC()).
		OnConflict().DoNothing(). // any unique index: on PostgreSQL request ids are unique per (request_id, occurred_at)
		Exec(viewer.SystemContext(ctx))
}

// mustAddUsage ingests one request of cost micros for ws at at.
func mustAddUsage(t *testing.T, s *store.Store, ws string, cost int64, at time.Time) {
	t.Helper()
	rec := usage.Record{
		RequestID: fmt.Sprintf("req-%s-%d-%d", ws, at.UnixNano(), cost), WorkspaceID: ws, KeyID: "key_" + ws,
		Model: "mock-chat", PromptTokens: 10, CompletionTokens: 5, CostMicros: cost, Status: 200, Time: at,
	}
	if err := addUsage(context.Background(), s, rec, at); err != nil {
		t.Fatalf("addUsage: %v", err)
	}
}

// usageTotal is the sum of every usage row of ws, billed or not.
func usageTotal(t *testing.T, s *store.Store, ws string) int64 {
	t.Helper()
	rows, err := s.Ent.UsageEvent.Query().Where(usageevent.WorkspaceID(ws)).All(sys())
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, r := range rows {
		sum += r.CostMicros
	}
	return sum
}

func TestLedgerSuite(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			billingtest.RunLedgerSuite(t, func(t *testing.T) billingtest.LedgerFixture {
				t.Helper()
				s := db.open(t)
				st := entstore.New(s)
				f := billingtest.LedgerFixture{Ledger: st, Store: st}
				f.AddUsage = func(ctx context.Context, rec usage.Record, at time.Time) error { return addUsage(ctx, s, rec, at) }
				for _, name := range []string{"a", "b", "c"} {
					f.Workspaces = append(f.Workspaces, newWorkspace(t, s, name, ""))
				}
				return f
			})
		})
	}
}

// TestErrorEventsAreNotBilled: refused and failed requests are usage
// events of no cost. A workspace with nothing else gets no billing period,
// so no Stripe meter event; one with answers too is billed their cost
// alone. Their rows are claimed all the same, so they are never looked at
// again.
func TestErrorEventsAreNotBilled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := entstore.New(s)
		onlyErrors := newWorkspace(t, s, "refused", "")
		mixed := newWorkspace(t, s, "mixed", "")
		refusal := func(ws, id string, status int, code string) {
			t.Helper()
			rec := usage.Record{RequestID: id, WorkspaceID: ws, KeyID: "key_" + ws, Model: "gpt-4o", Status: status,
				ErrorCode: code, Source: usage.SourceNone, Time: t0.Add(-30 * time.Second)}
			if err := addUsage(ctx, s, rec, t0.Add(-30*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range []string{"model_not_allowed", "rate_limit_exceeded", usage.ErrorCodeUpstream} {
			refusal(onlyErrors, fmt.Sprint("e", i), 403+i, c)
			refusal(mixed, fmt.Sprint("m", i), 403+i, c)
		}
		mustAddUsage(t, s, mixed, 40, t0.Add(-20*time.Second))
		ps, err := l.ClosePeriods(ctx, t0, interval)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || ps[0].WorkspaceID != mixed || ps[0].CostMicros != 40 {
			t.Fatalf("periods = %+v, want one of %s for 40 µ$ (errors cost nothing and make no period)", ps, mixed)
		}
		if n, err := s.Ent.UsageEvent.Query().Where(usageevent.WorkspaceID(onlyErrors), usageevent.BillingPeriodIDIsNil()).Count(sys()); err != nil || n != 0 {
			t.Fatalf("%d error rows left unclaimed (%v), want 0", n, err)
		}
		if ps, err := l.ClosePeriods(ctx, t0.Add(interval), interval); err != nil || len(ps) != 0 {
			t.Fatalf("next interval: %+v, %v; want nothing", ps, err)
		}
	})
}

func TestLedgerCrossTenant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := entstore.New(s)
		a := newWorkspace(t, s, "a", "")
		b := newWorkspace(t, s, "b", "")
		mustAddUsage(t, s, a, 10, t0.Add(-30*time.Second))
		mustAddUsage(t, s, b, 1000, t0.Add(-20*time.Second))
		mustAddUsage(t, s, a, 5, t0.Add(-10*time.Second))
		ps, err := l.ClosePeriods(ctx, t0, interval)
		if err != nil || len(ps) != 2 {
			t.Fatalf("ClosePeriods = %+v, %v; want two periods", ps, err)
		}
		byWS := map[string]billing.Period{}
		for _, p := range ps {
			byWS[p.WorkspaceID] = p
		}
		if byWS[a].CostMicros != 15 || byWS[b].CostMicros != 1000 || byWS[a].Identifier == byWS[b].Identifier {
			t.Fatalf("periods = %+v, want %s:15 and %s:1000 under different identifiers", ps, a, b)
		}
		totals, err := l.Totals(ctx, t0.Add(-interval), t0)
		if err != nil || len(totals) != 2 {
			t.Fatalf("Totals = %+v, %v; want one row per workspace", totals, err)
		}
		for _, tt := range totals {
			if want := map[string]int64{a: 15, b: 1000}[tt.WorkspaceID]; tt.Micros != want || tt.Periods != 1 {
				t.Fatalf("Totals = %+v, want %s:15 and %s:1000 apart", totals, a, b)
			}
		}
		// Stamped looks at one workspace: B's period in the same minute is
		// not A's.
		if got, err := l.Stamped(ctx, a, t0.Add(-interval), t0); err != nil || len(got) != 1 || got[0].ID != byWS[a].ID {
			t.Fatalf("Stamped(A) = %+v, %v; want A's period only", got, err)
		}
		// Holding B's period leaves A's to be sent.
		if err := l.Hold(ctx, byWS[b].ID, "unexplained: test"); err != nil {
			t.Fatal(err)
		}
		if unsent, _ := l.UnsentPeriods(ctx); len(unsent) != 1 || unsent[0].ID != byWS[a].ID {
			t.Fatalf("UnsentPeriods = %+v, want A's only", unsent)
		}
		// The hold is audited in B, not in A.
		if n := auditCount(t, s.Ent, b, audit.BillingEvent); n != 1 {
			t.Errorf("B's billing.event lines = %d, want 1 (the hold)", n)
		}
		if n := auditCount(t, s.Ent, a, audit.BillingEvent); n != 0 {
			t.Errorf("A's billing.event lines = %d, want 0", n)
		}
		// Every row a period claimed is its own workspace's.
		for ws, p := range byWS {
			foreign, err := s.Ent.UsageEvent.Query().
				Where(usageevent.BillingPeriodID(p.ID), usageevent.WorkspaceIDNEQ(ws)).Count(sys())
			if err != nil || foreign != 0 {
				t.Fatalf("period of %s claimed %d foreign rows (%v)", ws, foreign, err)
			}
		}
		// A member of A sees A's usage only; the privacy rules still hold
		// on rows the ledger stamped.
		member := viewer.NewContext(ctx, &viewer.Viewer{UserID: "usr_x", Roles: map[string]viewer.Role{a: viewer.RoleViewer}})
		if n, err := s.Ent.UsageEvent.Query().Where(usageevent.BillingPeriodID(byWS[b].ID)).Count(member); err != nil || n != 0 {
			t.Fatalf("member of A sees %d of B's billed rows (%v)", n, err)
		}
		for name, err := range map[string]error{
			"mark unknown period": l.MarkSent(ctx, "per_nope", t0),
			"unknown customer":    func() error { _, err := l.Customer(ctx, "ws_nope"); return err }(),
			"unknown workspace standing": l.UpdateStanding(ctx, "ws_nope", func(st billing.Standing) billing.Standing {
				return st
			}),
			"set customer of unknown workspace": l.SetCustomerID(ctx, "ws_nope", "cus_x"),
			"workspace of unknown customer":     func() error { _, err := l.WorkspaceByCustomer(ctx, "cus_nope"); return err }(),
			"attempt of unknown period":         func() error { _, err := l.BeginAttempt(ctx, "per_nope", 0, t0, t0); return err }(),
			"reissue of unknown period":         func() error { _, _, err := l.Reissue(ctx, "per_nope", 0); return err }(),
			"hold of unknown period":            l.Hold(ctx, "per_nope", "x"),
			"resolve unknown period":            func() error { _, err := l.Resolve(ctx, "per_nope", true); return err }(),
		} {
			if !errors.Is(err, billing.ErrNotFound) {
				t.Errorf("%s: err = %v, want ErrNotFound", name, err)
			}
		}
	})
}

func TestCustomers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := entstore.New(s)
		a := newWorkspace(t, s, "alpha", "owner-a@example.test")
		b := newWorkspace(t, s, "beta", "owner-b@example.test")
		c, err := l.Customer(ctx, a)
		if err != nil || c != (billing.Customer{WorkspaceID: a, Name: "alpha", Email: "owner-a@example.test"}) {
			t.Fatalf("Customer(A) = %+v, %v", c, err)
		}
		if err := l.SetCustomerID(ctx, a, "cus_a"); err != nil {
			t.Fatalf("SetCustomerID: %v", err)
		}
		if c, _ := l.Customer(ctx, a); c.StripeCustomerID != "cus_a" {
			t.Fatalf("customer id = %q, want cus_a", c.StripeCustomerID)
		}
		if c, _ := l.Customer(ctx, b); c.StripeCustomerID != "" || c.Email != "owner-b@example.test" {
			t.Fatalf("Customer(B) = %+v; A's customer leaked", c)
		}
		if ws, err := l.WorkspaceByCustomer(ctx, "cus_a"); err != nil || ws != a {
			t.Fatalf("WorkspaceByCustomer = %q, %v; want %s", ws, err, a)
		}
		// A workspace made without a billing account gets one on demand.
		bare, err := s.Ent.Workspace.Create().SetName("bare").SetSlug("bare-1").Save(sys())
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SetCustomerID(ctx, bare.ID, "cus_bare"); err != nil {
			t.Fatalf("SetCustomerID(no account): %v", err)
		}
		if c, err := l.Customer(ctx, bare.ID); err != nil || c.StripeCustomerID != "cus_bare" || c.Email != "" {
			t.Fatalf("Customer(bare) = %+v, %v", c, err)
		}
	})
}

func TestStandingRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := entstore.New(s)
		a := newWorkspace(t, s, "a", "")
		b := newWorkspace(t, s, "b", "")
		steps := []struct {
			name       string
			set        billing.Standing
			wantStatus workspace.Status
			wantReason string
		}{
			{"past due within grace keeps serving", billing.Standing{Status: billing.StatusPastDue, Reason: billing.ReasonPaymentFailed,
				SuspendAt: t0.Add(72 * time.Hour), EventTime: t0}, workspace.StatusACTIVE, ""},
			{"past due after its deadline is suspended", billing.Standing{Status: billing.StatusPastDue, Reason: billing.ReasonPaymentFailed,
				SuspendAt: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), EventTime: t0.Add(time.Second)}, workspace.StatusSUSPENDED, billing.ReasonPaymentFailed},
			{"cancelled", billing.Standing{Status: billing.StatusSuspended, Reason: billing.ReasonSubscriptionDeleted, EventTime: t0.Add(2 * time.Second)},
				workspace.StatusSUSPENDED, billing.ReasonSubscriptionDeleted},
			{"active", billing.Standing{Status: billing.StatusActive, EventTime: t0.Add(3 * time.Second)}, workspace.StatusACTIVE, ""},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				if err := l.UpdateStanding(ctx, a, func(billing.Standing) billing.Standing { return step.set }); err != nil {
					t.Fatalf("UpdateStanding: %v", err)
				}
				var got billing.Standing
				if err := l.UpdateStanding(ctx, a, func(cur billing.Standing) billing.Standing { got = cur; return cur }); err != nil {
					t.Fatalf("UpdateStanding (read): %v", err)
				}
				if got.Status != step.set.Status || got.Reason != step.set.Reason || !got.SuspendAt.Equal(step.set.SuspendAt) || !got.EventTime.Equal(step.set.EventTime) {
					t.Fatalf("read back %+v, want %+v", got, step.set)
				}
				ws, err := s.Ent.Workspace.Get(sys(), a)
				if err != nil || ws.Status != step.wantStatus || ws.SuspendedReason != step.wantReason {
					t.Fatalf("workspace = %v %q (%v), want %v %q", ws.Status, ws.SuspendedReason, err, step.wantStatus, step.wantReason)
				}
				if other, _ := s.Ent.Workspace.Get(sys(), b); other.Status != workspace.StatusACTIVE {
					t.Fatalf("workspace B is %v; A's standing leaked", other.Status)
				}
			})
		}
	})
}

func TestSuspendOverdue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := entstore.New(s)
		due := newWorkspace(t, s, "due", "")
		later := newWorkspace(t, s, "later", "")
		for ws, at := range map[string]time.Time{due: t0.Add(time.Hour), later: t0.Add(48 * time.Hour)} {
			st := billing.Standing{Status: billing.StatusPastDue, Reason: billing.ReasonPaymentFailed, SuspendAt: at, EventTime: t0}
			if err := l.UpdateStanding(ctx, ws, func(billing.Standing) billing.Standing { return st }); err != nil {
				t.Fatal(err)
			}
		}
		for i, want := range []int{1, 0} { // the second sweep finds nothing new
			n, err := l.SuspendOverdue(ctx, t0.Add(2*time.Hour))
			if err != nil || n != want {
				t.Fatalf("sweep %d: SuspendOverdue = %d, %v; want %d", i, n, err, want)
			}
		}
		for ws, want := range map[string]workspace.Status{due: workspace.StatusSUSPENDED, later: workspace.StatusACTIVE} {
			if got, _ := s.Ent.Workspace.Get(sys(), ws); got.Status != want {
				t.Errorf("%s: status %v, want %v", ws, got.Status, want)
			}
		}
	})
}

func TestOperatorSuspensionIsNotLifted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := entstore.New(s)
		a := newWorkspace(t, s, "a", "")
		if err := s.Ent.Workspace.UpdateOneID(a).SetStatus(workspace.StatusSUSPENDED).SetSuspendedReason("abuse").Exec(sys()); err != nil {
			t.Fatal(err)
		}
		if err := l.UpdateStanding(ctx, a, func(billing.Standing) billing.Standing {
			return billing.Standing{Status: billing.StatusActive, EventTime: t0}
		}); err != nil {
			t.Fatal(err)
		}
		if ws, _ := s.Ent.Workspace.Get(sys(), a); ws.Status != workspace.StatusSUSPENDED || ws.SuspendedReason != "abuse" {
			t.Fatalf("workspace = %v %q; billing lifted an operator's suspension", ws.Status, ws.SuspendedReason)
		}
	})
}

// auditCount counts a workspace's audit lines with action.
func auditCount(t *testing.T, c *ent.Client, ws, action string) int {
	t.Helper()
	lines, err := c.AuditEvent.Query().All(sys())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range lines {
		if l.WorkspaceID != nil && *l.WorkspaceID == ws && l.Action == action {
			n++
		}
	}
	return n
}
