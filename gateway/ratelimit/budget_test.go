package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oais/oais/internal/faulttest"
)

// testFloor checks Counter.Floor on a budget: a missing counter starts
// from it, a counter behind it is raised to it, and it applies to what was
// settled, never to what is reserved.
func testFloor(t *testing.T, newLimiter func(t *testing.T) Limiter) {
	const limit = 10
	type step struct {
		cost, floor int64
		settle      int64 // actual value; -1 keeps the reservation open
	}
	cases := []struct {
		name  string
		steps []step
		// settleOpen settles the reservations kept open, in order.
		settleOpen    []int64
		lastFloor     int64 // the floor of the zero-cost reservation that reads Remaining
		wantRemaining int64 // after the last step, seen by a zero-cost reservation
	}{
		{name: "a missing counter starts from its floor", steps: []step{{cost: 1, floor: 8, settle: -1}}, wantRemaining: 1},
		{name: "a lower floor never lowers a count", steps: []step{{cost: 5, settle: 5}, {floor: 2, settle: 0}}, wantRemaining: 5},
		{name: "a floor raises a count behind it", steps: []step{{cost: 2, settle: 2}, {floor: 6, settle: 0}}, wantRemaining: 4},
		// The floor is the ledger, which may hold an open reservation's
		// use already (a lease's requests): the reservation stands for it.
		{name: "a floor counts open reservations toward it", steps: []step{{cost: 4, settle: -1}, {floor: 3, settle: 0}}, wantRemaining: 6},
		{name: "a floor beyond open reservations raises the settled part", steps: []step{{cost: 4, settle: -1}, {floor: 7, settle: 0}}, wantRemaining: 3},
		{name: "a settlement adds to a raised count", steps: []step{{cost: 4, settle: -1}, {floor: 7, settle: 0}}, settleOpen: []int64{2}, wantRemaining: 5},
		{name: "the next floor catches up once reservations settle", steps: []step{{cost: 4, settle: -1}, {floor: 7, settle: 0}}, settleOpen: []int64{2}, lastFloor: 8, wantRemaining: 2},
		{name: "settling use the floor had counts it once", steps: []step{{cost: 4, settle: -1}, {floor: 3, settle: 0}}, settleOpen: []int64{3}, lastFloor: 3, wantRemaining: 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			l := newLimiter(t)
			var open []*Reservation
			for i, s := range tc.steps {
				r, err := l.Reserve(ctx, []Counter{{Key: "ws:1:spend", Limit: limit, Cost: s.cost, Floor: s.floor}})
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if s.settle < 0 {
					open = append(open, r)
				} else if err := l.Settle(ctx, r, []int64{s.settle}); err != nil {
					t.Fatalf("step %d: settle: %v", i, err)
				}
			}
			for i, v := range tc.settleOpen {
				if err := l.Settle(ctx, open[i], []int64{v}); err != nil {
					t.Fatalf("settle open %d: %v", i, err)
				}
			}
			r, err := l.Reserve(ctx, []Counter{{Key: "ws:1:spend", Limit: limit, Floor: tc.lastFloor}})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.States[0].Remaining; got != tc.wantRemaining {
				t.Errorf("Remaining = %d, want %d", got, tc.wantRemaining)
			}
		})
	}
	t.Run("refuses past the floor", func(t *testing.T) {
		l := newLimiter(t)
		c := Counter{Key: "key:1:req", Limit: limit, Cost: 1, Floor: 8}
		for i, wantErr := range []bool{false, false, true} {
			_, err := l.Reserve(t.Context(), []Counter{c})
			if (err != nil) != wantErr {
				t.Fatalf("reserve %d from a floor of 8 of 10: err = %v, want error %v", i, err, wantErr)
			}
		}
	})
}

// TestRedisBudgetLost deletes a budget under a running limiter, as
// FLUSHDB, an eviction or an empty restart would: the next reservation
// starts it from the settled total Redis reported to this process's last
// reservation, or the caller's floor if higher, never from 0. (Settlements
// since that reservation are missing until the ledger's floor has them: a
// reply to a settlement would cost an allocation per request.) A
// settlement that arrives for a lost counter does not make it again at its
// own value.
func TestRedisBudgetLost(t *testing.T) {
	const limit = 1000
	cases := []struct {
		name string
		// inFlight reserves 600 before the loss and settles it at 50 after.
		inFlight      bool
		fresh         bool  // reserve through a second limiter (a replica that saw nothing)
		floor         int64 // the caller's, after the loss
		remadeAt      int64 // if > 0, a reservation makes the counter again from this floor before inFlight settles
		wantRemaining int64
	}{
		{name: "the last total seen", floor: 0, wantRemaining: limit - 300},
		{name: "the caller's floor when higher", floor: 450, wantRemaining: limit - 450},
		{name: "a replica that saw nothing starts from the caller's floor", fresh: true, floor: 250, wantRemaining: limit - 250},
		// The 50 reach the budget through the ledger (a later floor).
		{name: "a settlement after the loss does not make the counter", inFlight: true, wantRemaining: limit - 300},
		// The ledger had the 50 when the counter was made again (a lease's
		// requests are in it before the lease settles): not twice.
		{name: "a settlement from before the loss adds nothing to the counter made since", inFlight: true, remadeAt: 350, floor: 350, wantRemaining: limit - 350},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			c := newTestRedis(t, testRedisAddr())
			prefix := testPrefix(t, c)
			l := NewRedis(c, prefix, Options{})
			for range 3 {
				r := reserveBudget(t, l, 200, 0)
				if err := l.Settle(ctx, r, []int64{100}); err != nil {
					t.Fatal(err)
				}
			}
			reserveBudget(t, l, 0, 0) // the next request learns the 300
			var inFlight *Reservation
			if tc.inFlight {
				inFlight = reserveBudget(t, l, 600, 0)
			}
			if err := c.Del(ctx, l.name("ws:1:spend", 0).name).Err(); err != nil {
				t.Fatal(err)
			}
			if tc.remadeAt > 0 {
				reserveBudget(t, l, 0, tc.remadeAt)
			}
			if inFlight != nil {
				if err := l.Settle(ctx, inFlight, []int64{50}); err != nil {
					t.Fatal(err)
				}
				if n := c.Exists(ctx, l.name("ws:1:spend", 0).name).Val(); n != 0 && tc.remadeAt == 0 {
					t.Fatal("a settlement made the lost counter again")
				}
			}
			if tc.fresh {
				l = NewRedis(c, prefix, Options{})
			}
			r := reserveBudget(t, l, 0, tc.floor)
			if got := r.States[0].Remaining; got != tc.wantRemaining {
				t.Errorf("Remaining after the loss = %d, want %d", got, tc.wantRemaining)
			}
		})
	}
}

func reserveBudget(t *testing.T, l Limiter, cost, floor int64) *Reservation {
	t.Helper()
	r, err := l.Reserve(t.Context(), []Counter{{Key: "ws:1:spend", Limit: 1000, Cost: cost, Floor: floor}})
	if err != nil {
		t.Fatalf("reserve %d: %v", cost, err)
	}
	return r
}

// TestBudgetReservationsExpire attacks a budget with reservations nobody
// will settle: the limiter's reservation reached Redis but its caller
// gave up (a cancelled context), its round trip timed out so the fallback
// reserved locally too, or its settlement was dropped while Redis was
// unreachable. Each leaves the worst case in Redis (checked first: the
// attack works); it must stop counting once its ReservationTTL passes, and
// the budget must then be exactly what the ledger says (the floor), not
// the leak. Before reservations expired, each leak stayed for the rest of
// the month: Remaining stayed 400 and the budget refused requests it had
// room for (false insufficient_quota).
func TestBudgetReservationsExpire(t *testing.T) {
	const (
		limit = 1000
		worst = 600             // what a request reserves
		spent = 100             // what it cost; the ledger has it
		ttl   = 5 * time.Second // expiry comes within a 10 s slot after it
	)
	budget := []Counter{{Key: "ws:1:spend", Limit: limit, Cost: worst}}
	cases := []struct {
		name string
		// leak makes a reservation in Redis that will never be settled
		// there; floor is then what the ledger holds.
		leak  func(t *testing.T, srv *faulttest.Redis, proxy *tcpProxy, f *Fallback)
		floor int64
	}{
		{name: "context cancelled after the reservation was sent", floor: 0, leak: func(t *testing.T, srv *faulttest.Redis, _ *tcpProxy, f *Fallback) {
			admin := adminClient(t, srv)
			pause(t, admin)
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				waitBlocked(t, admin) // the script is in Redis, waiting to run
				cancel()
			}()
			var r Reservation
			if err := f.ReserveInto(ctx, budget, &r); !errors.Is(err, context.Canceled) {
				t.Fatalf("reserve = %v, want context.Canceled", err)
			}
			unpause(t, admin)
		}},
		{name: "round trip timed out and the fallback reserved locally", floor: spent, leak: func(t *testing.T, _ *faulttest.Redis, proxy *tcpProxy, f *Fallback) {
			// Redis runs the reservation, its reply is late: the round
			// trip times out (and go-redis may send it again).
			proxy.HoldReplies()
			var r Reservation
			if err := f.ReserveInto(t.Context(), budget, &r); err != nil || r.origin != originLocal {
				t.Fatalf("reserve with Redis not answering: %v, origin %d; want a local reservation", err, r.origin)
			}
			if err := f.Settle(t.Context(), &r, []int64{spent}); err != nil {
				t.Fatal(err)
			}
			proxy.ReleaseReplies()
			if !f.Probe(t.Context()) {
				t.Fatal("Redis did not come back")
			}
		}},
		{name: "settlement dropped while Redis was unreachable", floor: spent, leak: func(t *testing.T, _ *faulttest.Redis, proxy *tcpProxy, f *Fallback) {
			var r Reservation
			if err := f.ReserveInto(t.Context(), budget, &r); err != nil || r.origin != originRedis {
				t.Fatalf("reserve: %v, origin %d", err, r.origin)
			}
			proxy.Close()
			if err := f.Settle(t.Context(), &r, []int64{spent}); err != nil {
				t.Fatalf("settle with Redis gone = %v, want nil (dropped)", err)
			}
			if f.RedisUp() {
				t.Fatal("the fallback did not notice Redis was gone")
			}
			proxy.Restart()
			if !f.Probe(t.Context()) {
				t.Fatal("Redis did not come back")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits for its leak to expire, on its own Redis
			srv := faulttest.StartRedis(t)
			proxy := newTCPProxy(t, fmt.Sprintf("127.0.0.1:%d", srv.Port))
			// The gateway's client settings, but short timeouts and one
			// retry, so that a lost round trip fails well within the TTL.
			client := redis.NewClient(&redis.Options{Addr: proxy.addr, ReadTimeout: 300 * time.Millisecond,
				DialTimeout: 300 * time.Millisecond, MaxRetries: 1})
			t.Cleanup(func() { _ = client.Close() })
			remote := NewRedis(client, "oais:rl:", Options{ReservationTTL: ttl})
			f, err := NewFallback(remote, NewLocal(Options{}), FallbackOptions{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			// A running gateway has the scripts loaded: a reservation
			// answered NOSCRIPT would not run, so not leak.
			if _, err := f.Reserve(t.Context(), []Counter{{Key: "ws:1:spend", Limit: limit}}); err != nil {
				t.Fatal(err)
			}
			tc.leak(t, srv, proxy, f)

			remaining := func() int64 {
				t.Helper()
				r, err := remote.Reserve(t.Context(), []Counter{{Key: "ws:1:spend", Limit: limit, Floor: tc.floor}})
				if err != nil {
					t.Fatal(err)
				}
				return r.States[0].Remaining
			}
			// The leaked reservation holds its worst case, which stands
			// for the ledger's spend too (its request's, not yet settled).
			leaked := limit - remaining()
			if leaked < worst {
				t.Fatalf("the attack did not leak: Redis counts %d (the ledger %d), want at least one worst case (%d)", leaked, tc.floor, worst)
			}
			// The deadline only stops a broken test; expiry comes within a
			// 10-second slot after the TTL.
			wait, cancel := context.WithTimeout(t.Context(), ttl+20*time.Second)
			defer cancel()
			for got := remaining(); got != limit-tc.floor; got = remaining() {
				select {
				case <-wait.Done():
					t.Fatalf("Remaining = %d, want %d: the leaked reservation still counts", got, limit-tc.floor)
				case <-time.After(50 * time.Millisecond):
				}
			}
			t.Logf("leaked %d µ$ held until the reservations expired; then exactly the ledger's %d", leaked, tc.floor)
		})
	}
}

func adminClient(t *testing.T, srv *faulttest.Redis) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", srv.Port)})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// pause makes the private Redis hold every script it receives (CLIENT
// PAUSE WRITE) until unpause, at most 30 s.
func pause(t *testing.T, admin *redis.Client) {
	t.Helper()
	if err := admin.Do(t.Context(), "CLIENT", "PAUSE", "30000", "WRITE").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
}

func unpause(t *testing.T, admin *redis.Client) {
	t.Helper()
	if err := admin.Do(context.WithoutCancel(t.Context()), "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatalf("CLIENT UNPAUSE: %v", err)
	}
}

// waitBlocked waits until a client is held by the pause, i.e. a script
// call has reached Redis.
func waitBlocked(t *testing.T, admin *redis.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		info, err := admin.Info(ctx, "clients").Result()
		if err == nil {
			for _, line := range strings.Split(info, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "blocked_clients:"); ok {
					if n, _ := strconv.Atoi(v); n > 0 {
						return
					}
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFallbackStartsFromRedisTotal: when Redis goes away, a budget this
// replica now counts on its own starts from the settled total Redis last
// reported, not from the caller's older floor (say 0 at start): a replica
// that had seen the cap reached keeps refusing.
func TestFallbackStartsFromRedisTotal(t *testing.T) {
	requireRedis(t)
	proxy := newTCPProxy(t, testRedisAddr())
	client := newTestRedis(t, proxy.addr)
	remote := NewRedis(client, testPrefix(t, client), Options{})
	f, err := NewFallback(remote, NewLocal(Options{}), FallbackOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := reserveBudget(t, f, 200, 0)
		if err := f.Settle(t.Context(), r, []int64{300}); err != nil {
			t.Fatal(err)
		}
	}
	reserveBudget(t, f, 0, 0) // the next request learns the 900
	proxy.Close()
	r := reserveBudget(t, f, 50, 0)
	if r.origin != originLocal {
		t.Fatalf("origin %d with Redis gone, want local", r.origin)
	}
	if got, want := r.States[0].Remaining, int64(1000-900-50); got != want {
		t.Errorf("local Remaining = %d, want %d (from the 900 Redis reported)", got, want)
	}
}

// TestChargeAsync: a charge (an answer from the cache) adds to a budget's
// settled total on every limiter, leaves rolling counters alone, and does
// not make a budget Redis lost (its floor will).
func TestChargeAsync(t *testing.T) {
	newFallback := func(t *testing.T) Limiter {
		f, err := NewFallback(newTestRedisLimiter(t), NewLocal(Options{}), FallbackOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		name string
		new  func(t *testing.T) Limiter
	}{
		{"local", func(t *testing.T) Limiter { l, _ := newTestLocal(t); return l }},
		{"redis", func(t *testing.T) Limiter { return newTestRedisLimiter(t) }},
		{"fallback", newFallback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.new(t)
			rpm := Counter{Key: "ws:1:rpm", Limit: 10, Window: time.Minute}
			budget := Counter{Key: "ws:1:tokens", Limit: 1000, Floor: 100}
			charge := func(cs ...Counter) {
				t.Helper()
				done := make(chan error, 1)
				l.(Charger).ChargeAsync(cs, func(err error) { done <- err })
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			if _, err := l.Reserve(t.Context(), []Counter{rpm, budget}); err != nil {
				t.Fatal(err)
			}
			rpm.Cost, budget.Cost = 3, 30
			charge(rpm, budget)
			rpm.Cost, budget.Cost = 0, 0
			r, err := l.Reserve(t.Context(), []Counter{rpm, budget})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.States; got[0].Remaining != 10 || got[1].Remaining != 1000-100-30 {
				t.Errorf("after a charge of 30: rpm %d remaining (want 10), budget %d (want %d)", got[0].Remaining, got[1].Remaining, 1000-100-30)
			}
		})
	}
	t.Run("a lost budget is not made again", func(t *testing.T) {
		l := newTestRedisLimiter(t)
		done := make(chan error, 1)
		l.ChargeAsync([]Counter{{Key: "ws:1:tokens", Cost: 30}}, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := l.client.Exists(t.Context(), l.name("ws:1:tokens", 0).name).Val(); n != 0 {
			t.Error("a charge made a budget that did not exist")
		}
	})
}
