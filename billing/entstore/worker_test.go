package entstore_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/billing/entstore"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/stripetest"
)

func newStripe(t *testing.T, baseURL string, rec *stripetest.RecordingTransport) *billing.Stripe {
	t.Helper()
	s, err := billing.NewStripe(billing.Config{
		APIKey:     "sk_test_oais",
		APIBase:    baseURL,
		HTTPClient: &http.Client{Transport: rec, Timeout: 30 * time.Second},
	})
	if err != nil {
		t.Fatalf("NewStripe: %v", err)
	}
	return s
}

func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// TestWorkerAgainstStripeMock runs the metering worker on the real store
// against stripe-mock, through an outage, and checks that Stripe was told
// exactly the ledger's numbers, each period once.
func TestWorkerAgainstStripeMock(t *testing.T) {
	backend := stripetest.Start(t)
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		proxy := stripetest.NewProxy(t, backend)
		rec := &stripetest.RecordingTransport{}
		l := entstore.New(s)
		a := newWorkspace(t, s, "a", "a@example.test")
		b := newWorkspace(t, s, "b", "b@example.test")
		c := newWorkspace(t, s, "c", "")
		if err := l.SetCustomerID(ctx, c, "cus_c"); err != nil {
			t.Fatal(err)
		}
		w, err := billing.NewWorker(billing.WorkerConfig{
			Interval: interval, Ledger: l, Customers: l, Sender: newStripe(t, proxy.URL, rec),
			Retry: billing.Retry{Attempts: 2}, Sleep: noSleep, Now: func() time.Time { return t0.Add(time.Hour) },
		})
		if err != nil {
			t.Fatalf("NewWorker: %v", err)
		}

		steps := []struct {
			name    string
			mode    stripetest.Mode
			usage   map[string]int64
			wantErr bool
		}{
			{"backend up", stripetest.Up, map[string]int64{a: 101, b: 202, c: 303}, false},
			{"connections refused", stripetest.Refuse, map[string]int64{a: 11, c: 33}, true},
			{"answers lost after stripe acted", stripetest.LoseResponse, map[string]int64{a: 7, b: 8}, true},
			{"backend restored", stripetest.Up, map[string]int64{c: 1}, false},
			{"nothing left to send", stripetest.Up, nil, false},
		}
		for i, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				start := t0.Add(time.Duration(i) * interval)
				for ws, cost := range step.usage {
					mustAddUsage(t, s, ws, cost, start.Add(10*time.Second))
					mustAddUsage(t, s, ws, 1, start.Add(50*time.Second))
				}
				proxy.SetMode(step.mode)
				err := w.Tick(ctx, start.Add(interval+time.Second))
				if (err != nil) != step.wantErr || (err != nil && !errors.Is(err, billing.ErrRetryable)) {
					t.Fatalf("Tick error = %v, want a retryable error: %v", err, step.wantErr)
				}
			})
		}

		periods, err := l.Periods(ctx, t0.Add(-interval), t0.Add(time.Hour))
		if err != nil || len(periods) != 8 {
			t.Fatalf("Periods = %d, %v; want 8", len(periods), err)
		}
		byIdentifier := map[string]billing.Period{}
		for _, p := range periods {
			byIdentifier[p.Identifier] = p
			if p.SentAt == nil {
				t.Errorf("period %s of %s never marked sent", p.ID, p.WorkspaceID)
			}
		}
		succeeded := map[string]int{}
		sent := map[string]int64{}
		for _, ev := range rec.Filter(http.MethodPost, "/v1/billing/meter_events") {
			id := ev.Form.Get("identifier")
			p, ok := byIdentifier[id]
			if !ok {
				t.Fatalf("sent identifier %q that is no period's", id)
			}
			if got := ev.Form.Get("payload[value]"); got != strconv.FormatInt(p.CostMicros, 10) {
				t.Fatalf("identifier %s sent value %s, period has %d", id, got, p.CostMicros)
			}
			if ev.OK() {
				succeeded[id]++
				sent[p.WorkspaceID] += p.CostMicros
			}
		}
		for id := range byIdentifier {
			if succeeded[id] != 1 {
				t.Errorf("identifier %s accepted %d times, want once", id, succeeded[id])
			}
		}
		for _, ws := range []string{a, b, c} {
			if got, want := sent[ws], usageTotal(t, s, ws); got != want || want == 0 {
				t.Errorf("%s: sent %d micros, ledger has %d", ws, got, want)
			}
		}
		again := 0
		for _, n := range countForwarded(proxy) {
			if n > 1 {
				again++
			}
		}
		if again == 0 {
			t.Errorf("no identifier reached stripe-mock twice; the lost-answer step tested nothing")
		}
		for _, ws := range []string{a, b} {
			if cust, err := l.Customer(ctx, ws); err != nil || cust.StripeCustomerID == "" {
				t.Errorf("customer of %s = %+v, %v; want one recorded", ws, cust, err)
			}
		}

		// stripe-mock keeps no state: this checks the ledger's side.
		r, err := entstore.Reconciler(s, nil).Reconcile(ctx, t0.Add(-interval), t0.Add(time.Hour))
		if err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		if len(r.Rows) != 3 {
			t.Fatalf("rows = %+v, want three", r.Rows)
		}
		for _, row := range r.Rows {
			total := usageTotal(t, s, row.WorkspaceID)
			if row.LedgerMicros != total || row.UnsentPeriods != 0 || row.HeldPeriods != 0 {
				t.Errorf("reconcile %s = %+v, want %d, all sent", row.WorkspaceID, row, total)
			}
		}
	})
}

func countForwarded(p *stripetest.Proxy) map[string]int {
	n := map[string]int{}
	for _, r := range p.Forwarded() {
		if r.Path == "/v1/billing/meter_events" {
			n[r.Form.Get("identifier")]++
		}
	}
	return n
}

func TestStartWorkerLocalOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		a := newWorkspace(t, s, "a", "")
		now := time.Now().UTC()
		mustAddUsage(t, s, a, 42, now.Add(-2*time.Second))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- entstore.StartWorker(ctx, s, nil, time.Second, nil, nil) }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ps, err := entstore.New(s).UnsentPeriods(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) == 1 && ps[0].CostMicros == 42 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no period closed within 10s: %+v", ps)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("StartWorker = %v after cancel", err)
			}
		case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
			t.Fatal("StartWorker did not return within 10 s of its context ending")
		}
		if err := entstore.StartWorker(context.Background(), s, nil, time.Millisecond, nil, nil); !errors.Is(err, billing.ErrInvalid) {
			t.Fatalf("StartWorker(1ms) = %v, want ErrInvalid", err)
		}
	})
}
