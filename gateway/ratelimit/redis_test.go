package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestRedisLimiter(t *testing.T) *Redis {
	t.Helper()
	c := newTestRedis(t, testRedisAddr())
	return NewRedis(c, testPrefix(t, c), Options{})
}

// TestRedisReserve runs the decisions of TestLocalReserve that don't need
// a clock against Redis, whose clock the test cannot move: durations are
// checked against bounds rather than exactly.
func TestRedisReserve(t *testing.T) {
	const minute = time.Minute
	cases := []struct {
		name          string
		limit         int64
		window        time.Duration
		fills         []int64
		cost          int64
		wantDenied    bool
		wantTooLarge  bool
		wantRemaining int64
		wantRetry     bool // RetryAfter in (0, window]
		wantReset     bool // Reset in (0, window]
	}{
		{name: "rolling admits under the limit", limit: 3, window: minute, fills: []int64{1}, cost: 1, wantRemaining: 1, wantReset: true},
		{name: "rolling denies at the limit", limit: 2, window: minute, fills: []int64{1, 1}, cost: 1, wantDenied: true, wantRetry: true, wantReset: true},
		{name: "tokens deny a cost that does not fit", limit: 100, window: minute, fills: []int64{30, 50}, cost: 60, wantDenied: true, wantRemaining: 20, wantRetry: true, wantReset: true},
		{name: "rolling cost above the limit never fits", limit: 10, window: minute, fills: []int64{4}, cost: 11, wantDenied: true, wantTooLarge: true, wantRemaining: 6, wantRetry: true, wantReset: true},
		{name: "cumulative admits up to the limit", limit: 3, fills: []int64{2}, cost: 1, wantRemaining: 0},
		{name: "cumulative denies without a retry", limit: 2, fills: []int64{2}, cost: 1, wantDenied: true},
		{name: "no limit admits and still counts", limit: 0, window: minute, fills: []int64{1000}, cost: 1000, wantReset: true},
		{name: "zero cost is admitted at the limit", limit: 1, window: minute, fills: []int64{1}, cost: 0, wantReset: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			l := newTestRedisLimiter(t)
			c := Counter{Key: "ws:1:c", Limit: tc.limit, Window: tc.window}
			for i, cost := range tc.fills {
				c.Cost = cost
				if _, err := l.Reserve(ctx, []Counter{c}); err != nil {
					t.Fatalf("fill %d: %v", i, err)
				}
			}
			c.Cost = tc.cost
			r, err := l.Reserve(ctx, []Counter{c})
			states := []State(nil)
			var d *Denied
			if tc.wantDenied {
				if !errors.As(err, &d) {
					t.Fatalf("Reserve = %v, want *Denied", err)
				}
				if d.TooLarge != tc.wantTooLarge {
					t.Errorf("TooLarge = %v, want %v", d.TooLarge, tc.wantTooLarge)
				}
				if inWindow := d.RetryAfter > 0 && d.RetryAfter <= tc.window; inWindow != tc.wantRetry {
					t.Errorf("RetryAfter = %v, want in (0, %v]: %v", d.RetryAfter, tc.window, tc.wantRetry)
				}
				states = d.States
			} else {
				if err != nil {
					t.Fatalf("Reserve: %v", err)
				}
				if r.At.IsZero() {
					t.Error("At is zero, want Redis server time")
				}
				states = r.States
			}
			if len(states) != 1 {
				t.Fatalf("States = %+v, want one", states)
			}
			st := states[0]
			if st.Limit != tc.limit || st.Remaining != tc.wantRemaining {
				t.Errorf("State = %+v, want Limit %d Remaining %d", st, tc.limit, tc.wantRemaining)
			}
			if inWindow := st.Reset > 0 && st.Reset <= tc.window; inWindow != tc.wantReset {
				t.Errorf("Reset = %v, want in (0, %v]: %v", st.Reset, tc.window, tc.wantReset)
			}
		})
	}
}

func TestRedisAllOrNothing(t *testing.T) {
	ctx := context.Background()
	l := newTestRedisLimiter(t)
	ws := Counter{Key: "ws:1:rpm", Limit: 10, Window: time.Minute, Cost: 1}
	tpm := Counter{Key: "ws:1:tpm", Limit: 100, Window: time.Minute, Cost: 50}
	key := Counter{Key: "key:1:req", Limit: 1, Cost: 1, Floor: 1}
	_, err := l.Reserve(ctx, []Counter{ws, tpm, key})
	var d *Denied
	if !errors.As(err, &d) || d.Index != 2 || d.Key != key.Key || d.RetryAfter != 0 {
		t.Fatalf("Reserve = %#v, want *Denied on counter 2 with no RetryAfter", err)
	}
	ws.Cost, tpm.Cost = 0, 0
	r, err := l.Reserve(ctx, []Counter{ws, tpm})
	if err != nil {
		t.Fatal(err)
	}
	if r.States[0].Remaining != 10 || r.States[1].Remaining != 100 {
		t.Errorf("States = %+v after a denial, want nothing reserved", r.States)
	}
}

func TestRedisSettle(t *testing.T) {
	cases := []struct {
		name          string
		window        time.Duration
		reserved      int64
		actual        int64
		wantRemaining int64
	}{
		{name: "rolling settles up", window: time.Minute, reserved: 10, actual: 25, wantRemaining: 75},
		{name: "rolling settles down", window: time.Minute, reserved: 40, actual: 15, wantRemaining: 85},
		{name: "rolling failed request settles at zero", window: time.Minute, reserved: 40, actual: 0, wantRemaining: 100},
		{name: "cumulative settles up", reserved: 10, actual: 25, wantRemaining: 75},
		{name: "cumulative settles down", reserved: 10, actual: 3, wantRemaining: 97},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			l := newTestRedisLimiter(t)
			c := Counter{Key: "ws:1:tpm", Limit: 100, Window: tc.window, Cost: tc.reserved}
			r, err := l.Reserve(ctx, []Counter{c})
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Settle(ctx, r, []int64{tc.actual}); err != nil {
				t.Fatalf("Settle: %v", err)
			}
			if err := l.Settle(ctx, r, []int64{tc.actual}); !errors.Is(err, ErrSettled) {
				t.Errorf("second Settle = %v, want ErrSettled", err)
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

// TestRedisWindowPasses uses a short real window: the units leave it and
// a late settle is dropped. Only the order of events matters, not timing.
func TestRedisWindowPasses(t *testing.T) {
	ctx := context.Background()
	l := newTestRedisLimiter(t)
	c := Counter{Key: "ws:1:rpm", Limit: 2, Window: 120 * time.Millisecond, Cost: 1}
	var first *Reservation
	for i := range 2 {
		r, err := l.Reserve(ctx, []Counter{c})
		if err != nil {
			t.Fatalf("reserve %d: %v", i, err)
		}
		first = r
	}
	var d *Denied
	if _, err := l.Reserve(ctx, []Counter{c}); !errors.As(err, &d) {
		t.Fatalf("third Reserve = %v, want *Denied", err)
	}
	waitFor(t, "the window to pass", func() bool {
		r, err := l.Reserve(ctx, []Counter{{Key: c.Key, Limit: c.Limit, Window: c.Window}})
		return err == nil && r.States[0].Remaining == 2
	})
	if err := l.Settle(ctx, first, []int64{50}); err != nil {
		t.Fatal(err)
	}
	r, err := l.Reserve(ctx, []Counter{c})
	if err != nil {
		t.Fatalf("Reserve after a late settle: %v (the settle should have been dropped)", err)
	}
	if r.States[0].Remaining != 1 {
		t.Errorf("Remaining = %d, want 1", r.States[0].Remaining)
	}
}

func TestRedisFloor(t *testing.T) {
	testFloor(t, func(t *testing.T) Limiter { return newTestRedisLimiter(t) })
}

// TestRedisTwoReplicasExact is the contract's check: two gateways (two
// limiters, two clients) share RPM=50 and admit exactly 50 in the window.
func TestRedisTwoReplicasExact(t *testing.T) {
	const rpm, goroutines, tries = 50, 8, 20
	ctx := context.Background()
	c1 := newTestRedis(t, testRedisAddr())
	c2 := newTestRedis(t, testRedisAddr())
	prefix := testPrefix(t, c1)
	replicas := []*Redis{NewRedis(c1, prefix, Options{}), NewRedis(c2, prefix, Options{})}

	var admitted, denied atomic.Int64
	var wg sync.WaitGroup
	for _, l := range replicas {
		for g := range goroutines {
			wg.Go(func() {
				counters := []Counter{
					{Key: "ws:1:rpm", Limit: rpm, Window: time.Minute, Cost: 1},
					{Key: "ws:1:tpm", Limit: 1_000_000, Window: time.Minute, Cost: 10},
					{Key: "key:" + string(rune('a'+g)) + ":req", Limit: 1000, Cost: 1},
				}
				var r Reservation
				for range tries {
					err := l.ReserveInto(ctx, counters, &r)
					var d *Denied
					switch {
					case err == nil:
						admitted.Add(1)
					case errors.As(err, &d) && d.Index == 0 && d.RetryAfter > 0:
						denied.Add(1)
					default:
						t.Errorf("Reserve: %v", err)
						return
					}
				}
			})
		}
	}
	wait(t, &wg, "both replicas' reserving goroutines")
	if got := admitted.Load(); got != rpm {
		t.Errorf("admitted %d across two replicas, want exactly %d", got, rpm)
	}
	if got, want := denied.Load(), int64(2*goroutines*tries-rpm); got != want {
		t.Errorf("denied %d, want %d", got, want)
	}
}

func TestRedisUnavailable(t *testing.T) {
	requireRedis(t)
	p := newTCPProxy(t, testRedisAddr())
	c := newTestRedis(t, p.addr)
	l := NewRedis(c, testPrefix(t, c), Options{})
	p.Close()
	cases := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{name: "reserve", call: func(ctx context.Context) error {
			_, err := l.Reserve(ctx, []Counter{{Key: "a", Limit: 1, Window: time.Minute, Cost: 1}})
			return err
		}},
		{name: "ping", call: l.Ping},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(context.Background()); !errors.Is(err, ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable", err)
			}
		})
	}
}

func BenchmarkRedisReserve(b *testing.B) {
	ctx := context.Background()
	c := newTestRedis(b, testRedisAddr())
	l := NewRedis(c, testPrefix(b, c), Options{})
	counters := benchCounters("ws:1", "key:1")
	actual := []int64{1, 500, 1, 1}
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
}

// BenchmarkRedisReserveParallel is the gateway's use: many requests at
// once, each a ReserveInto and, later, a SettleAsync, sharing round trips.
func BenchmarkRedisReserveParallel(b *testing.B) {
	ctx := context.Background()
	c := newTestRedis(b, testRedisAddr())
	l := NewRedis(c, testPrefix(b, c), Options{})
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		counters := benchCounters("ws:1", "key:1")
		actual := []int64{1, 500, 1, 1}
		var r Reservation
		for pb.Next() {
			if err := l.ReserveInto(ctx, counters, &r); err != nil {
				b.Error(err)
				return
			}
			wg.Add(1)
			l.SettleAsync(&r, actual, func(err error) {
				if err != nil {
					b.Error(err)
				}
				wg.Done()
			})
		}
	})
	wait(b, &wg, "every settlement's callback")
}
