package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestLocal(t testing.TB) (*Local, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	return NewLocal(Options{Now: clk.Now}), clk
}

// fill is an admitted reservation made before the request under test.
type fill struct {
	after time.Duration // clock advance before it
	cost  int64
}

func TestLocalReserve(t *testing.T) {
	const minute = time.Minute
	cases := []struct {
		name         string
		limit        int64
		window       time.Duration
		fills        []fill
		wait         time.Duration
		cost         int64
		wantDenied   bool
		wantRetry    time.Duration
		wantTooLarge bool
		want         State
	}{
		{
			name: "rolling admits under the limit", limit: 3, window: minute,
			fills: []fill{{cost: 1}}, cost: 1,
			want: State{Limit: 3, Remaining: 1, Reset: minute},
		},
		{
			name: "rolling denies at the limit until the oldest bucket leaves", limit: 2, window: minute,
			fills: []fill{{cost: 1}, {after: 10 * time.Second, cost: 1}}, wait: 5 * time.Second, cost: 1,
			wantDenied: true, wantRetry: 45 * time.Second,
			want: State{Limit: 2, Remaining: 0, Reset: 55 * time.Second},
		},
		{
			name: "rolling frees units once the window has passed", limit: 2, window: minute,
			fills: []fill{{cost: 2}}, wait: minute, cost: 1,
			want: State{Limit: 2, Remaining: 1, Reset: minute},
		},
		{
			name: "tokens wait for enough buckets to free the cost", limit: 100, window: minute,
			fills: []fill{{cost: 30}, {after: 20 * time.Second, cost: 50}}, wait: 10 * time.Second, cost: 60,
			wantDenied: true, wantRetry: 50 * time.Second,
			want: State{Limit: 100, Remaining: 20, Reset: 50 * time.Second},
		},
		{
			name: "rolling cost above the limit never fits", limit: 10, window: minute,
			fills: []fill{{cost: 4}}, cost: 11,
			wantDenied: true, wantTooLarge: true, wantRetry: minute,
			want: State{Limit: 10, Remaining: 6, Reset: minute},
		},
		{
			name: "cumulative admits up to the limit", limit: 3, window: 0,
			fills: []fill{{cost: 2}}, cost: 1,
			want: State{Limit: 3, Remaining: 0},
		},
		{
			name: "cumulative never decays", limit: 2, window: 0,
			fills: []fill{{cost: 2}}, wait: 500 * time.Hour, cost: 1,
			wantDenied: true, wantRetry: 0,
			want: State{Limit: 2, Remaining: 0},
		},
		{
			name: "no limit admits and still counts", limit: 0, window: minute,
			fills: []fill{{cost: 1000}}, cost: 1000,
			want: State{Limit: 0, Remaining: 0, Reset: minute},
		},
		{
			name: "zero cost is admitted at the limit", limit: 1, window: minute,
			fills: []fill{{cost: 1}}, cost: 0,
			want: State{Limit: 1, Remaining: 0, Reset: minute},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			l, clk := newTestLocal(t)
			c := Counter{Key: "ws:1:c", Limit: tc.limit, Window: tc.window}
			for i, f := range tc.fills {
				clk.Advance(f.after)
				c.Cost = f.cost
				if _, err := l.Reserve(ctx, []Counter{c}); err != nil {
					t.Fatalf("fill %d: %v", i, err)
				}
			}
			clk.Advance(tc.wait)
			c.Cost = tc.cost
			r, err := l.Reserve(ctx, []Counter{c})
			checkDecision(t, r, err, tc.wantDenied, tc.wantRetry, tc.wantTooLarge, tc.want)
		})
	}
}

// checkDecision compares one single-counter decision with the expected
// outcome, exactly.
func checkDecision(t *testing.T, r *Reservation, err error, wantDenied bool, wantRetry time.Duration, wantTooLarge bool, want State) {
	t.Helper()
	var d *Denied
	if wantDenied {
		if !errors.As(err, &d) {
			t.Fatalf("Reserve = %v, %v; want *Denied", r, err)
		}
		if d.Index != 0 || d.RetryAfter != wantRetry || d.TooLarge != wantTooLarge {
			t.Errorf("Denied = {Index %d RetryAfter %v TooLarge %v}, want {0 %v %v}", d.Index, d.RetryAfter, d.TooLarge, wantRetry, wantTooLarge)
		}
		if len(d.States) != 1 || d.States[0] != want {
			t.Errorf("Denied.States = %+v, want [%+v]", d.States, want)
		}
		return
	}
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	if len(r.States) != 1 || r.States[0] != want {
		t.Errorf("States = %+v, want [%+v]", r.States, want)
	}
}

func TestLocalAllOrNothing(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	ws := Counter{Key: "ws:1:rpm", Limit: 10, Window: time.Minute, Cost: 1}
	key := Counter{Key: "key:1:req", Limit: 1, Cost: 1}
	if _, err := l.Reserve(ctx, []Counter{key}); err != nil {
		t.Fatalf("fill: %v", err)
	}

	_, err := l.Reserve(ctx, []Counter{ws, key})
	var d *Denied
	if !errors.As(err, &d) || d.Index != 1 || d.Key != key.Key {
		t.Fatalf("Reserve = %v, want *Denied on counter 1", err)
	}
	if d.RetryAfter != 0 {
		t.Errorf("RetryAfter = %v for a cumulative budget, want 0", d.RetryAfter)
	}
	if d.States[0].Remaining != 10 {
		t.Errorf("States[0].Remaining = %d, want 10 (nothing reserved)", d.States[0].Remaining)
	}
	ws.Cost = 0
	r, err := l.Reserve(ctx, []Counter{ws})
	if err != nil {
		t.Fatal(err)
	}
	if r.States[0].Remaining != 10 {
		t.Errorf("first counter holds %d after a denial, want 0", 10-r.States[0].Remaining)
	}
}

func TestLocalSettle(t *testing.T) {
	const minute = time.Minute
	cases := []struct {
		name          string
		window        time.Duration
		reserved      int64
		actual        int64
		wait          time.Duration // before settling
		wantRemaining int64         // of limit 100, read right after settling
	}{
		{name: "rolling settles up", window: minute, reserved: 10, actual: 25, wantRemaining: 75},
		{name: "rolling settles down", window: minute, reserved: 40, actual: 15, wantRemaining: 85},
		{name: "rolling failed request settles at zero", window: minute, reserved: 40, actual: 0, wantRemaining: 100},
		{name: "rolling settles in its bucket later in the window", window: minute, reserved: 10, actual: 30, wait: 30 * time.Second, wantRemaining: 70},
		{name: "rolling drops the adjustment once its window passed", window: minute, reserved: 10, actual: 30, wait: minute, wantRemaining: 100},
		{name: "cumulative settles up", reserved: 10, actual: 25, wait: 500 * time.Hour, wantRemaining: 75},
		{name: "cumulative settles down", reserved: 10, actual: 3, wantRemaining: 97},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			l, clk := newTestLocal(t)
			c := Counter{Key: "ws:1:tpm", Limit: 100, Window: tc.window, Cost: tc.reserved}
			r, err := l.Reserve(ctx, []Counter{c})
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(tc.wait)
			if err := l.Settle(ctx, r, []int64{tc.actual}); err != nil {
				t.Fatalf("Settle: %v", err)
			}
			c.Cost = 0
			r2, err := l.Reserve(ctx, []Counter{c})
			if err != nil {
				t.Fatal(err)
			}
			if got := r2.States[0].Remaining; got != tc.wantRemaining {
				t.Errorf("Remaining = %d, want %d", got, tc.wantRemaining)
			}
		})
	}
}

func TestLocalSettleErrors(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	c := []Counter{{Key: "a", Limit: 5, Window: time.Minute, Cost: 1}, {Key: "b", Limit: 5, Cost: 1}}
	cases := []struct {
		name    string
		prepare func(r *Reservation)
		actual  []int64
		want    error
	}{
		{name: "one value per counter", actual: []int64{1}, want: ErrSettleMismatch},
		{name: "twice", prepare: func(r *Reservation) { _ = l.Settle(ctx, r, []int64{1, 1}) }, actual: []int64{1, 1}, want: ErrSettled},
		{name: "not made here", prepare: func(r *Reservation) { r.origin = originRedis }, actual: []int64{1, 1}, want: ErrSettled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := l.Reserve(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if tc.prepare != nil {
				tc.prepare(r)
			}
			if err := l.Settle(ctx, r, tc.actual); !errors.Is(err, tc.want) {
				t.Errorf("Settle = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("negative cost", func(t *testing.T) {
		if _, err := l.Reserve(ctx, []Counter{{Key: "a", Cost: -1}}); !errors.Is(err, ErrNegativeCost) {
			t.Errorf("Reserve = %v, want ErrNegativeCost", err)
		}
	})
}

func TestLocalFloor(t *testing.T) {
	testFloor(t, func(t *testing.T) Limiter { l, _ := newTestLocal(t); return l })
}

// TestLocalConcurrent runs N goroutines against RPM = N*k, each trying
// 2k times with the clock frozen: exactly N*k pass, under -race.
func TestLocalConcurrent(t *testing.T) {
	const n, k = 8, 50
	cases := []struct {
		name  string
		extra func(g int) []Counter // counters besides the shared RPM
	}{
		{name: "one shared counter", extra: func(int) []Counter { return nil }},
		{name: "shared counter plus per-goroutine counters", extra: func(g int) []Counter {
			return []Counter{
				{Key: fmt.Sprintf("key:%d:rpm", g), Limit: 1000, Window: time.Minute, Cost: 1},
				{Key: fmt.Sprintf("key:%d:req", g), Limit: 1000, Cost: 1},
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			l, _ := newTestLocal(t)
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for g := range n {
				wg.Go(func() {
					counters := append([]Counter{{Key: "ws:1:rpm", Limit: n * k, Window: time.Minute, Cost: 1}}, tc.extra(g)...)
					var r Reservation
					for range 2 * k {
						err := l.ReserveInto(ctx, counters, &r)
						var d *Denied
						switch {
						case err == nil:
							admitted.Add(1)
						case !errors.As(err, &d):
							t.Error(err)
							return
						}
					}
				})
			}
			wait(t, &wg, "the reserving goroutines")
			if got := admitted.Load(); got != n*k {
				t.Errorf("admitted %d, want exactly %d", got, n*k)
			}
		})
	}
}

func TestLocalEvictsIdleCounters(t *testing.T) {
	ctx := context.Background()
	l, clk := newTestLocal(t)
	for i := range 1000 {
		if _, err := l.Reserve(ctx, []Counter{{Key: fmt.Sprintf("roll:%d", i), Limit: 10, Window: time.Minute, Cost: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Reserve(ctx, []Counter{{Key: "budget", Floor: 5}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		advance     time.Duration
		wantRolling int
		wantBudget  bool
	}{
		{name: "live window keeps rolling counters", advance: 30 * time.Second, wantRolling: 1000, wantBudget: true},
		{name: "passed window drops rolling counters", advance: time.Minute, wantRolling: 0, wantBudget: true},
		{name: "idle cumulative counter is dropped", advance: DefaultCumulativeIdle, wantRolling: 0, wantBudget: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk.Advance(tc.advance)
			touchEveryShard(t, l)
			rolling, budget := 0, false
			for i := range l.shards {
				for k := range l.shards[i].m {
					switch {
					case k == "budget":
						budget = true
					case len(k) > 5 && k[:5] == "roll:":
						rolling++
					}
				}
			}
			if rolling != tc.wantRolling || budget != tc.wantBudget {
				t.Errorf("kept %d rolling counters and budget %v, want %d and %v", rolling, budget, tc.wantRolling, tc.wantBudget)
			}
		})
	}
}

// touchEveryShard makes one zero-cost decision in each shard, which runs
// the shards' due sweeps.
func touchEveryShard(t *testing.T, l *Local) {
	t.Helper()
	seen := 0
	var done [localShards]bool
	for i := 0; seen < localShards; i++ {
		key := fmt.Sprintf("touch:%d", i)
		if s := l.shardOf(key); !done[s] {
			done[s] = true
			seen++
			if _, err := l.Reserve(context.Background(), []Counter{{Key: key, Window: time.Minute}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestLocalReserveIntoDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	counters := benchCounters("ws:1", "key:1")
	actual := []int64{1, 500, 1, 700}
	var r Reservation
	allocs := testing.AllocsPerRun(1000, func() {
		if err := l.ReserveInto(ctx, counters, &r); err != nil {
			t.Fatal(err)
		}
		if err := l.Settle(ctx, &r, actual); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReserveInto+Settle allocates %v times per call, want 0", allocs)
	}
}

// benchCounters is a gateway request's set: workspace RPM and TPM, the
// key's RPM and its lifetime request budget.
func benchCounters(ws, key string) []Counter {
	const big = math.MaxInt64 / 4
	return []Counter{
		{Key: ws + ":rpm", Limit: big, Window: time.Minute, Cost: 1},
		{Key: ws + ":tpm", Limit: big, Window: time.Minute, Cost: 800},
		{Key: key + ":rpm", Limit: big, Window: time.Minute, Cost: 1},
		{Key: key + ":req", Limit: big, Cost: 1},
	}
}

func BenchmarkLocalReserve(b *testing.B) {
	ctx := context.Background()
	l := NewLocal(Options{})
	counters := benchCounters("ws:1", "key:1")
	actual := []int64{1, 500, 1, 1}
	b.Run("ReserveInto+Settle", func(b *testing.B) {
		var r Reservation
		b.ReportAllocs()
		for b.Loop() {
			if err := l.ReserveInto(ctx, counters, &r); err != nil {
				b.Fatal(err)
			}
			if err := l.Settle(ctx, &r, actual); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Reserve", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Reserve(ctx, counters); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLocalReserveParallel has every goroutine share a workspace and
// use its own key, as concurrent requests of one tenant do.
func BenchmarkLocalReserveParallel(b *testing.B) {
	ctx := context.Background()
	l := NewLocal(Options{})
	var next atomic.Int64
	actual := []int64{1, 500, 1, 1}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		counters := benchCounters("ws:1", fmt.Sprintf("key:%d", next.Add(1)))
		var r Reservation
		for pb.Next() {
			if err := l.ReserveInto(ctx, counters, &r); err != nil {
				b.Fatal(err)
			}
			if err := l.Settle(ctx, &r, actual); err != nil {
				b.Fatal(err)
			}
		}
	})
}
