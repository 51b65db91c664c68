package ledger_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

// nearMax is a stored total that one more record pushes past int64.
const nearMax = math.MaxInt64 - 10

// TestTotalsSaturate is the attack on the ledger's arithmetic: rows whose
// totals are already near int64's limit (an old ledger that took 9e18
// tokens from an upstream, or decades of traffic) must neither fail the
// next batch's rollup upsert (which wedged every tenant's spool) nor make
// a SUM fail (PostgreSQL's bigint cast, SQLite's "integer overflow"), which
// stalled the dashboard, quotas and billing. Totals saturate at the
// largest int64 instead of wrapping or failing.
func TestTotalsSaturate(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		h1, h2 := t0, t0.Add(time.Hour)
		partial := t0.Add(2*time.Hour + 30*time.Minute)
		fx.ship(t, rec("a", fx.wsA, fx.kA1, h1), rec("b", fx.wsA, fx.kA1, h2), rec("c", fx.wsA, fx.kA1, partial))
		ph := []any{"?", "?", "?"}
		if fx.s.Dialect == "postgres" {
			ph = []any{"$1", "$2", "$3"}
		}
		for _, table := range []string{"usage_rollups", "usage_events"} {
			q := fmt.Sprintf("UPDATE "+table+" SET prompt_tokens = %s, completion_tokens = %s, cost_micros = %s", ph...)
			if _, err := fx.s.DB.ExecContext(ctx, q, int64(nearMax), int64(nearMax), int64(nearMax)); err != nil {
				t.Fatal(err)
			}
		}
		// One more record into the hour that is nearly full.
		if err := fx.l.Ship(ctx, []usage.Record{rec("d", fx.wsA, fx.kA1, h1.Add(time.Minute))}); err != nil {
			t.Fatalf("Ship into a nearly full rollup = %v; it must saturate, not fail the batch", err)
		}
		f := ledger.Filter{WorkspaceID: fx.wsA, From: h1, To: t0.Add(3 * time.Hour)}
		sum, err := fx.l.Summary(ctx, f)
		if err != nil {
			t.Fatalf("Summary = %v", err)
		}
		if sum.PromptTokens != math.MaxInt64 || sum.CostMicros != math.MaxInt64 || sum.TotalTokens != math.MaxInt64 || sum.Requests != 4 {
			t.Fatalf("Summary = %+v; want tokens and cost saturated at the largest int64 and 4 requests", sum)
		}
		for name, q := range map[string]func(context.Context, ledger.Filter) ([]ledger.Group, error){"ByModel": fx.l.ByModel, "ByKey": fx.l.ByKey} {
			g, err := q(ctx, f)
			if err != nil {
				t.Fatalf("%s = %v", name, err)
			}
			if len(g) != 1 || g[0].CostMicros != math.MaxInt64 || g[0].PromptTokens != math.MaxInt64 {
				t.Fatalf("%s = %+v; want one saturated group", name, g)
			}
		}
		for _, g := range []ledger.Granularity{ledger.Hour, ledger.Day} {
			pts, err := fx.l.Series(ctx, f, g)
			if err != nil {
				t.Fatalf("Series(%v) = %v", g, err)
			}
			for _, p := range pts {
				if p.CostMicros < 0 || p.PromptTokens < 0 || p.TotalTokens < 0 {
					t.Fatalf("Series(%v) point %+v went negative", g, p)
				}
			}
		}
		mt, err := fx.l.MonthToDate(ctx, t0)
		if err != nil {
			t.Fatalf("MonthToDate = %v; a gateway could not start", err)
		}
		if w := mt.Workspaces[fx.wsA]; w.Tokens != math.MaxInt64 || w.CostMicros != math.MaxInt64 {
			t.Fatalf("MonthToDate = %+v; want saturated", w)
		}
		x, err := fx.l.KeyExposure(ctx, fx.wsA, fx.kA1, t0.Add(-time.Hour))
		if err != nil || x.CostMicros != math.MaxInt64 {
			t.Fatalf("KeyExposure = %+v, %v; want saturated cost", x, err)
		}
	})
}
