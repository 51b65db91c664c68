package respcache

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oais/oais/gateway"
)

func TestRedis(t *testing.T) {
	testCache(t, func(t *testing.T) gateway.Cache {
		c, prefix := newTestRedis(t)
		return NewRedis(c, prefix)
	})
}

func TestRedisTTL(t *testing.T) {
	ctx := context.Background()
	client, prefix := newTestRedis(t)
	c := NewRedis(client, prefix)

	t.Run("ttl is set on the key", func(t *testing.T) {
		if err := c.Set(ctx, "long", testEntry(), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		ttl, err := client.PTTL(ctx, prefix+"long").Result()
		if err != nil || ttl <= 0 || ttl > 10*time.Second {
			t.Errorf("PTTL = %v, %v; want in (0, 10s]", ttl, err)
		}
	})
	t.Run("short ttl expires", func(t *testing.T) {
		if err := c.Set(ctx, "short", testEntry(), 30*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// Poll until the entry is gone; the bound only stops a broken test.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, ok, err := c.Get(ctx, "short")
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("entry with a 30ms ttl still cached after 5s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestRedisCorrupt(t *testing.T) {
	ctx := context.Background()
	client, prefix := newTestRedis(t)
	c := NewRedis(client, prefix)
	cases := []struct {
		name  string
		value string
	}{
		{name: "empty", value: ""},
		{name: "unknown version", value: "\x09abc"},
		{name: "truncated header", value: "\x01\xc8"},
		{name: "content type past the end", value: "\x01\xc8\x01\x00\x00\x7fapplication/json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := client.Set(ctx, prefix+"k", tc.value, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := c.Get(ctx, "k"); ok || !errors.Is(err, ErrCorrupt) {
				t.Errorf("Get = %v, %v; want a miss with ErrCorrupt", ok, err)
			}
		})
	}
}
