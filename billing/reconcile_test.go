package billing_test

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/billing/billingtest"
	"github.com/oais/oais/internal/stripetest"
)

// TestReconcileFindsMissingAndExtra attacks the reconciliation report with
// the two ways Stripe can disagree with the ledger after every period was
// accepted: an event Stripe acknowledged but never counted (its
// asynchronous validation dropped it), and usage Stripe counts that the
// ledger never sent. Only Stripe's own numbers can show either.
func TestReconcileFindsMissingAndExtra(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	fake := billingtest.NewStripe(t, clk.Now)
	store := newStore(t)
	client := newStripe(t, fake.URL, &stripetest.RecordingTransport{})
	w, err := billing.NewWorker(billing.WorkerConfig{
		Interval: interval, Ledger: store, Customers: store, Sender: client, Sleep: noSleep, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	addUsage(t, store, "ws_a", 100, t0.Add(-30*time.Second))
	addUsage(t, store, "ws_b", 200, t0.Add(-30*time.Second))
	addUsage(t, store, "ws_c", 300, t0.Add(-30*time.Second))
	// ws_a's event is acknowledged but never counted.
	fake.Drop(billing.Identifier("ws_a", t0.Add(-interval)))
	if err := w.Tick(ctx, t0); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	// Something else tells Stripe about 50 more micro-dollars of ws_b.
	b, _ := store.Customer(ctx, "ws_b")
	fake.Inject(b.StripeCustomerID, 50, t0.Add(-10*time.Second))

	r, err := billing.Reconciler{Store: store, Stripe: client}.Reconcile(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	var got []string
	for _, m := range r.Mismatches() {
		got = append(got, m.WorkspaceID)
	}
	sort.Strings(got)
	if len(got) != 2 || got[0] != "ws_a" || got[1] != "ws_b" {
		t.Fatalf("mismatches in %v, want ws_a (missing) and ws_b (extra)", got)
	}

	c, _ := store.Customer(ctx, "ws_c")
	want := map[string]billing.ReconcileRow{
		"ws_a": {WorkspaceID: "ws_a", LedgerMicros: 100, StripeMicros: 0, DifferenceMicros: -100, Status: billing.ReconcileMissing},
		"ws_b": {WorkspaceID: "ws_b", CustomerID: b.StripeCustomerID, LedgerMicros: 200, StripeMicros: 250, DifferenceMicros: 50, Status: billing.ReconcileExtra},
		"ws_c": {WorkspaceID: "ws_c", CustomerID: c.StripeCustomerID, LedgerMicros: 300, StripeMicros: 300, Status: billing.ReconcileOK},
	}
	if len(r.Rows) != len(want) {
		t.Fatalf("rows = %+v, want one per workspace", r.Rows)
	}
	for _, row := range r.Rows {
		w := want[row.WorkspaceID]
		if row.WorkspaceID == "ws_a" {
			w.CustomerID = row.CustomerID
		}
		w.StripeRead, w.Periods = true, 1
		if row != w {
			t.Errorf("row %s = %+v, want %+v", row.WorkspaceID, row, w)
		}
	}
	if r.LedgerTotal != 600 || r.StripeTotal != 550 {
		t.Errorf("totals ledger %d, stripe %d; want 600 and 550", r.LedgerTotal, r.StripeTotal)
	}

	t.Run("periods still being sent are pending, not missing", func(t *testing.T) {
		addUsage(t, store, "ws_c", 40, t0.Add(10*time.Second))
		if _, err := store.ClosePeriods(ctx, t0.Add(interval), interval); err != nil {
			t.Fatal(err)
		}
		r, err := billing.Reconciler{Store: store, Stripe: client}.Reconcile(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range r.Rows {
			if row.WorkspaceID == "ws_c" && (row.Status != billing.ReconcilePending || row.DifferenceMicros != -40 || row.UnsentPeriods != 1) {
				t.Fatalf("ws_c = %+v, want PENDING by 40 in one unsent period", row)
			}
		}
	})
	t.Run("without stripe nothing is checked", func(t *testing.T) {
		r, err := billing.Reconciler{Store: store}.Reconcile(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
		if err != nil || len(r.Rows) != 3 || len(r.Mismatches()) != 0 {
			t.Fatalf("Reconcile = %+v, %v; want three unchecked rows", r, err)
		}
		for _, row := range r.Rows {
			if row.Status != billing.ReconcileUnchecked || row.StripeRead {
				t.Fatalf("row = %+v, want UNCHECKED", row)
			}
		}
	})
	t.Run("the window must be whole minutes", func(t *testing.T) {
		if _, err := (billing.Reconciler{Store: store}).Reconcile(ctx, t0.Add(time.Second), t0.Add(time.Hour)); !errors.Is(err, billing.ErrInvalid) {
			t.Fatalf("Reconcile(unaligned) = %v, want ErrInvalid", err)
		}
	})
}

func TestMonthWindow(t *testing.T) {
	now := time.Date(2031, 6, 17, 12, 0, 0, 0, time.FixedZone("x", 5*3600))
	tests := []struct {
		period   string
		from, to time.Time
		wantErr  bool
	}{
		{"", time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 7, 1, 0, 0, 0, 0, time.UTC), false},
		{"2031-12", time.Date(2031, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"2031-13", time.Time{}, time.Time{}, true},
		{"june", time.Time{}, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.period, func(t *testing.T) {
			from, to, err := billing.MonthWindow(tt.period, now)
			if (err != nil) != tt.wantErr || !from.Equal(tt.from) || !to.Equal(tt.to) {
				t.Fatalf("MonthWindow(%q) = %v, %v, %v", tt.period, from, to, err)
			}
		})
	}
}
