package billingtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/internal/usage"
)

// LedgerFixture is a fresh, empty ledger for one RunLedgerSuite case.
type LedgerFixture struct {
	Ledger billing.Ledger
	// AddUsage ingests rec as if the ledger received it at ingestedAt.
	AddUsage func(ctx context.Context, rec usage.Record, ingestedAt time.Time) error
	// Workspaces are at least three existing, distinct workspace ids.
	Workspaces []string
}

// RunLedgerSuite checks that a billing.Ledger keeps the contract the worker
// relies on. newFixture is called once per case and must return an empty
// ledger.
func RunLedgerSuite(t *testing.T, newFixture func(t *testing.T) LedgerFixture) {
	const interval = time.Minute
	t0 := time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)
	ctx := context.Background()

	setup := func(t *testing.T) (LedgerFixture, func(ws string, cost int64, at time.Time)) {
		t.Helper()
		f := newFixture(t)
		if len(f.Workspaces) < 3 {
			t.Fatalf("fixture has %d workspaces, need 3", len(f.Workspaces))
		}
		n := 0
		add := func(ws string, cost int64, at time.Time) {
			t.Helper()
			n++
			rec := usage.Record{RequestID: fmt.Sprintf("req-%s-%d", t.Name(), n), WorkspaceID: ws, KeyID: "key", Model: "mock", CostMicros: cost, Time: at}
			if err := f.AddUsage(ctx, rec, at); err != nil {
				t.Fatalf("AddUsage: %v", err)
			}
		}
		return f, add
	}
	closeAt := func(t *testing.T, l billing.Ledger, before time.Time) []billing.Period {
		t.Helper()
		ps, err := l.ClosePeriods(ctx, before, interval)
		if err != nil {
			t.Fatalf("ClosePeriods(%v): %v", before, err)
		}
		return ps
	}

	t.Run("close sums per workspace before the boundary", func(t *testing.T) {
		f, add := setup(t)
		a, b := f.Workspaces[0], f.Workspaces[1]
		add(a, 100, t0.Add(-90*time.Second))
		add(a, 23, t0.Add(-time.Nanosecond))
		add(b, 7, t0.Add(-30*time.Second))
		add(a, 1000, t0) // at the boundary: next interval
		ps := closeAt(t, f.Ledger, t0)
		got := map[string]billing.Period{}
		for _, p := range ps {
			got[p.WorkspaceID] = p
		}
		if len(ps) != 2 || got[a].CostMicros != 123 || got[b].CostMicros != 7 {
			t.Fatalf("periods = %+v, want %s:123 and %s:7", ps, a, b)
		}
		for _, p := range ps {
			if !p.IntervalStart.Equal(t0.Add(-interval)) || !p.IntervalEnd.Equal(t0) || p.SentAt != nil || p.ID == "" ||
				p.Identifier != billing.Identifier(p.WorkspaceID, t0.Add(-interval)) {
				t.Fatalf("period %+v has wrong bounds, id, identifier or SentAt", p)
			}
		}
		next := closeAt(t, f.Ledger, t0.Add(interval))
		if len(next) != 1 || next[0].WorkspaceID != a || next[0].CostMicros != 1000 {
			t.Fatalf("next interval = %+v, want only %s:1000", next, a)
		}
	})

	t.Run("zero cost writes no period", func(t *testing.T) {
		f, add := setup(t)
		add(f.Workspaces[0], 0, t0.Add(-time.Second))
		if ps := closeAt(t, f.Ledger, t0); len(ps) != 0 {
			t.Fatalf("periods = %+v, want none", ps)
		}
	})

	t.Run("repeated close claims nothing twice", func(t *testing.T) {
		f, add := setup(t)
		a := f.Workspaces[0]
		add(a, 5, t0.Add(-time.Second))
		closeAt(t, f.Ledger, t0)
		// A row that arrives late, ingested with an old time, after its
		// interval was closed: it must not join the (maybe sent) period.
		add(a, 9, t0.Add(-2*time.Second))
		if ps := closeAt(t, f.Ledger, t0); len(ps) != 0 {
			t.Fatalf("second close at the same boundary = %+v, want none", ps)
		}
		ps := closeAt(t, f.Ledger, t0.Add(interval))
		if len(ps) != 1 || ps[0].CostMicros != 9 {
			t.Fatalf("late row = %+v, want one period of 9", ps)
		}
	})

	t.Run("concurrent closes claim each row once", func(t *testing.T) {
		f, add := setup(t)
		var want int64
		for i := range 30 {
			add(f.Workspaces[i%3], int64(i+1), t0.Add(-time.Duration(i+1)*time.Second))
			want += int64(i + 1)
		}
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			got int64
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A close that loses the race may fail (a serialization
				// error); the worker retries next tick. It must not
				// double-claim.
				ps, err := f.Ledger.ClosePeriods(ctx, t0, interval)
				if err != nil {
					t.Logf("concurrent ClosePeriods: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, p := range ps {
					got += p.CostMicros
				}
			}()
		}
		wg.Wait()
		if got != want {
			t.Fatalf("periods sum to %d, rows to %d", got, want)
		}
	})

	t.Run("unsent, mark sent, periods and claimed cost", func(t *testing.T) {
		f, add := setup(t)
		a, b := f.Workspaces[0], f.Workspaces[1]
		add(a, 3, t0.Add(-time.Second))
		add(a, 4, t0.Add(-time.Second))
		add(b, 5, t0.Add(interval-time.Second))
		first := closeAt(t, f.Ledger, t0)
		second := closeAt(t, f.Ledger, t0.Add(interval))
		unsent, err := f.Ledger.UnsentPeriods(ctx)
		if err != nil || len(unsent) != 2 || unsent[0].ID != first[0].ID || unsent[1].ID != second[0].ID {
			t.Fatalf("UnsentPeriods = %+v, %v; want oldest first", unsent, err)
		}
		at := t0.Add(time.Hour)
		if err := f.Ledger.MarkSent(ctx, first[0].ID, at); err != nil {
			t.Fatalf("MarkSent: %v", err)
		}
		if err := f.Ledger.MarkSent(ctx, first[0].ID, at.Add(time.Hour)); err != nil {
			t.Fatalf("MarkSent again: %v", err)
		}
		if err := f.Ledger.MarkSent(ctx, "no-such-period", at); !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("MarkSent(unknown) = %v, want ErrNotFound", err)
		}
		unsent, _ = f.Ledger.UnsentPeriods(ctx)
		if len(unsent) != 1 || unsent[0].ID != second[0].ID {
			t.Fatalf("UnsentPeriods after MarkSent = %+v", unsent)
		}
		ps, err := f.Ledger.Periods(ctx, t0.Add(-interval), t0)
		if err != nil || len(ps) != 1 || ps[0].SentAt == nil || !ps[0].SentAt.Equal(at) {
			t.Fatalf("Periods = %+v, %v; want the first, sent at %v", ps, err, at)
		}
		claimed, err := f.Ledger.ClaimedCost(ctx, []string{first[0].ID, second[0].ID})
		if err != nil || claimed[first[0].ID] != 7 || claimed[second[0].ID] != 5 {
			t.Fatalf("ClaimedCost = %v, %v; want 7 and 5", claimed, err)
		}
	})
}
