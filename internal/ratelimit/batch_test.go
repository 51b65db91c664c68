package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	wg.Wait()
	if got := admitted.Load(); got != limit {
		t.Fatalf("admitted %d, want exactly %d", got, limit)
	}
	if got, want := denied.Load(), int64(goroutines*tries-limit); got != want {
		t.Fatalf("denied %d, want %d", got, want)
	}
	// Every settlement applied: each admitted request holds 4 tokens in
	// both token counters, not the 10 it reserved.
	if got := l.client.HGet(ctx, l.key("ws:b:tpm", time.Minute), "s").Val(); got != "400" {
		t.Fatalf("tpm sum %q, want 400", got)
	}
	if got := l.client.Get(ctx, l.key("ws:b:tokens", 0)).Val(); got != "400" {
		t.Fatalf("tokens %q, want 400", got)
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
