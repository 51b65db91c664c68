package run

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/faulttest"
)

func TestLoadRedisCacheURL(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error names; "" for none
		split   bool   // the cache gets its own client
	}{
		{name: "cache shares the limiter's Redis by default", env: map[string]string{"OAIS_REDIS_URL": "redis://127.0.0.1:6379/0"}},
		{name: "cache on its own Redis", env: map[string]string{"OAIS_REDIS_URL": "redis://127.0.0.1:6379/0", "OAIS_REDIS_CACHE_URL": "redis://127.0.0.1:6380/0"}, split: true},
		{name: "cache URL must parse", env: map[string]string{"OAIS_REDIS_URL": "redis://127.0.0.1:6379/0", "OAIS_REDIS_CACHE_URL": "http://x"}, wantErr: "OAIS_REDIS_CACHE_URL"},
		{name: "cache URL needs the limiter's Redis", env: map[string]string{"OAIS_REDIS_CACHE_URL": "redis://127.0.0.1:6380/0"}, wantErr: "OAIS_REDIS_CACHE_URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(config.Map(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load = %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.redisCache != nil; got != tc.split {
				t.Errorf("own cache client = %v, want %v", got, tc.split)
			}
		})
	}
}

// TestWarnEviction: a limiter Redis that may evict keys without a TTL
// (budget counters) is named at start; one that evicts only keys with a
// TTL is not.
func TestWarnEviction(t *testing.T) {
	srv := faulttest.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", srv.Port)})
	t.Cleanup(func() { _ = c.Close() })
	for _, tc := range []struct {
		policy string
		warn   bool
	}{
		{"allkeys-lru", true},
		{"allkeys-lfu", true},
		{"volatile-lru", false},
		{"noeviction", false},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			if err := c.ConfigSet(t.Context(), "maxmemory-policy", tc.policy).Err(); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			warnEviction(t.Context(), c, true, slog.New(slog.NewTextHandler(&logs, nil)))
			if got := strings.Contains(logs.String(), "may evict budget counters"); got != tc.warn {
				t.Errorf("warned %v, want %v: %q", got, tc.warn, logs.String())
			}
		})
	}
}
