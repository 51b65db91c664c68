package billing_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/billing/billingtest"
	"github.com/oais/oais/internal/stripetest"
)

// clock is a settable test clock shared by the worker and the fake Stripe.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// oaisEvents returns the events of customer that the fake counted and oais
// sent (not the ones a test injected).
func oaisEvents(fake *billingtest.Stripe, customer string) []billingtest.StripeEvent {
	var out []billingtest.StripeEvent
	for _, e := range fake.Events() {
		if e.Counted && e.CustomerID == customer && !strings.HasPrefix(e.Identifier, "injected-") {
			out = append(out, e)
		}
	}
	return out
}

// TestResendAfterDedupWindowDoesNotDoubleBill attacks exactly-once where
// Stripe's promise ends: an identifier is deduplicated for 24 hours, not
// forever. A period whose answer was lost, and which could not be sent again
// for longer than that (Stripe unreachable, the control plane down), must not
// be counted twice when it finally goes out; one that never reached Stripe
// must still be counted once; and one whose fate Stripe's numbers cannot
// tell must not be sent at all.
func TestResendAfterDedupWindowDoesNotDoubleBill(t *testing.T) {
	tests := []struct {
		name string
		// first is how the proxy treats the attempt that starts the outage.
		first stripetest.Mode
		// inject adds a stranger's event to the customer in the period's
		// minute, so Stripe's total explains neither outcome.
		inject bool
		// wantCounted is how many of oais's events for the period Stripe
		// counts in the end.
		wantCounted int
		// wantGeneration is the period's generation in the end: 1 when it
		// had to go out under a new identifier.
		wantGeneration int
		wantHeld       bool
	}{
		{name: "answer lost after stripe counted it", first: stripetest.LoseResponse, wantCounted: 1},
		{name: "request never reached stripe", first: stripetest.Refuse, wantCounted: 1, wantGeneration: 1},
		{name: "stripe's numbers cannot tell", first: stripetest.LoseResponse, inject: true, wantCounted: 1, wantHeld: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{now: t0}
			fake := billingtest.NewStripe(t, clk.Now)
			proxy := stripetest.NewProxy(t, fake.URL)
			store := newStore(t)
			w, err := billing.NewWorker(billing.WorkerConfig{
				Interval: interval, Ledger: store, Customers: store, Sender: newStripe(t, proxy.URL, &stripetest.RecordingTransport{}),
				Retry: billing.Retry{Attempts: 2}, Sleep: noSleep, Now: clk.Now,
			})
			if err != nil {
				t.Fatal(err)
			}
			// A first period goes through normally: the meter and the
			// customer exist before the attack.
			addUsage(t, store, "ws_a", 100, t0.Add(-30*time.Second))
			if err := w.Tick(ctx, t0); err != nil {
				t.Fatalf("first tick: %v", err)
			}
			c, _ := store.Customer(ctx, "ws_a")
			cus := c.StripeCustomerID

			// The attacked period: its send either reaches Stripe with the
			// answer lost, or never reaches it.
			addUsage(t, store, "ws_a", 500, t0.Add(30*time.Second))
			clk.Set(t0.Add(interval))
			proxy.SetMode(tt.first)
			if err := w.Tick(ctx, clk.Now()); err == nil {
				t.Fatal("tick during the failure succeeded")
			}
			if tt.inject {
				fake.Inject(cus, 7, t0.Add(40*time.Second))
			}
			// Then Stripe stays unreachable a little longer than it
			// remembers identifiers; the worker keeps ticking.
			proxy.SetMode(stripetest.Refuse)
			attempt := t0.Add(interval)
			for h := 1; h <= 24; h++ {
				clk.Set(attempt.Add(time.Duration(h) * time.Hour))
				_ = w.Tick(ctx, clk.Now())
			}
			proxy.SetMode(stripetest.Up)
			clk.Set(attempt.Add(billingtest.DedupWindow + 5*time.Minute))
			for range 3 {
				_ = w.Tick(ctx, clk.Now())
				clk.Set(clk.Now().Add(interval))
			}

			var counted int
			for _, e := range oaisEvents(fake, cus) {
				if e.Value == 500 {
					counted++
				}
			}
			if counted != tt.wantCounted {
				t.Fatalf("stripe counted the period %d times, want %d; events: %+v", counted, tt.wantCounted, fake.Events())
			}
			var sum int64
			for _, e := range oaisEvents(fake, cus) {
				sum += e.Value
			}
			if want := store.UsageTotal("ws_a"); sum != want && !tt.inject {
				t.Fatalf("stripe counted %d micros of oais events, the ledger has %d", sum, want)
			}
			ps, _ := store.Periods(ctx, t0, t0.Add(interval))
			if len(ps) != 1 {
				t.Fatalf("periods = %+v", ps)
			}
			p := ps[0]
			if p.Generation != tt.wantGeneration || (p.Review != "") != tt.wantHeld || (p.SentAt != nil) == tt.wantHeld {
				t.Fatalf("period = %+v, want generation %d, held %v, sent %v", p, tt.wantGeneration, tt.wantHeld, !tt.wantHeld)
			}
			for _, e := range oaisEvents(fake, cus) {
				if e.Value == 500 && e.Identifier != p.EventIdentifier() && !tt.wantHeld {
					t.Fatalf("stripe counted %s, the period's identifier is %s", e.Identifier, p.EventIdentifier())
				}
			}
			if tt.wantGeneration > 0 && !p.EventTime.After(t0.Add(24*time.Hour)) {
				t.Fatalf("reissued event stamped %v: a day late, it belongs to the cycle open when it is sent", p.EventTime)
			}
		})
	}
}
