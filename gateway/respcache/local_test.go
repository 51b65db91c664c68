package respcache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/oais/oais/gateway"
)

func newTestLocal(maxBytes int64) (*Local, *fakeClock) {
	clk := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	c := NewLocal(maxBytes)
	c.now = clk.Now
	return c, clk
}

func TestLocal(t *testing.T) {
	testCache(t, func(*testing.T) gateway.Cache {
		c, _ := newTestLocal(64 << 20)
		return c
	})
}

func TestLocalTTL(t *testing.T) {
	cases := []struct {
		name   string
		ttl    time.Duration
		wait   time.Duration
		wantOK bool
	}{
		{name: "fresh", ttl: time.Minute, wait: 59 * time.Second, wantOK: true},
		{name: "expired at its ttl", ttl: time.Minute, wait: time.Minute, wantOK: false},
		{name: "long expired", ttl: time.Second, wait: time.Hour, wantOK: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c, clk := newTestLocal(1 << 20)
			if err := c.Set(ctx, "k", testEntry(), tc.ttl); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tc.wait)
			_, ok, err := c.Get(ctx, "k")
			if err != nil || ok != tc.wantOK {
				t.Errorf("Get ok = %v, %v; want %v", ok, err, tc.wantOK)
			}
		})
	}
}

// TestLocalBoundedByBytes fills a one-shard cache past its budget: the
// least recently used entries go, the bytes held stay under the budget.
func TestLocalBoundedByBytes(t *testing.T) {
	ctx := context.Background()
	const body = 10 << 10
	const maxBytes = 10 * (body + entryOverhead + 8)
	c, _ := newTestLocal(maxBytes)
	if len(c.shards) != 1 {
		t.Fatalf("%d shards for a small budget, want 1", len(c.shards))
	}
	set := func(key string) {
		t.Helper()
		if err := c.Set(ctx, key, gateway.StoredAnswer{Status: 200, Body: make([]byte, body)}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		set(fmt.Sprintf("k%d", i))
	}
	if _, ok, _ := c.Get(ctx, "k0"); !ok { // k0 becomes the most recent
		t.Fatal("k0 evicted before the budget was reached")
	}
	for i := 10; i < 15; i++ {
		set(fmt.Sprintf("k%d", i))
	}
	cases := []struct {
		key    string
		wantOK bool
	}{
		{key: "k0", wantOK: true},
		{key: "k1", wantOK: false},
		{key: "k5", wantOK: false},
		{key: "k6", wantOK: true},
		{key: "k14", wantOK: true},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			if _, ok, _ := c.Get(ctx, tc.key); ok != tc.wantOK {
				t.Errorf("%s cached = %v, want %v", tc.key, ok, tc.wantOK)
			}
		})
	}
	if s := &c.shards[0]; s.bytes > s.max {
		t.Errorf("holds %d bytes, budget %d", s.bytes, s.max)
	}
}

func BenchmarkLocalGet(b *testing.B) {
	ctx := context.Background()
	c := NewLocal(64 << 20)
	if err := c.Set(ctx, "k", testEntry(), time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, _ := c.Get(ctx, "k"); !ok {
				b.Fatal("miss")
			}
		}
	})
}
