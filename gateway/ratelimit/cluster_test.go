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

	"github.com/oais/oais/internal/faulttest"
)

// TestRedisClusterExact runs the batched limiter on a private 3-master
// Redis Cluster: many goroutines reserve and settle against counters of
// many workspaces at once, each request's counters tagged with its
// workspace ({w…}), so the batcher must split every round trip into one
// script call per hash slot. Admission stays exact per workspace and every
// settlement lands; the counters are spread over the masters. On a batcher
// that sends every waiting reservation's keys in one EVALSHA, Redis
// Cluster refuses the call (CROSSSLOT), and every reservation fails.
func TestRedisClusterExact(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster; skipped with -short")
	}
	const (
		workspaces = 24
		limit      = 15
		goroutines = 48
		tries      = 20 // per goroutine: 960 attempts, 40 per workspace
	)
	rc := faulttest.StartRedisCluster(t, 3)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	l := NewRedis(c, "oais:rl:", Options{})
	counters := func(w int) []Counter {
		tag := fmt.Sprintf("{w%d}", w)
		return []Counter{
			{Key: "ws:" + tag + ":rpm", Limit: limit, Window: time.Minute, Cost: 1},
			{Key: "ws:" + tag + ":tpm", Window: time.Minute, Cost: 10},
			{Key: "key:" + tag + ":k:rpm", Window: time.Minute, Cost: 1},
			{Key: "ws:" + tag + ":tokens", Cost: 10},
		}
	}
	var admitted [workspaces]atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg, settles sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range tries {
				w := (g*tries + i) % workspaces
				var r Reservation
				err := l.ReserveInto(ctx, counters(w), &r)
				var d *Denied
				switch {
				case err == nil:
					admitted[w].Add(1)
					settles.Add(1)
					l.SettleAsync(&r, []int64{1, 4, 1, 4}, func(err error) {
						if err != nil {
							failed.Add(1)
							firstErr.CompareAndSwap(nil, err)
						}
						settles.Done()
					})
				case errors.As(err, &d) && d.Index == 0:
				default:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wait(t, &wg, "the reserving goroutines")
	wait(t, &settles, "every settlement's callback")
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d reservations or settlements failed on the cluster; first: %v", n, firstErr.Load())
	}
	total := 0
	for w := range workspaces {
		if got := admitted[w].Load(); got != limit {
			t.Errorf("workspace %d: admitted %d, want exactly %d", w, got, limit)
		}
		total += int(admitted[w].Load())
		cs := counters(w)
		if got := c.HMGet(ctx, l.name(cs[3].Key, 0).name, "v", "s").Val(); fmt.Sprint(got) != fmt.Sprintf("[%d 0]", 4*limit) {
			t.Errorf("workspace %d: tokens settled and reserved %v, want [%d 0]", w, got, 4*limit)
		}
		if got := c.HGet(ctx, l.name(cs[1].Key, time.Minute).name, "s").Val(); got != fmt.Sprint(4*limit) {
			t.Errorf("workspace %d: tpm sum %q, want %d", w, got, 4*limit)
		}
	}
	perNode := rc.KeysPerNode()
	t.Logf("FIGURE cluster: %d workspaces × limit %d on 3 masters: %d admitted of %d attempts, 0 failed; keys per master %v",
		workspaces, limit, total, goroutines*tries, perNode)
	for i, n := range perNode {
		if n == 0 {
			t.Errorf("master %d holds no counter: workspaces are not spread over the cluster (%v)", i, perNode)
		}
	}
}

// TestRedisClusterRefusesCountersAcrossSlots: on a cluster, a reservation
// whose counters hash to different slots cannot be one script call; it is
// refused before anything is sent, with an error that says why, and the
// reservations sharing its round trip are unaffected.
func TestRedisClusterRefusesCountersAcrossSlots(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster; skipped with -short")
	}
	rc := faulttest.StartRedisCluster(t, 3)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	l := NewRedis(c, "oais:rl:", Options{})
	_, err := l.Reserve(context.Background(), []Counter{
		{Key: "ws:{a}:rpm", Limit: 5, Window: time.Minute, Cost: 1},
		{Key: "ws:{b}:rpm", Limit: 5, Window: time.Minute, Cost: 1},
	})
	if !errors.Is(err, ErrCrossSlot) {
		t.Fatalf("counters in two slots: err %v, want ErrCrossSlot", err)
	}
	r, err := l.Reserve(context.Background(), []Counter{{Key: "ws:{a}:rpm", Limit: 5, Window: time.Minute, Cost: 1}})
	if err != nil || r.States[0].Remaining != 4 {
		t.Fatalf("after the refusal: %v, remaining %v, want 4 (nothing reserved by the refused call)", err, r)
	}
}
