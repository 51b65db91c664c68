package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

// TestRollupsMatchEvents: whatever the range, the analytics read from
// hourly rollups plus raw partial hours equal sums over the raw events,
// even when batches are shipped twice or overlap (rollups count only what
// Ship inserted).
func TestRollupsMatchEvents(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(7, 11))
		base := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
		keys := []string{fx.kA1, fx.kA2}
		models := []string{"gpt-4o", "gpt-4o-mini", "o3"}
		// One key, model and hour spans several channels, so several
		// rollup rows: every reader must sum them, not pick one.
		channels := []string{"", "azure-east", "openai-1"}
		var recs []usage.Record
		for i := range 400 {
			at := base.Add(time.Duration(r.Int64N(int64(6 * time.Hour))))
			recs = append(recs, rec(fmt.Sprintf("roll-%d", i), fx.wsA, keys[r.IntN(2)], at, func(x *usage.Record) {
				x.Model = models[r.IntN(3)]
				x.Channel = channels[r.IntN(3)]
				x.PromptTokens, x.CompletionTokens, x.CachedTokens = r.Int64N(1000), r.Int64N(500), r.Int64N(10)
				x.CostMicros = r.Int64N(10000)
				x.LatencyMillis = r.Int64N(5000)
				x.Status = []int{200, 200, 200, 429, 500}[r.IntN(5)]
				x.CacheHit = x.Status == 200 && r.IntN(4) == 0
			}))
		}
		// B's events in the same hours must never show in A's answers.
		recs = append(recs, rec("roll-b", fx.wsB, fx.kB1, base.Add(time.Hour), func(x *usage.Record) { x.CostMicros = 1e9 }))
		// Ship in random overlapping batches: every record at least once.
		for i := 0; i < len(recs); {
			n := 1 + r.IntN(60)
			lo := max(0, i-r.IntN(10)) // re-ship a few already shipped
			fx.ship(t, recs[lo:min(len(recs), i+n)]...)
			i += n
		}
		want := func(from, to time.Time, keep func(usage.Record) bool) (s ledger.Summary, lat []int64) {
			for _, x := range recs {
				if x.WorkspaceID != fx.wsA || x.Time.Before(from) || !x.Time.Before(to) || !keep(x) {
					continue
				}
				if x.Status < 400 {
					s.Requests++
					if x.CacheHit {
						s.CacheHits++
					}
					lat = append(lat, x.LatencyMillis)
				} else {
					s.Errors++
				}
				s.PromptTokens += x.PromptTokens
				s.CompletionTokens += x.CompletionTokens
				s.CachedTokens += x.CachedTokens
				s.CostMicros += x.CostMicros
			}
			s.TotalTokens = s.PromptTokens + s.CompletionTokens
			return s, lat
		}
		all := func(usage.Record) bool { return true }
		for i := range 40 {
			from := base.Add(-time.Hour + time.Duration(r.Int64N(int64(8*time.Hour))))
			to := from.Add(time.Duration(1 + r.Int64N(int64(5*time.Hour))))
			if i == 0 { // whole hours only: rollups alone
				from, to = base, base.Add(6*time.Hour)
			}
			f := ledger.Filter{WorkspaceID: fx.wsA, From: from, To: to}
			got, err := fx.l.Summary(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if w, _ := want(from, to, all); got != w {
				t.Fatalf("Summary [%v, %v):\n got %+v\nwant %+v", from, to, got, w)
			}
			byModel, err := fx.l.ByModel(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range byModel {
				w, lat := want(from, to, func(x usage.Record) bool { return x.Model == g.Key })
				var sum int64
				for _, v := range lat {
					sum += v
				}
				if g.Summary != w || g.LatencyMsSum != sum {
					t.Fatalf("ByModel %s [%v, %v): got %+v want %+v, latency sum %d", g.Key, from, to, g, w, sum)
				}
			}
			if !slices.IsSortedFunc(byModel, func(a, b ledger.Group) int { return int(b.CostMicros - a.CostMicros) }) {
				t.Fatalf("ByModel not costliest first: %+v", byModel)
			}
			byKey, err := fx.l.ByKey(ctx, ledger.Filter{WorkspaceID: fx.wsA, From: from, To: to})
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range byKey {
				w, _ := want(from, to, func(x usage.Record) bool { return x.KeyID == g.Key })
				if g.Summary != w || g.Label != fx.labelByKey[g.Key] {
					t.Fatalf("ByKey %s [%v, %v): got %+v want %+v", g.Key, from, to, g, w)
				}
			}
			byChannel, err := fx.l.ByChannel(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range byChannel {
				w, lat := want(from, to, func(x usage.Record) bool { return x.Channel == g.Key })
				var sum int64
				for _, v := range lat {
					sum += v
				}
				if g.Summary != w || g.LatencyMsSum != sum || g.Label != g.Key {
					t.Fatalf("ByChannel %q [%v, %v): got %+v want %+v, latency sum %d", g.Key, from, to, g, w, sum)
				}
			}
			for _, ch := range channels {
				if w, _ := want(from, to, func(x usage.Record) bool { return x.Channel == ch }); w != (ledger.Summary{}) &&
					!slices.ContainsFunc(byChannel, func(g ledger.Group) bool { return g.Key == ch }) {
					t.Fatalf("ByChannel [%v, %v): no group for %q in %+v", from, to, ch, byChannel)
				}
			}
			pts, err := fx.l.Series(ctx, f, ledger.Hour)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pts {
				lo, hi := later(p.Time, from), earlier(p.Time.Add(time.Hour), to)
				w, lat := want(lo, hi, all)
				if p.Summary != w {
					t.Fatalf("Series bucket %v of [%v, %v): got %+v want %+v", p.Time, from, to, p.Summary, w)
				}
				if p50, p95 := ledger.HistogramPercentile(lat, 0.5), ledger.HistogramPercentile(lat, 0.95); p.P50LatencyMs != p50 || p.P95LatencyMs != p95 {
					t.Fatalf("Series bucket %v percentiles %d/%d, want %d/%d", p.Time, p.P50LatencyMs, p.P95LatencyMs, p50, p95)
				}
			}
		}
	})
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
