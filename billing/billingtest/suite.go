package billingtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/internal/usage"
)

// LedgerFixture is a fresh, empty ledger for one RunLedgerSuite case.
type LedgerFixture struct {
	Ledger billing.Ledger
	// Store is the same ledger's reconciliation side.
	Store billing.ReconcileStore
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
		totals, err := f.Store.Totals(ctx, t0.Add(-interval), t0.Add(interval))
		want := []billing.PeriodTotals{
			{WorkspaceID: a, Periods: 1, Micros: 7},
			{WorkspaceID: b, Periods: 1, Micros: 5, Unsent: 1, UnsentMicros: 5},
		}
		if a > b {
			want[0], want[1] = want[1], want[0]
		}
		if err != nil || !slices.Equal(totals, want) {
			t.Fatalf("Totals = %+v, %v; want %+v", totals, err, want)
		}
	})

	t.Run("an attempt is recorded once per generation", func(t *testing.T) {
		f, add := setup(t)
		add(f.Workspaces[0], 5, t0.Add(-time.Second))
		p := closeAt(t, f.Ledger, t0)[0]
		at, stamp := t0.Add(time.Second), t0.Add(-time.Second)
		got, err := f.Ledger.BeginAttempt(ctx, p.ID, 0, at, stamp)
		if err != nil || got.AttemptedAt == nil || !got.AttemptedAt.Equal(at) || !got.EventTime.Equal(stamp) || got.Generation != 0 {
			t.Fatalf("BeginAttempt = %+v, %v; want attempted at %v stamped %v", got, err, at, stamp)
		}
		// A second replica's attempt gets the first one's time and stamp.
		again, err := f.Ledger.BeginAttempt(ctx, p.ID, 0, at.Add(time.Minute), stamp.Add(time.Hour))
		if err != nil || !again.AttemptedAt.Equal(at) || !again.EventTime.Equal(stamp) {
			t.Fatalf("second BeginAttempt = %+v, %v; want the first attempt kept", again, err)
		}
		if _, err := f.Ledger.BeginAttempt(ctx, "no-such-period", 0, at, stamp); !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("BeginAttempt(unknown) = %v, want ErrNotFound", err)
		}
		if ps, _ := f.Ledger.Periods(ctx, t0.Add(-interval), t0); len(ps) != 1 || ps[0].EventIdentifier() != p.Identifier || !ps[0].EventTime.Equal(stamp) {
			t.Fatalf("stored period = %+v, want generation 0 stamped %v", ps, stamp)
		}
	})

	t.Run("of concurrent claims to send a period one wins", func(t *testing.T) {
		f, add := setup(t)
		add(f.Workspaces[0], 5, t0.Add(-time.Second))
		closeAt(t, f.Ledger, t0)
		listed, err := f.Ledger.UnsentPeriods(ctx)
		if err != nil || len(listed) != 1 || listed[0].Sends != 0 {
			t.Fatalf("UnsentPeriods = %+v, %v; want one period with Sends 0", listed, err)
		}
		p := listed[0]
		// Eight replicas that listed the period at once.
		var wins sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range 8 {
			wins.Go(func() {
				ok, err := f.Ledger.ClaimSend(ctx, p.ID, p.Sends)
				if err != nil {
					t.Errorf("ClaimSend: %v", err)
				}
				if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			})
		}
		wins.Wait()
		if won != 1 {
			t.Fatalf("%d of 8 concurrent claims won, want exactly 1", won)
		}
		// The winner died before sending: the next tick reads Sends 1 and
		// takes over.
		again, _ := f.Ledger.UnsentPeriods(ctx)
		if len(again) != 1 || again[0].Sends != 1 {
			t.Fatalf("after one claim: %+v, want Sends 1", again)
		}
		if ok, err := f.Ledger.ClaimSend(ctx, p.ID, again[0].Sends); !ok || err != nil {
			t.Fatalf("taking over a dead claim = %v, %v; want true", ok, err)
		}
		// A sent period is claimed by nobody.
		if err := f.Ledger.MarkSent(ctx, p.ID, t0); err != nil {
			t.Fatal(err)
		}
		if ok, err := f.Ledger.ClaimSend(ctx, p.ID, 2); ok || err != nil {
			t.Fatalf("ClaimSend of a sent period = %v, %v; want false", ok, err)
		}
		if ok, err := f.Ledger.ClaimSend(ctx, "no-such-period", 0); ok {
			t.Fatalf("ClaimSend(unknown) = %v, %v; want false", ok, err)
		}
	})

	t.Run("reissue moves one generation once", func(t *testing.T) {
		f, add := setup(t)
		add(f.Workspaces[0], 5, t0.Add(-time.Second))
		p := closeAt(t, f.Ledger, t0)[0]
		if _, err := f.Ledger.BeginAttempt(ctx, p.ID, 0, t0, t0.Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			moved int
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, ok, err := f.Ledger.Reissue(ctx, p.ID, 0)
				if err != nil {
					t.Errorf("Reissue: %v", err)
				}
				if ok {
					mu.Lock()
					moved++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if moved != 1 {
			t.Fatalf("%d concurrent reissues of generation 0 moved it, want 1", moved)
		}
		ps, _ := f.Ledger.Periods(ctx, t0.Add(-interval), t0)
		got := ps[0]
		if got.Generation != 1 || got.AttemptedAt != nil || !got.EventTime.IsZero() || got.SentAt != nil ||
			got.EventIdentifier() != billing.ReissueIdentifier(p.ID, 1) || got.Identifier != p.Identifier {
			t.Fatalf("after reissue = %+v, want generation 1, not attempted, same base identifier", got)
		}
		// A sent and held period goes back to unsent, unheld.
		if err := f.Ledger.MarkSent(ctx, p.ID, t0); err != nil {
			t.Fatal(err)
		}
		if err := f.Ledger.Hold(ctx, p.ID, "meter_error: x"); err != nil {
			t.Fatal(err)
		}
		next, ok, err := f.Ledger.Reissue(ctx, p.ID, 1)
		if err != nil || !ok || next.Generation != 2 || next.SentAt != nil || next.Review != "" {
			t.Fatalf("Reissue(sent, held) = %+v, %v, %v; want generation 2, unsent, unheld", next, ok, err)
		}
		if _, _, err := f.Ledger.Reissue(ctx, "no-such-period", 0); !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("Reissue(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("a held period is not sent until released", func(t *testing.T) {
		f, add := setup(t)
		a := f.Workspaces[0]
		add(a, 5, t0.Add(-time.Second))
		p := closeAt(t, f.Ledger, t0)[0]
		if err := f.Ledger.Hold(ctx, p.ID, "unexplained: why"); err != nil {
			t.Fatal(err)
		}
		if unsent, _ := f.Ledger.UnsentPeriods(ctx); len(unsent) != 0 {
			t.Fatalf("UnsentPeriods = %+v, want the held period left out", unsent)
		}
		held, err := f.Store.HeldPeriods(ctx)
		if err != nil || len(held) != 1 || held[0].ID != p.ID || held[0].Review != "unexplained: why" {
			t.Fatalf("HeldPeriods = %+v, %v", held, err)
		}
		totals, _ := f.Store.Totals(ctx, t0.Add(-interval), t0)
		if len(totals) != 1 || totals[0] != (billing.PeriodTotals{WorkspaceID: a, Periods: 1, Micros: 5, Held: 1, HeldMicros: 5}) {
			t.Fatalf("Totals = %+v, want one held period", totals)
		}
		if err := f.Ledger.Hold(ctx, p.ID, ""); err != nil {
			t.Fatal(err)
		}
		if unsent, _ := f.Ledger.UnsentPeriods(ctx); len(unsent) != 1 {
			t.Fatalf("UnsentPeriods after release = %+v, want the period back", unsent)
		}
		if err := f.Ledger.Hold(ctx, "no-such-period", "x"); !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("Hold(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("stamped by the attempt's timestamp, else the interval's last second", func(t *testing.T) {
		f, add := setup(t)
		a, b := f.Workspaces[0], f.Workspaces[1]
		add(a, 3, t0.Add(-time.Second))
		add(b, 4, t0.Add(-time.Second))
		add(a, 5, t0.Add(interval-time.Second))
		first := closeAt(t, f.Ledger, t0)
		late := closeAt(t, f.Ledger, t0.Add(interval))[0]
		// The second period was first sent two hours late: stamped then.
		lateStamp := t0.Add(2*time.Hour + 30*time.Second)
		if _, err := f.Ledger.BeginAttempt(ctx, late.ID, 0, lateStamp, lateStamp); err != nil {
			t.Fatal(err)
		}
		minute := func(t time.Time) (time.Time, time.Time) {
			return t.Truncate(time.Minute), t.Truncate(time.Minute).Add(time.Minute)
		}
		from, to := minute(t0.Add(-time.Second))
		got, err := f.Ledger.Stamped(ctx, a, from, to)
		if err != nil || len(got) != 1 || got[0].WorkspaceID != a || got[0].CostMicros != 3 {
			t.Fatalf("Stamped(a, interval of the first) = %+v, %v; want a's first period only", got, err)
		}
		if got, _ := f.Ledger.Stamped(ctx, a, t0, t0.Add(interval)); len(got) != 0 {
			t.Fatalf("Stamped(a, the late period's own interval) = %+v, want none: it is stamped later", got)
		}
		from, to = minute(lateStamp)
		if got, _ := f.Ledger.Stamped(ctx, a, from, to); len(got) != 1 || got[0].ID != late.ID {
			t.Fatalf("Stamped(a, the late stamp's minute) = %+v, want the late period", got)
		}
		totals, _ := f.Store.Totals(ctx, t0.Add(-interval), t0.Add(time.Hour))
		if len(totals) != 2 || len(first) != 2 {
			t.Fatalf("Totals before the late stamp = %+v, want a:3 and b:4", totals)
		}
		for _, tt := range totals {
			if want := map[string]int64{a: 3, b: 4}[tt.WorkspaceID]; tt.Micros != want || tt.Unsent != 1 {
				t.Fatalf("Totals = %+v, want a:3 and b:4, each unsent", totals)
			}
		}
	})
}
