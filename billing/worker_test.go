package billing_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/billing/billingtest"
	"github.com/oais/oais/internal/stripetest"
	"github.com/oais/oais/internal/usage"
)

const interval = time.Minute

// t0 is an interval boundary far enough ahead that no real clock matters.
var t0 = time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)

// fixture is a store with three workspaces, one of which already has a
// Stripe customer.
func newStore(t *testing.T) *billingtest.Store {
	t.Helper()
	s := &billingtest.Store{}
	s.AddCustomer(billing.Customer{WorkspaceID: "ws_a", Name: "A", Email: "a@example.test"})
	s.AddCustomer(billing.Customer{WorkspaceID: "ws_b", Name: "B", Email: "b@example.test"})
	s.AddCustomer(billing.Customer{WorkspaceID: "ws_c", Name: "C", StripeCustomerID: "cus_c"})
	return s
}

// addUsage ingests one request of cost micros for ws at at.
func addUsage(t *testing.T, s *billingtest.Store, ws string, cost int64, at time.Time) {
	t.Helper()
	rec := usage.Record{
		RequestID: fmt.Sprintf("req-%s-%d-%d", ws, at.UnixNano(), cost), WorkspaceID: ws, KeyID: "key_" + ws,
		Model: "mock-chat", PromptTokens: 10, CompletionTokens: 5, CostMicros: cost, Status: 200, Time: at,
	}
	if err := s.AddUsage(context.Background(), rec, at); err != nil {
		t.Fatalf("AddUsage: %v", err)
	}
}

// sleeps records the worker's backoff delays instead of waiting them out.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func TestWorkerSendsEveryPeriodOnceThroughOutage(t *testing.T) {
	ctx := context.Background()
	proxy := stripetest.NewProxy(t, stripetest.Start(t))
	rec := &stripetest.RecordingTransport{}
	store := newStore(t)
	slept := &sleeps{}
	retry := billing.Retry{Attempts: 3, Base: 100 * time.Millisecond, Max: time.Second}
	w, err := billing.NewWorker(billing.WorkerConfig{
		Interval: interval, Ledger: store, Customers: store, Sender: newStripe(t, proxy.URL, rec),
		Retry: retry, Sleep: slept.sleep, Now: func() time.Time { return t0.Add(time.Hour) },
	})
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}

	steps := []struct {
		name    string
		mode    stripetest.Mode
		usage   map[string]int64 // cost ingested during the interval
		wantErr bool
	}{
		{"backend up", stripetest.Up, map[string]int64{"ws_a": 101, "ws_b": 202, "ws_c": 303}, false},
		{"connections refused", stripetest.Refuse, map[string]int64{"ws_a": 11, "ws_c": 33}, true},
		{"answers lost after stripe acted", stripetest.LoseResponse, map[string]int64{"ws_a": 7, "ws_b": 8}, true},
		{"bad gateway", stripetest.BadGateway, map[string]int64{"ws_b": 5}, true},
		{"backend restored", stripetest.Up, map[string]int64{"ws_c": 1}, false},
		{"nothing left to send", stripetest.Up, nil, false},
	}
	for i, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			start := t0.Add(time.Duration(i) * interval)
			for ws, cost := range step.usage {
				addUsage(t, store, ws, cost, start.Add(10*time.Second))
				addUsage(t, store, ws, 1, start.Add(50*time.Second)) // two rows per period
			}
			proxy.SetMode(step.mode)
			err := w.Tick(ctx, start.Add(interval+time.Second))
			if (err != nil) != step.wantErr {
				t.Fatalf("Tick error = %v, want error: %v", err, step.wantErr)
			}
			if err != nil && !errors.Is(err, billing.ErrRetryable) {
				t.Fatalf("Tick error = %v, want ErrRetryable", err)
			}
		})
	}

	periods, err := store.Periods(ctx, t0.Add(-interval), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(periods) != 9 {
		t.Fatalf("%d periods, want 9", len(periods))
	}
	byIdentifier := map[string]billing.Period{}
	for _, p := range periods {
		byIdentifier[p.Identifier] = p
	}

	events := rec.Filter(http.MethodPost, "/v1/billing/meter_events")
	succeeded := map[string]int{}
	sentPerWorkspace := map[string]int64{}
	for _, ev := range events {
		id := ev.Form.Get("identifier")
		p, ok := byIdentifier[id]
		if !ok {
			t.Fatalf("sent identifier %q that is no period's", id)
		}
		// Every attempt, failed or not, carries the period's numbers.
		if got := ev.Form.Get("payload[value]"); got != strconv.FormatInt(p.CostMicros, 10) {
			t.Fatalf("identifier %s sent value %s, period has %d", id, got, p.CostMicros)
		}
		if ev.OK() {
			succeeded[id]++
			sentPerWorkspace[p.WorkspaceID] += p.CostMicros
		}
	}
	t.Run("each identifier succeeded exactly once", func(t *testing.T) {
		for id := range byIdentifier {
			if succeeded[id] != 1 {
				t.Errorf("identifier %s succeeded %d times", id, succeeded[id])
			}
		}
	})
	t.Run("sent totals equal ledger totals", func(t *testing.T) {
		for _, ws := range []string{"ws_a", "ws_b", "ws_c"} {
			if got, want := sentPerWorkspace[ws], store.UsageTotal(ws); got != want {
				t.Errorf("%s: sent %d micros, ledger has %d", ws, got, want)
			}
		}
	})
	t.Run("lost answers were re-sent under the same identifier", func(t *testing.T) {
		reached := map[string]int{}
		for _, r := range proxy.Forwarded() {
			if r.Path == "/v1/billing/meter_events" {
				reached[r.Form.Get("identifier")]++
			}
		}
		var again int
		for _, n := range reached {
			if n > 1 {
				again++
			}
		}
		if again == 0 {
			t.Fatalf("no identifier reached stripe-mock twice; the lost-answer step tested nothing")
		}
	})
	t.Run("customers created once per workspace", func(t *testing.T) {
		// ws_c had one; ws_a and ws_b get one each, even across the outage.
		created := 0
		for _, r := range rec.Filter(http.MethodPost, "/v1/customers") {
			if r.OK() {
				created++
			}
		}
		if created != 2 {
			t.Fatalf("customers created = %d, want 2", created)
		}
	})
	t.Run("backoff stays within bounds", func(t *testing.T) {
		if len(slept.d) == 0 {
			t.Fatal("worker never backed off")
		}
		for _, d := range slept.d {
			if d < retry.Base/2 || d > retry.Max {
				t.Errorf("backoff %v outside [%v, %v]", d, retry.Base/2, retry.Max)
			}
		}
	})
	t.Run("ledger totals balance", func(t *testing.T) {
		// stripe-mock keeps no state, so this reads the ledger's side only;
		// TestReconcileFindsMissingAndExtra compares with Stripe's numbers.
		r, err := billing.Reconciler{Store: store}.Reconcile(ctx, t0.Add(-interval), t0.Add(time.Hour))
		if err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		var ledger int64
		for _, row := range r.Rows {
			ledger += store.UsageTotal(row.WorkspaceID)
			if row.LedgerMicros != store.UsageTotal(row.WorkspaceID) || row.UnsentPeriods != 0 || row.HeldPeriods != 0 {
				t.Errorf("%s: %+v, want %d, all sent", row.WorkspaceID, row, store.UsageTotal(row.WorkspaceID))
			}
		}
		if len(r.Rows) != 3 || r.LedgerTotal != ledger {
			t.Fatalf("rows %+v, ledger total %d; want three workspaces summing to %d", r.Rows, r.LedgerTotal, ledger)
		}
	})
}

func TestWorkerLocalLedgerOnly(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	w, err := billing.NewWorker(billing.WorkerConfig{Ledger: store})
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	addUsage(t, store, "ws_a", 40, t0.Add(-time.Second))
	if err := w.Tick(ctx, t0.Add(time.Second)); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	unsent, _ := store.UnsentPeriods(ctx)
	if len(unsent) != 1 || unsent[0].CostMicros != 40 || !unsent[0].IntervalStart.Equal(t0.Add(-billing.DefaultInterval)) {
		t.Fatalf("unsent = %+v, want one closed, unsent period of 40", unsent)
	}
	r, err := billing.Reconciler{Store: store}.Reconcile(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil || r.LedgerTotal != 40 || len(r.Rows) != 1 || r.Rows[0].UnsentPeriods != 1 || r.Rows[0].Status != billing.ReconcileUnchecked {
		t.Fatalf("Reconcile = %+v, %v; want 40 in the ledger, unsent, unchecked", r, err)
	}
}

// fakeSender fails permanently for one customer and records the rest.
type fakeSender struct {
	mu        sync.Mutex
	rejects   string // customer id answered with ErrPermanent
	sent      []billing.MeterEvent
	customers int
}

func (f *fakeSender) EnsureMeter(context.Context) (string, string, error) {
	return "mtr_1", billing.MeterEventName, nil
}

func (f *fakeSender) EnsureCustomer(_ context.Context, ws, _, _ string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.customers++
	return "cus_" + ws, nil
}

func (f *fakeSender) MeterUsage(context.Context, string, time.Time, time.Time) (int64, error) {
	return 0, errors.New("fakeSender reads no usage")
}

func (f *fakeSender) SendMeterEvent(_ context.Context, ev billing.MeterEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ev.CustomerID == f.rejects {
		return fmt.Errorf("%w: no such customer", billing.ErrPermanent)
	}
	f.sent = append(f.sent, ev)
	return nil
}

func TestWorkerPermanentErrorSkipsOnlyThatPeriod(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	sender := &fakeSender{rejects: "cus_c"}
	w, err := billing.NewWorker(billing.WorkerConfig{Ledger: store, Customers: store, Sender: sender, Sleep: (&sleeps{}).sleep})
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	for _, ws := range []string{"ws_a", "ws_b", "ws_c"} {
		addUsage(t, store, ws, 10, t0.Add(-time.Second))
	}
	if err := w.Tick(ctx, t0); !errors.Is(err, billing.ErrPermanent) {
		t.Fatalf("Tick error = %v, want ErrPermanent", err)
	}
	unsent, _ := store.UnsentPeriods(ctx)
	if len(sender.sent) != 2 || len(unsent) != 1 || unsent[0].WorkspaceID != "ws_c" {
		t.Fatalf("sent %+v, unsent %+v; want a and b sent, c unsent", sender.sent, unsent)
	}
	for _, ev := range sender.sent {
		// Stamped inside the interval, so Stripe bills it in the right period.
		if !ev.Timestamp.Equal(t0.Add(-time.Second)) {
			t.Fatalf("event timestamp %v, want %v", ev.Timestamp, t0.Add(-time.Second))
		}
	}
	// A second tick neither re-creates customers nor re-sends sent periods.
	_ = w.Tick(ctx, t0.Add(interval))
	if sender.customers != 2 || len(sender.sent) != 2 {
		t.Fatalf("after second tick: %d customers, %d sent; want 2 and 2", sender.customers, len(sender.sent))
	}
}

func TestNewWorkerValidates(t *testing.T) {
	store := newStore(t)
	tests := []struct {
		name string
		cfg  billing.WorkerConfig
	}{
		{"no ledger", billing.WorkerConfig{}},
		{"interval too short", billing.WorkerConfig{Ledger: store, Interval: time.Millisecond}},
		{"sender without customers", billing.WorkerConfig{Ledger: store, Sender: &fakeSender{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := billing.NewWorker(tt.cfg); !errors.Is(err, billing.ErrInvalid) {
				t.Fatalf("NewWorker error = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestWorkerRunStopsOnCancel(t *testing.T) {
	store := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := billing.NewWorker(billing.WorkerConfig{Ledger: store, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("Run did not return within 10 s of its context ending")
	}
}

// blockingSender holds every meter event until released, telling entered
// when one arrives: a worker caught mid-send.
type blockingSender struct {
	fakeSender
	entered chan string
	release chan struct{}
}

func (b *blockingSender) SendMeterEvent(ctx context.Context, ev billing.MeterEvent) error {
	b.entered <- ev.Identifier
	<-b.release
	return b.fakeSender.SendMeterEvent(ctx, ev)
}

// TestTwoWorkersSendEachPeriodOnce: every control-plane replica runs a
// worker, and they tick at the same interval boundaries. Worker A is caught
// sending one period when worker B ticks: B must leave that period alone
// (and send the other), and A must not send what B sent. A claim whose
// worker died without sending is taken over one tick later. Before send
// claims, both workers sent every period they found unsent (13 of 31 twice
// in TestFourReplicas).
func TestTwoWorkersSendEachPeriodOnce(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	slow := &blockingSender{entered: make(chan string, 1), release: make(chan struct{})}
	fast := &fakeSender{}
	newWorker := func(s billing.Sender) *billing.Worker {
		w, err := billing.NewWorker(billing.WorkerConfig{Ledger: store, Customers: store, Sender: s, Sleep: (&sleeps{}).sleep})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	a, b := newWorker(slow), newWorker(fast)
	addUsage(t, store, "ws_a", 10, t0.Add(-time.Second))
	addUsage(t, store, "ws_b", 20, t0.Add(-time.Second))
	done := make(chan error, 1)
	go func() { done <- a.Tick(ctx, t0) }()
	held := <-slow.entered // A is sending its first period
	if err := b.Tick(ctx, t0); err != nil {
		t.Fatalf("B's tick: %v", err)
	}
	close(slow.release)
	if err := <-done; err != nil {
		t.Fatalf("A's tick: %v", err)
	}
	sends := map[string]int{}
	for _, ev := range append(slow.sent, fast.sent...) {
		sends[ev.Identifier]++
	}
	if len(sends) != 2 || sends[held] != 1 || len(slow.sent)+len(fast.sent) != 2 {
		t.Fatalf("A sent %d, B sent %d: %v; want each of the 2 periods once, %s by A only", len(slow.sent), len(fast.sent), sends, held)
	}

	// A worker that claimed a period and died before sending it.
	addUsage(t, store, "ws_c", 30, t0.Add(interval-time.Second))
	closed, err := store.ClosePeriods(ctx, t0.Add(interval), interval)
	if err != nil || len(closed) != 1 {
		t.Fatalf("ClosePeriods = %+v, %v", closed, err)
	}
	if won, err := store.ClaimSend(ctx, closed[0].ID, 0); !won || err != nil {
		t.Fatalf("the dead worker's claim: %v, %v", won, err)
	}
	before := len(fast.sent)
	if err := b.Tick(ctx, t0.Add(interval)); err != nil || len(fast.sent) != before {
		t.Fatalf("B sent %d at the tick the claim appeared (%v); want it left to its claimer for a tick", len(fast.sent)-before, err)
	}
	if err := b.Tick(ctx, t0.Add(2*interval)); err != nil || len(fast.sent) != before+1 || fast.sent[before].Identifier != closed[0].Identifier {
		t.Fatalf("B's next tick sent %+v (%v); want the dead claim's period taken over", fast.sent[before:], err)
	}
}
