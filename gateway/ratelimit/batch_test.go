package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisBatchedExact drives one limiter from many goroutines at once, so
// reserves and settles share pipelined round trips, and checks that
// admission stays exact and every settlement lands.
func TestRedisBatchedExact(t *testing.T) {
	const limit, goroutines, tries = 100, 64, 5
	ctx := context.Background()
	l := newTestRedisLimiter(t)
	var admitted, denied atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			counters := []Counter{
				{Key: "ws:b:rpm", Limit: limit, Window: time.Minute, Cost: 1},
				{Key: "ws:b:tpm", Limit: 0, Window: time.Minute, Cost: 10},
				{Key: "ws:b:tokens", Limit: 0, Cost: 10},
			}
			for range tries {
				var r Reservation
				err := l.ReserveInto(ctx, counters, &r)
				var d *Denied
				switch {
				case err == nil:
					admitted.Add(1)
					// Settle lower than reserved: 10 -> 4 tokens.
					if err := l.Settle(ctx, &r, []int64{1, 4, 4}); err != nil {
						t.Errorf("Settle: %v", err)
					}
				case errors.As(err, &d) && d.Index == 0:
					denied.Add(1)
				default:
					t.Errorf("Reserve: %v", err)
					return
				}
			}
		})
	}
	wait(t, &wg, "the reserving goroutines")
	if got := admitted.Load(); got != limit {
		t.Fatalf("admitted %d, want exactly %d", got, limit)
	}
	if got, want := denied.Load(), int64(goroutines*tries-limit); got != want {
		t.Fatalf("denied %d, want %d", got, want)
	}
	// Every settlement applied: each admitted request holds 4 tokens in
	// both token counters, not the 10 it reserved.
	if got := l.client.HGet(ctx, l.name("ws:b:tpm", time.Minute).name, "s").Val(); got != "400" {
		t.Fatalf("tpm sum %q, want 400", got)
	}
	if got := l.client.HMGet(ctx, l.name("ws:b:tokens", 0).name, "v", "s").Val(); fmt.Sprint(got) != "[400 0]" {
		t.Fatalf("tokens settled and reserved %v, want [400 0]", got)
	}
}

// TestRedisBatchNoScript: after Redis loses its script cache (a restart),
// batched calls load the scripts again instead of failing.
func TestRedisBatchNoScript(t *testing.T) {
	ctx := context.Background()
	l := newTestRedisLimiter(t)
	c := []Counter{{Key: "ws:ns:rpm", Limit: 10, Window: time.Minute, Cost: 1}}
	if _, err := l.Reserve(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := l.client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	r, err := l.Reserve(ctx, c)
	if err != nil {
		t.Fatalf("Reserve after SCRIPT FLUSH: %v", err)
	}
	if r.States[0].Remaining != 8 {
		t.Fatalf("remaining %d, want 8", r.States[0].Remaining)
	}
}

// TestRedisBatchCancelled: a caller whose context is already done gets its
// context error, and its call is not sent.
func TestRedisBatchCancelled(t *testing.T) {
	l := newTestRedisLimiter(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := []Counter{{Key: "ws:cx:rpm", Limit: 10, Window: time.Minute, Cost: 1}}
	if _, err := l.Reserve(ctx, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	r, err := l.Reserve(context.Background(), c)
	if err != nil || r.States[0].Remaining != 9 {
		t.Fatalf("after a cancelled call: %v, remaining %d, want 9", err, r.States[0].Remaining)
	}
}

// TestRedisSettleAsync settles many reservations at once without waiting,
// so they share round trips (their own, or a reservation's) merged into
// single script calls, and checks
// that every settlement lands exactly once, including one whose delta is
// an increase, and that a settlement with nothing to change makes none.
func TestRedisSettleAsync(t *testing.T) {
	const n = 300
	ctx := context.Background()
	l := newTestRedisLimiter(t)
	counters := []Counter{
		{Key: "ws:sa:rpm", Limit: 0, Window: time.Minute, Cost: 1},
		{Key: "ws:sa:tpm", Limit: 0, Window: time.Minute, Cost: 10},
		{Key: "ws:sa:tokens", Limit: 0, Cost: 10},
	}
	resv := make([]Reservation, n)
	for i := range resv {
		if err := l.ReserveInto(ctx, counters, &resv[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	actual := []int64{1, 4, 4}
	for i := range resv {
		a := actual
		if i == 0 {
			a = []int64{1, 25, 25} // more than reserved
		}
		wg.Add(1)
		l.SettleAsync(&resv[i], a, func(err error) {
			if err != nil {
				failed.Add(1)
			}
			wg.Done()
		})
	}
	// A reservation now takes the queued settlements along with it.
	if _, err := l.Reserve(ctx, []Counter{{Key: "ws:sa:other", Window: time.Minute, Cost: 1}}); err != nil {
		t.Fatal(err)
	}
	wait(t, &wg, "every settlement's callback")
	if failed.Load() != 0 {
		t.Fatalf("%d settlements failed", failed.Load())
	}
	want := fmt.Sprint(25 + 4*(n-1))
	if got := l.client.HGet(ctx, l.name("ws:sa:tpm", time.Minute).name, "s").Val(); got != want {
		t.Fatalf("tpm sum %q, want %s", got, want)
	}
	if got := l.client.HMGet(ctx, l.name("ws:sa:tokens", 0).name, "v", "s").Val(); fmt.Sprint(got) != "["+want+" 0]" {
		t.Fatalf("tokens settled and reserved %v, want [%s 0]", got, want)
	}
	if got := l.client.HGet(ctx, l.name("ws:sa:rpm", time.Minute).name, "s").Val(); got != fmt.Sprint(n) {
		t.Fatalf("rpm sum %q, want %d", got, n)
	}
	// Settled once: a second settlement is refused, synchronously.
	var second error
	l.SettleAsync(&resv[1], actual, func(err error) { second = err })
	if !errors.Is(second, ErrSettled) {
		t.Fatalf("second settlement: %v, want ErrSettled", second)
	}
	// Nothing to change and no budget to release: done at once, nothing
	// sent.
	var r Reservation
	if err := l.ReserveInto(ctx, counters[:2], &r); err != nil {
		t.Fatal(err)
	}
	called := false
	l.SettleAsync(&r, []int64{1, 10}, func(err error) { called = err == nil })
	if !called {
		t.Fatal("a settlement that changes nothing did not complete at once")
	}
}

// TestRedisReserveMany sends reservations that share a round trip as one
// call, after Redis lost its scripts, and checks that they are decided one
// after the other: with room for two, the third is denied.
func TestRedisReserveMany(t *testing.T) {
	ctx := context.Background()
	l := newTestRedisLimiter(t)
	if err := l.client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	c := Counter{Key: "ws:many:rpm", Limit: 2, Window: time.Minute, Cost: 1}
	other := Counter{Key: "ws:many:tokens", Cost: 7}
	var batch []*scriptOp
	for i := range 3 {
		op := newOp(ctx, false)
		op.keys = append(op.keys, l.name(c.Key, c.Window).key)
		op.nums = append(op.nums, c.Limit, c.Window.Microseconds(), c.Cost, 0)
		if i == 1 { // reservations of different sizes share the call
			op.keys = append(op.keys, l.name(other.Key, 0).key)
			op.nums = append(op.nums, other.Limit, 0, other.Cost, 0)
		}
		batch = append(batch, op)
	}
	l.batch.exec(l.batch.newCall(), batch)
	for i, op := range batch {
		recv(t, op.done, fmt.Sprintf("op %d's reply", i))
		want := 9
		if i == 1 {
			want = 12
		}
		if op.err != nil || len(op.res) != want {
			t.Fatalf("op %d: err %v, reply %v", i, op.err, op.res)
		}
		admitted, total := op.res[0] == 1, op.res[6]
		if wantAdmit := i < 2; admitted != wantAdmit || total != int64(min(i+1, 2)) {
			t.Errorf("op %d: admitted %v (total %d), want %v", i, admitted, total, wantAdmit)
		}
	}
	if got := batch[1].res[9]; got != 7 {
		t.Errorf("second counter of op 1 holds %d, want 7", got)
	}
	if batch[2].res[1] != 1 {
		t.Errorf("denied index %d, want 1", batch[2].res[1])
	}
}

// TestSplitRepliesMalformed: a reply that does not hold every
// reservation's values fails them all rather than misreading one.
func TestSplitRepliesMalformed(t *testing.T) {
	for _, reply := range []string{"", "1 0 2 3 0 0 5 6", "1 0 2 3 0 0 5 6 7 8", "1 0 x 3 0 0 5 6 7"} {
		op := newOp(context.Background(), false)
		op.keys = append(op.keys, "k")
		cmd := redis.NewCmd(context.Background())
		cmd.SetVal(reply)
		splitReplies(cmd, []*scriptOp{op})
		if op.err == nil {
			t.Errorf("reply %q: no error, res %v", reply, op.res)
		}
	}
}
