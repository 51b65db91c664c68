package entstore_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/oais/oais/billing/entstore"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
)

// TestClosePeriodsSaturates is the attack on billing's sum: unclaimed rows
// whose costs add past int64 (a ledger that took an upstream's 9e18
// tokens, before usage was bounded) made ClosePeriods fail on every tick,
// and with it billing for every workspace, since one transaction closes
// them all. The sum saturates instead, and the other workspace is billed.
func TestClosePeriodsSaturates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := entstore.New(s)
		huge := newWorkspace(t, s, "huge", "")
		fine := newWorkspace(t, s, "fine", "")
		mustAddUsage(t, s, huge, math.MaxInt64-1, t0.Add(-30*time.Second))
		mustAddUsage(t, s, huge, math.MaxInt64-2, t0.Add(-20*time.Second))
		mustAddUsage(t, s, fine, 42, t0.Add(-10*time.Second))
		ps, err := l.ClosePeriods(ctx, t0, interval)
		if err != nil {
			t.Fatalf("ClosePeriods = %v; one workspace's totals must not stop billing", err)
		}
		got := map[string]int64{}
		for _, p := range ps {
			got[p.WorkspaceID] = p.CostMicros
		}
		if got[huge] != math.MaxInt64 || got[fine] != 42 {
			t.Fatalf("periods = %+v; want %s saturated at the largest int64 and %s at 42", ps, huge, fine)
		}
		// The reconciliation's totals saturate the same way.
		totals, err := l.Totals(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
		if err != nil {
			t.Fatalf("Totals = %v", err)
		}
		for _, tot := range totals {
			if tot.Micros != got[tot.WorkspaceID] {
				t.Fatalf("Totals[%s] = %d, want %d", tot.WorkspaceID, tot.Micros, got[tot.WorkspaceID])
			}
		}
	})
}
