package ledger_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/usage"
)

// seed ships the fixed data set the analytics tests read. In A's window
// [t0, t0+48h): three answered requests of A1 in hour 0 (one a cache hit),
// a 429 and an answered request of A2 in hour 1, a 500 of A2 that still
// cost something at hour 26; and around it, events of A outside the
// window and events of B inside it.
func seed(t *testing.T, fx *fixture) {
	t.Helper()
	tok := func(p, c, cached, cost, lat int64) func(*usage.Record) {
		return func(r *usage.Record) {
			r.PromptTokens, r.CompletionTokens, r.CachedTokens, r.CostMicros, r.LatencyMillis = p, c, cached, cost, lat
		}
	}
	model := func(m string) func(*usage.Record) { return func(r *usage.Record) { r.Model = m } }
	fx.ship(t,
		rec("r1", fx.wsA, fx.kA1, t0.Add(10*time.Minute), tok(100, 50, 10, 1000, 100)),
		rec("r2", fx.wsA, fx.kA1, t0.Add(20*time.Minute), tok(200, 100, 0, 2000, 300)),
		rec("r3", fx.wsA, fx.kA1, t0.Add(30*time.Minute), tok(10, 5, 0, 10, 20), model("gpt-4o-mini"), cacheHit),
		rec("r4", fx.wsA, fx.kA2, t0.Add(65*time.Minute), tok(50, 0, 0, 0, 1), model("gpt-4o-mini"), status(429)),
		rec("r5", fx.wsA, fx.kA2, t0.Add(90*time.Minute), tok(400, 200, 0, 5000, 900), model("claude")),
		rec("r6", fx.wsA, fx.kA2, t0.Add(26*time.Hour), tok(1, 1, 0, 1, 30), model("claude"), status(500)),
		rec("r7", fx.wsA, fx.kA1, t0.Add(-time.Second), tok(999, 999, 0, 999, 999)),                  // before the window
		rec("r8", fx.wsA, fx.kA1, t0.Add(48*time.Hour), tok(888, 888, 0, 888, 888), model("newest")), // at To: excluded
		rec("b1", fx.wsB, fx.kB1, t0.Add(15*time.Minute), tok(7777, 7777, 7, 7777, 7777)),
		rec("b2", fx.wsB, fx.kB1, t0.Add(70*time.Minute), tok(1, 1, 0, 1, 1), model("claude"), status(503)),
	)
}

func TestSummary(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *storeT) {
		fx := newFixture(t, s)
		seed(t, fx)
		window := func(ws, key string) ledger.Filter {
			return ledger.Filter{WorkspaceID: ws, KeyID: key, From: t0, To: t0.Add(48 * time.Hour)}
		}
		tests := []struct {
			name   string
			filter ledger.Filter
			want   ledger.Summary
		}{
			{"workspace A", window(fx.wsA, ""), ledger.Summary{
				Requests: 4, PromptTokens: 761, CompletionTokens: 356, CachedTokens: 10, TotalTokens: 1117,
				CostMicros: 8011, CacheHits: 1, Errors: 2}},
			{"key A1", window(fx.wsA, fx.kA1), ledger.Summary{
				Requests: 3, PromptTokens: 310, CompletionTokens: 155, CachedTokens: 10, TotalTokens: 465,
				CostMicros: 3010, CacheHits: 1}},
			{"key A2", window(fx.wsA, fx.kA2), ledger.Summary{
				Requests: 1, PromptTokens: 451, CompletionTokens: 201, TotalTokens: 652, CostMicros: 5001, Errors: 2}},
			{"workspace B", window(fx.wsB, ""), ledger.Summary{
				Requests: 1, PromptTokens: 7778, CompletionTokens: 7778, CachedTokens: 7, TotalTokens: 15556,
				CostMicros: 7778, Errors: 1}},
			{"first hour", ledger.Filter{WorkspaceID: fx.wsA, From: t0, To: t0.Add(time.Hour)}, ledger.Summary{
				Requests: 3, PromptTokens: 310, CompletionTokens: 155, CachedTokens: 10, TotalTokens: 465,
				CostMicros: 3010, CacheHits: 1}},
			{"To is exclusive, From inclusive", ledger.Filter{WorkspaceID: fx.wsA, From: t0.Add(30 * time.Minute), To: t0.Add(90 * time.Minute)}, ledger.Summary{
				Requests: 1, PromptTokens: 60, CompletionTokens: 5, TotalTokens: 65, CostMicros: 10, CacheHits: 1, Errors: 1}},
			{"nothing", ledger.Filter{WorkspaceID: fx.wsA, From: t0.Add(-24 * time.Hour), To: t0.Add(-time.Hour)}, ledger.Summary{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := fx.l.Summary(context.Background(), tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				if diff := diff(tt.want, got); diff != "" {
					t.Fatalf("Summary (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestCrossTenant: a filter for workspace A never reaches B's events, not
// even when it names a key of B.
func TestCrossTenant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *storeT) {
		fx := newFixture(t, s)
		seed(t, fx)
		ctx := context.Background()
		f := ledger.Filter{WorkspaceID: fx.wsA, KeyID: fx.kB1, From: t0.Add(-time.Hour), To: t0.Add(72 * time.Hour)}
		sum, err := fx.l.Summary(ctx, f)
		if err != nil || sum != (ledger.Summary{}) {
			t.Fatalf("Summary(A, key of B) = %+v, %v; want zero", sum, err)
		}
		for name, q := range map[string]func(context.Context, ledger.Filter) ([]ledger.Group, error){"ByModel": fx.l.ByModel, "ByKey": fx.l.ByKey} {
			if g, err := q(ctx, f); err != nil || len(g) != 0 {
				t.Fatalf("%s(A, key of B) = %+v, %v; want none", name, g, err)
			}
		}
		pts, err := fx.l.Series(ctx, f, ledger.Day)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pts {
			if p.Summary != (ledger.Summary{}) || p.P50LatencyMs != 0 {
				t.Fatalf("Series(A, key of B) has %+v", p)
			}
		}
		// Without the key, A's totals hold none of B's large numbers.
		f.KeyID = ""
		groups, err := fx.l.ByKey(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups {
			if g.Key == fx.kB1 || g.CostMicros >= 7777 {
				t.Fatalf("ByKey(A) holds B's usage: %+v", g)
			}
		}
		models, err := fx.l.ByModel(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range models {
			if g.PromptTokens >= 7777 {
				t.Fatalf("ByModel(A) holds B's usage: %+v", g)
			}
		}
	})
}

func TestGroups(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *storeT) {
		fx := newFixture(t, s)
		seed(t, fx)
		f := ledger.Filter{WorkspaceID: fx.wsA, From: t0, To: t0.Add(48 * time.Hour)}
		tests := []struct {
			name string
			q    func(context.Context, ledger.Filter) ([]ledger.Group, error)
			want []ledger.Group
		}{
			{"ByModel", fx.l.ByModel, []ledger.Group{
				{Key: "claude", Label: "claude", Summary: ledger.Summary{Requests: 1, PromptTokens: 401, CompletionTokens: 201, TotalTokens: 602, CostMicros: 5001, Errors: 1}, LatencyMsSum: 900},
				{Key: "gpt-4o", Label: "gpt-4o", Summary: ledger.Summary{Requests: 2, PromptTokens: 300, CompletionTokens: 150, CachedTokens: 10, TotalTokens: 450, CostMicros: 3000}, LatencyMsSum: 400},
				{Key: "gpt-4o-mini", Label: "gpt-4o-mini", Summary: ledger.Summary{Requests: 1, PromptTokens: 60, CompletionTokens: 5, TotalTokens: 65, CostMicros: 10, CacheHits: 1, Errors: 1}, LatencyMsSum: 20},
			}},
			{"ByKey", fx.l.ByKey, []ledger.Group{
				{Key: fx.kA2, Label: "beta", Summary: ledger.Summary{Requests: 1, PromptTokens: 451, CompletionTokens: 201, TotalTokens: 652, CostMicros: 5001, Errors: 2}, LatencyMsSum: 900},
				{Key: fx.kA1, Label: "alpha", Summary: ledger.Summary{Requests: 3, PromptTokens: 310, CompletionTokens: 155, CachedTokens: 10, TotalTokens: 465, CostMicros: 3010, CacheHits: 1}, LatencyMsSum: 420},
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := tt.q(context.Background(), f)
				if err != nil {
					t.Fatal(err)
				}
				if diff := diff(tt.want, got); diff != "" {
					t.Fatalf("(-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestSeries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *storeT) {
		fx := newFixture(t, s)
		seed(t, fx)
		hour0 := ledger.Summary{Requests: 3, PromptTokens: 310, CompletionTokens: 155, CachedTokens: 10, TotalTokens: 465, CostMicros: 3010, CacheHits: 1}
		hour1 := ledger.Summary{Requests: 1, PromptTokens: 450, CompletionTokens: 200, TotalTokens: 650, CostMicros: 5000, Errors: 1}
		hour26 := ledger.Summary{PromptTokens: 1, CompletionTokens: 1, TotalTokens: 2, CostMicros: 1, Errors: 1}
		day0 := ledger.Summary{Requests: 4, PromptTokens: 760, CompletionTokens: 355, CachedTokens: 10, TotalTokens: 1115, CostMicros: 8010, CacheHits: 1, Errors: 1}
		tests := []struct {
			name     string
			from, to time.Time
			g        ledger.Granularity
			n        int
			want     map[int]ledger.Point // the non-zero buckets, by index
		}{
			{"hourly over two days", t0, t0.Add(48 * time.Hour), ledger.Hour, 48, map[int]ledger.Point{
				0:  {Summary: hour0, P50LatencyMs: 100, P95LatencyMs: 300},   // latencies 20 100 300
				1:  {Summary: hour1, P50LatencyMs: 1000, P95LatencyMs: 1000}, // 900 is in the (800, 1000] bucket; the 429 is not a latency
				26: {Summary: hour26},
			}},
			{"daily", t0, t0.Add(48 * time.Hour), ledger.Day, 2, map[int]ledger.Point{
				0: {Summary: day0, P50LatencyMs: 100, P95LatencyMs: 1000}, // 20 100 300 900
				1: {Summary: hour26},
			}},
			{"unaligned from: buckets start on the hour, events from From", t0.Add(30 * time.Minute), t0.Add(150 * time.Minute), ledger.Hour, 3, map[int]ledger.Point{
				0: {Summary: ledger.Summary{Requests: 1, PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15, CostMicros: 10, CacheHits: 1}, P50LatencyMs: 20, P95LatencyMs: 20},
				1: {Summary: hour1, P50LatencyMs: 1000, P95LatencyMs: 1000},
			}},
			{"zero-filled", t0.Add(-72 * time.Hour), t0.Add(-24 * time.Hour), ledger.Day, 2, nil},
			{"unaligned to: the last bucket is partial", t0.Add(-time.Hour), t0.Add(30 * time.Minute), ledger.Day, 2, map[int]ledger.Point{
				0: {Summary: ledger.Summary{Requests: 1, PromptTokens: 999, CompletionTokens: 999, TotalTokens: 1998, CostMicros: 999}, P50LatencyMs: 1000, P95LatencyMs: 1000},
				1: {Summary: ledger.Summary{Requests: 2, PromptTokens: 300, CompletionTokens: 150, CachedTokens: 10, TotalTokens: 450, CostMicros: 3000}, P50LatencyMs: 100, P95LatencyMs: 300},
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := fx.l.Series(context.Background(), ledger.Filter{WorkspaceID: fx.wsA, From: tt.from, To: tt.to}, tt.g)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != tt.n {
					t.Fatalf("%d buckets, want %d", len(got), tt.n)
				}
				width := map[ledger.Granularity]time.Duration{ledger.Hour: time.Hour, ledger.Day: 24 * time.Hour}[tt.g]
				start := tt.from.Truncate(width)
				for i, p := range got {
					want := tt.want[i]
					want.Time = start.Add(time.Duration(i) * width)
					if p.Time.Location() != time.UTC {
						t.Errorf("bucket %d time %v is not UTC", i, p.Time)
					}
					if diff := diff(want, p); diff != "" {
						t.Errorf("bucket %d (-want +got):\n%s", i, diff)
					}
				}
			})
		}
	})
}

func TestSeriesBound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *storeT) {
		fx := newFixture(t, s)
		ctx := context.Background()
		f := ledger.Filter{WorkspaceID: fx.wsA, From: t0, To: t0.Add(ledger.MaxBuckets * time.Hour)}
		pts, err := fx.l.Series(ctx, f, ledger.Hour)
		if err != nil || len(pts) != ledger.MaxBuckets {
			t.Fatalf("%d hours: %d points, %v", ledger.MaxBuckets, len(pts), err)
		}
		f.To = f.To.Add(time.Second)
		if _, err := fx.l.Series(ctx, f, ledger.Hour); !errors.Is(err, ledger.ErrTooManyBuckets) || !errors.Is(err, ledger.ErrInvalidFilter) {
			t.Fatalf("one bucket more: %v, want ErrTooManyBuckets", err)
		}
		f.To = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		f.From = time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)
		if _, err := fx.l.Series(ctx, f, ledger.Day); !errors.Is(err, ledger.ErrTooManyBuckets) {
			t.Fatalf("ten thousand years: %v, want ErrTooManyBuckets", err)
		}
	})
}

func TestInvalidFilter(t *testing.T) {
	l := ledger.New(storetest.SQLite(t))
	ctx := context.Background()
	ok := ledger.Filter{WorkspaceID: "ws_1", From: t0, To: t0.Add(time.Hour)}
	tests := []struct {
		name string
		call func() error
	}{
		{"no workspace", func() error { f := ok; f.WorkspaceID = ""; _, err := l.Summary(ctx, f); return err }},
		{"no from", func() error { f := ok; f.From = time.Time{}; _, err := l.ByKey(ctx, f); return err }},
		{"empty range", func() error { f := ok; f.To = f.From; _, err := l.ByModel(ctx, f); return err }},
		{"inverted range", func() error {
			f := ok
			f.From, f.To = f.To, f.From
			_, err := l.Series(ctx, f, ledger.Hour)
			return err
		}},
		{"no granularity", func() error { _, err := l.Series(ctx, ok, 0); return err }},
		{"recent without key", func() error { _, err := l.RecentRequests(ctx, "", 10); return err }},
		{"recent zero", func() error { _, err := l.RecentRequests(ctx, "key_1", 0); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ledger.ErrInvalidFilter) {
				t.Fatalf("err = %v, want ErrInvalidFilter", err)
			}
		})
	}
}

func TestRecentRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *storeT) {
		fx := newFixture(t, s)
		seed(t, fx)
		ctx := context.Background()
		tests := []struct {
			name string
			key  string
			n    int
			want []string
		}{
			{"newest first", fx.kA1, 2, []string{"r8", "r3"}},
			{"all of a key", fx.kA1, 100, []string{"r8", "r3", "r2", "r1", "r7"}},
			{"above the maximum", fx.kA2, 10_000, []string{"r6", "r5", "r4"}},
			{"unknown key", "key_01NOPE", 10, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := fx.l.RecentRequests(ctx, tt.key, tt.n)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, r := range got {
					ids = append(ids, r.RequestID)
				}
				if diff := diff(tt.want, ids); diff != "" {
					t.Fatalf("(-want +got):\n%s", diff)
				}
			})
		}
		got, err := fx.l.RecentRequests(ctx, fx.kA1, 2)
		if err != nil {
			t.Fatal(err)
		}
		want := ledger.Request{
			RequestID: "r3", Time: t0.Add(30 * time.Minute), Model: "gpt-4o-mini", Endpoint: "/v1/chat/completions",
			PromptTokens: 10, CompletionTokens: 5, CostMicros: 10, Status: 200, LatencyMs: 20, CacheHit: true,
			Source: usage.SourceCache,
		}
		if diff := diff(want, got[1]); diff != "" {
			t.Fatalf("r3 (-want +got):\n%s", diff)
		}
		if got[1].Time.Location() != time.UTC {
			t.Fatalf("time %v is not UTC", got[1].Time)
		}
	})
}

func TestMonthToDate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *storeT) {
		fx := newFixture(t, s)
		april := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
		tok := func(total, cost int64) func(*usage.Record) {
			return func(r *usage.Record) { r.PromptTokens, r.CompletionTokens, r.CostMicros = total, 0, cost }
		}
		plus2 := time.FixedZone("UTC+2", 2*3600)
		fx.ship(t,
			rec("march-last-second", fx.wsA, fx.kA1, april.Add(-time.Second), tok(1, 1)),
			rec("march-last-ns", fx.wsA, fx.kA1, april.Add(-time.Nanosecond), tok(2, 2)),
			rec("april-first", fx.wsA, fx.kA1, april, tok(10, 100)),
			rec("april-local", fx.wsA, fx.kA1, time.Date(2026, 4, 1, 1, 30, 0, 0, plus2), tok(4, 4)), // 23:30 UTC on 31 March
			rec("april-last", fx.wsA, fx.kA1, april.AddDate(0, 1, 0).Add(-time.Millisecond), tok(20, 200)),
			rec("april-error", fx.wsA, fx.kA2, april.Add(5*24*time.Hour), tok(3, 30), status(500)),
			rec("may-first", fx.wsA, fx.kA2, april.AddDate(0, 1, 0), tok(5, 5)),
			rec("april-b", fx.wsB, fx.kB1, april.Add(time.Hour), tok(7, 70)),
		)
		tests := []struct {
			name string
			now  time.Time
			want ledger.MonthTotals
		}{
			{"mid April", april.Add(14 * 24 * time.Hour), ledger.MonthTotals{
				From: april, To: april.AddDate(0, 1, 0),
				Workspaces: map[string]ledger.Totals{fx.wsA: {Tokens: 33, CostMicros: 330}, fx.wsB: {Tokens: 7, CostMicros: 70}},
				Keys:       map[string]ledger.Totals{fx.kA1: {Tokens: 30, CostMicros: 300}, fx.kA2: {Tokens: 3, CostMicros: 30}, fx.kB1: {Tokens: 7, CostMicros: 70}},
			}},
			{"first instant of April, in another zone", april.In(plus2), ledger.MonthTotals{
				From: april, To: april.AddDate(0, 1, 0),
				Workspaces: map[string]ledger.Totals{fx.wsA: {Tokens: 33, CostMicros: 330}, fx.wsB: {Tokens: 7, CostMicros: 70}},
				Keys:       map[string]ledger.Totals{fx.kA1: {Tokens: 30, CostMicros: 300}, fx.kA2: {Tokens: 3, CostMicros: 30}, fx.kB1: {Tokens: 7, CostMicros: 70}},
			}},
			{"last second of March", april.Add(-time.Second), ledger.MonthTotals{
				From: april.AddDate(0, -1, 0), To: april,
				Workspaces: map[string]ledger.Totals{fx.wsA: {Tokens: 7, CostMicros: 7}},
				Keys:       map[string]ledger.Totals{fx.kA1: {Tokens: 7, CostMicros: 7}},
			}},
			{"May", april.AddDate(0, 1, 3), ledger.MonthTotals{
				From: april.AddDate(0, 1, 0), To: april.AddDate(0, 2, 0),
				Workspaces: map[string]ledger.Totals{fx.wsA: {Tokens: 5, CostMicros: 5}},
				Keys:       map[string]ledger.Totals{fx.kA2: {Tokens: 5, CostMicros: 5}},
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := fx.l.MonthToDate(context.Background(), tt.now)
				if err != nil {
					t.Fatal(err)
				}
				if diff := diff(tt.want, got); diff != "" {
					t.Fatalf("(-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestHistogramPercentile: a percentile is the upper bound of the latency
// bucket that holds percentile_disc's answer.
func TestHistogramPercentile(t *testing.T) {
	tests := []struct {
		name   string
		values []int64
		p      float64
		want   int64
	}{
		{"empty", nil, 0.5, 0},
		{"one, between bounds", []int64{7}, 0.95, 8},
		{"median of two is the lower", []int64{1, 2}, 0.5, 1},
		{"median of three", []int64{1, 2, 3}, 0.5, 2},
		{"p95 of twenty is the nineteenth's bucket", seq(20), 0.95, 20},
		{"p95 of a hundred", seq(100), 0.95, 100},
		{"p0 is the first", seq(5), 0, 1},
		{"zero milliseconds", []int64{0}, 0.5, 1},
		{"just above a bound", []int64{1000, 1001}, 0.95, 1200},
		{"beyond the last bound", []int64{10_000_000}, 0.5, 600_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ledger.HistogramPercentile(tt.values, tt.p); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
	// For any values, the answer is the smallest bound at or above the
	// exact percentile_disc: never below it, and at most 25 % above it.
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		vals := make([]int64, 1+r.IntN(50))
		for i := range vals {
			vals[i] = r.Int64N(600_000)
		}
		slices.Sort(vals)
		for _, p := range []float64{0.5, 0.95} {
			exact := vals[max(int(math.Ceil(p*float64(len(vals)))), 1)-1]
			got := ledger.HistogramPercentile(vals, p)
			i := slices.Index(ledger.LatencyBuckets, got)
			if got < exact || i < 0 || (i > 0 && ledger.LatencyBuckets[i-1] >= exact) {
				t.Fatalf("p%v of %v = %d; exact %d", p, vals, got, exact)
			}
		}
	}
}

func seq(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i + 1)
	}
	return s
}
