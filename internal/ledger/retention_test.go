package ledger_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/storetest"
)

// TestPrune: retention removes old raw events that billing has claimed,
// keeps unclaimed ones whatever their age, and leaves the hourly rollups,
// so totals of pruned months stay right.
func TestPrune(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *storeT) {
		fx := newFixture(t, s)
		ctx := context.Background()
		jan := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
		feb, mar, apr := jan.AddDate(0, 1, 0), jan.AddDate(0, 2, 0), jan.AddDate(0, 3, 0)
		if s.Dialect == "postgres" {
			// Months without a partition land in the default one; making
			// the partitions moves them.
			fx.ship(t, rec("jan-early", fx.wsA, fx.kA1, jan.Add(-time.Hour)))
			names, err := fx.l.EnsurePartitions(ctx, jan)
			if err != nil || !slices.Equal(names, []string{"usage_events_p202601", "usage_events_p202602", "usage_events_p202603"}) {
				t.Fatalf("EnsurePartitions = %v, %v", names, err)
			}
			if n := countIn(t, fx, "usage_events_p202601"); n != 1 {
				t.Fatalf("January partition holds %d events after it was made, want the 1 moved out of the default", n)
			}
			if names, err := fx.l.EnsurePartitions(ctx, jan); err != nil || len(names) != 3 {
				t.Fatalf("second EnsurePartitions = %v, %v; want the same three, no error", names, err)
			}
		} else {
			fx.ship(t, rec("jan-early", fx.wsA, fx.kA1, jan.Add(-time.Hour)))
		}
		fx.ship(t,
			rec("jan-1", fx.wsA, fx.kA1, jan),
			rec("feb-1", fx.wsA, fx.kA1, feb),
			rec("mar-1", fx.wsA, fx.kA1, mar),
			rec("apr-1", fx.wsA, fx.kA1, apr),
		)
		// Replaying a moved record stays idempotent.
		fx.ship(t, rec("jan-early", fx.wsA, fx.kA1, jan.Add(-time.Hour)))
		if n := fx.events(t); n != 5 {
			t.Fatalf("%d events, want 5", n)
		}
		// Billing claimed January and February, not March.
		if _, err := s.DB.ExecContext(ctx, `UPDATE usage_events SET billing_period_id = 'per_test' WHERE request_id IN ('jan-early', 'jan-1', 'feb-1')`); err != nil {
			t.Fatal(err)
		}
		before := apr.Add(-time.Hour * 24 * 10) // 2026-04-05: Jan, Feb, Mar are wholly older
		got, err := fx.l.Prune(ctx, before)
		if err != nil {
			t.Fatal(err)
		}
		if got.Unbilled != 1 {
			t.Fatalf("Prune = %+v; want March's unbilled event kept and counted", got)
		}
		if s.Dialect == "postgres" && !slices.Equal(got.Partitions, []string{"usage_events_p202601", "usage_events_p202602"}) {
			t.Fatalf("dropped %v, want January and February", got.Partitions)
		}
		if s.Dialect != "postgres" && got.Rows != 3 {
			t.Fatalf("deleted %d rows, want 3", got.Rows)
		}
		if n := fx.events(t); n != 2 {
			t.Fatalf("%d events left, want March's unbilled and April's", n)
		}
		// The rollups still answer for January.
		sum, err := fx.l.Summary(ctx, ledger.Filter{WorkspaceID: fx.wsA, From: jan.Add(-2 * time.Hour), To: jan.Add(2 * time.Hour)})
		if err != nil || sum.Requests != 2 || sum.CostMicros != 200 {
			t.Fatalf("January after pruning = %+v, %v; want 2 requests from the rollups", sum, err)
		}
		// Shipping into a pruned month still works (default partition).
		fx.ship(t, rec("jan-late", fx.wsA, fx.kA1, jan.Add(time.Minute)))
		if n := fx.events(t); n != 3 {
			t.Fatalf("%d events after a late January record, want 3", n)
		}
	})
}

func countIn(t *testing.T, fx *fixture, table string) int {
	t.Helper()
	var n int
	if err := fx.s.DB.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM "`+table+`"`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
