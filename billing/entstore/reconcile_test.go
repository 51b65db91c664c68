package entstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/billing/billingtest"
	"github.com/oais/oais/billing/entstore"
	"github.com/oais/oais/ent/auditevent"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/stripetest"
)

// clock is the test's time, shared by the worker and the fake Stripe.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// TestExactlyOnceAcrossTheDedupWindowOnStore runs billing's attack on the
// real store (both databases): a period whose answer was lost, then a day
// and more of outage, is counted by Stripe once, and the reconciliation on
// the database agrees with Stripe to the micro-dollar.
func TestExactlyOnceAcrossTheDedupWindowOnStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		clk := &clock{now: t0}
		fake := billingtest.NewStripe(t, clk.Now)
		proxy := stripetest.NewProxy(t, fake.URL)
		client := newStripe(t, proxy.URL, &stripetest.RecordingTransport{})
		l := entstore.New(s)
		a := newWorkspace(t, s, "a", "a@example.test")
		b := newWorkspace(t, s, "b", "b@example.test")
		w, err := billing.NewWorker(billing.WorkerConfig{
			Interval: interval, Ledger: l, Customers: l, Sender: client,
			Retry: billing.Retry{Attempts: 2}, Sleep: noSleep, Now: clk.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		mustAddUsage(t, s, a, 100, t0.Add(-30*time.Second))
		mustAddUsage(t, s, b, 300, t0.Add(-30*time.Second))
		if err := w.Tick(ctx, clk.Now()); err != nil {
			t.Fatalf("first tick: %v", err)
		}
		mustAddUsage(t, s, a, 500, t0.Add(30*time.Second)) // answer lost
		proxy.SetMode(stripetest.LoseResponse)
		if err := w.Tick(ctx, clk.Add(interval)); err == nil {
			t.Fatal("tick with lost answers succeeded")
		}
		mustAddUsage(t, s, b, 700, t0.Add(90*time.Second)) // never reaches Stripe
		proxy.SetMode(stripetest.Refuse)
		for range 24 {
			_ = w.Tick(ctx, clk.Add(time.Hour))
		}
		clk.Add(5 * time.Minute) // a little past the 24 h Stripe remembers
		proxy.SetMode(stripetest.Up)
		for range 3 {
			if err := w.Tick(ctx, clk.Add(interval)); err != nil {
				t.Fatalf("tick after the outage: %v", err)
			}
		}

		for _, ws := range []string{a, b} {
			c, err := l.Customer(ctx, ws)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fake.Total(c.StripeCustomerID), usageTotal(t, s, ws); got != want {
				t.Errorf("stripe counts %d micros for %s, the ledger has %d: %+v", got, ws, want, fake.Events())
			}
		}
		// The whole story, from both sides, by stamp.
		r, err := entstore.Reconciler(s, client).Reconcile(ctx, t0.Add(-time.Hour), clk.Now().Truncate(time.Minute).Add(time.Minute))
		if err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		if len(r.Rows) != 2 || len(r.Mismatches()) != 0 || r.LedgerTotal != 1600 || r.StripeTotal != 1600 {
			t.Fatalf("report = %+v, want two workspaces, 1600 on both sides", r)
		}
	})
}

// TestMeterErrorOnStore checks the meter-error webhook on the database: the
// report is an audit line only site admins see, the sampled period is held
// (audited in its workspace) and shows as REVIEW, and an operator's resend
// goes out under a new identifier that Stripe counts.
func TestMeterErrorOnStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		clk := &clock{now: t0}
		fake := billingtest.NewStripe(t, clk.Now)
		client := newStripe(t, fake.URL, &stripetest.RecordingTransport{})
		l := entstore.New(s)
		a := newWorkspace(t, s, "a", "a@example.test")
		w, err := billing.NewWorker(billing.WorkerConfig{Interval: interval, Ledger: l, Customers: l, Sender: client, Sleep: noSleep, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		mustAddUsage(t, s, a, 250, t0.Add(-30*time.Second))
		ps, _ := l.ClosePeriods(ctx, t0, interval)
		fake.Drop(ps[0].Identifier) // Stripe acknowledges it, then refuses it
		if err := w.Tick(ctx, clk.Now()); err != nil {
			t.Fatal(err)
		}

		// Stripe's report names the dropped event.
		report := strings.Replace(string(fixture(t, "billing.meter.error_report_triggered")),
			"oais-ws_a-20300102T030300.000000000Z", ps[0].Identifier, 1)
		rr := httptest.NewRecorder()
		entstore.Webhook(s, webhookSecret, 0, nil, nil).ServeHTTP(rr, signed(t, []byte(report), webhookSecret))
		if rr.Code != http.StatusOK {
			t.Fatalf("webhook status %d: %s", rr.Code, rr.Body)
		}
		lines, err := s.Ent.AuditEvent.Query().Where(auditevent.Action(audit.MeterError)).All(sys())
		if err != nil || len(lines) != 1 || lines[0].WorkspaceID != nil || lines[0].Details["held_periods"] != ps[0].ID {
			t.Fatalf("meter error audit lines = %+v, %v; want one of no workspace naming the held period", lines, err)
		}
		if n := auditCount(t, s.Ent, a, audit.BillingEvent); n < 2 { // customer + hold
			t.Errorf("workspace billing.event lines = %d, want the hold among them", n)
		}
		from, to := t0.Add(-time.Hour), t0.Add(time.Hour)
		r, err := entstore.Reconciler(s, client).Reconcile(ctx, from, to)
		if err != nil || len(r.Rows) != 1 || r.Rows[0].Status != billing.ReconcileReview || r.Rows[0].MeterErrors != 1 ||
			r.Rows[0].DifferenceMicros != -250 || len(r.Held) != 1 || len(r.MeterErrors) != 1 {
			t.Fatalf("report = %+v, %v; want REVIEW, one meter error, 250 missing", r, err)
		}
		// A held period is not sent by the worker.
		if err := w.Tick(ctx, clk.Add(interval)); err != nil || fake.Total(r.Rows[0].CustomerID) != 0 {
			t.Fatalf("tick sent a held period (%v)", err)
		}

		// The operator fixed the cause in Stripe and asks for a resend.
		p, err := l.Resolve(ctx, ps[0].ID, false)
		if err != nil || p.Generation != 1 || p.SentAt != nil || p.Review != "" {
			t.Fatalf("Resolve(resend) = %+v, %v", p, err)
		}
		if err := w.Tick(ctx, clk.Add(interval)); err != nil {
			t.Fatalf("tick after resolve: %v", err)
		}
		if got := fake.Total(r.Rows[0].CustomerID); got != 250 {
			t.Fatalf("stripe counts %d after the resend, want 250: %+v", got, fake.Events())
		}
		r, err = entstore.Reconciler(s, client).Reconcile(ctx, from, clk.Now().Truncate(time.Minute).Add(time.Minute))
		if err != nil || len(r.Mismatches()) != 0 || len(r.Held) != 0 {
			t.Fatalf("report after the resend = %+v, %v; want no mismatch", r, err)
		}
		// Resolving as counted marks a period sent and releases it.
		if err := l.Hold(ctx, ps[0].ID, billing.HoldUnexplained+": test"); err != nil {
			t.Fatal(err)
		}
		if p, err := l.Resolve(ctx, ps[0].ID, true); err != nil || p.SentAt == nil || p.Review != "" || p.Generation != 1 {
			t.Fatalf("Resolve(counted) = %+v, %v", p, err)
		}
	})
}
