package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// syncBuffer is a log sink safe for the background probe's writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

// metricValue reads a gauge's or counter's current value.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	if pb.Gauge != nil {
		return pb.Gauge.GetValue()
	}
	return pb.Counter.GetValue()
}

// TestFallback loses Redis by closing a loopback proxy in front of it,
// then brings it back, checking the switch, the one log line each way and
// the metrics.
func TestFallback(t *testing.T) {
	ctx := context.Background()
	requireRedis(t)
	proxy := newTCPProxy(t, testRedisAddr())
	client := newTestRedis(t, proxy.addr)
	clk := newFakeClock()
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	f, err := NewFallback(
		NewRedis(client, testPrefix(t, client), Options{}),
		NewLocal(Options{Now: clk.Now}),
		FallbackOptions{
			Registerer: reg,
			Logger:     slog.New(slog.NewTextHandler(logs, nil)),
			ProbeEvery: 10 * time.Second,
			Now:        clk.Now,
		},
	)
	if err != nil {
		t.Fatal(err)
	}
	counters := []Counter{{Key: "ws:1:rpm", Limit: 100, Window: time.Minute, Cost: 1}}
	const downLine = "rate limits: redis unreachable, enforcing per-replica local limits"
	const upLine = "rate limits: redis reachable again"

	steps := []struct {
		name          string
		act           func(t *testing.T)
		reserves      int
		wantOrigin    origin
		wantUp        bool
		wantFallbacks float64
		wantDownLogs  int
		wantUpLogs    int
	}{
		{name: "redis up serves shared limits", reserves: 2, wantOrigin: originRedis, wantUp: true},
		{
			name: "redis lost falls back to local and logs once", act: func(*testing.T) { proxy.Close() },
			reserves: 3, wantOrigin: originLocal, wantFallbacks: 3, wantDownLogs: 1,
		},
		{
			name: "redis back but no probe due stays local", act: func(t *testing.T) { proxy.Restart() },
			reserves: 1, wantOrigin: originLocal, wantFallbacks: 4, wantDownLogs: 1,
		},
		{
			name: "due probe switches back and logs once", act: func(t *testing.T) {
				clk.Advance(11 * time.Second)
				// This decision is still local; it starts the background probe.
				if _, err := f.Reserve(ctx, counters); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the probe to find redis", f.RedisUp)
			},
			reserves: 2, wantOrigin: originRedis, wantUp: true, wantFallbacks: 5, wantDownLogs: 1, wantUpLogs: 1,
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.act != nil {
				st.act(t)
			}
			for i := range st.reserves {
				r, err := f.Reserve(ctx, counters)
				if err != nil {
					t.Fatalf("reserve %d: %v", i, err)
				}
				if r.origin != st.wantOrigin {
					t.Errorf("reserve %d made by %d, want %d", i, r.origin, st.wantOrigin)
				}
				if err := f.Settle(ctx, r, []int64{1}); err != nil {
					t.Errorf("settle %d: %v", i, err)
				}
			}
			wantGauge := 0.0
			if st.wantUp {
				wantGauge = 1
			}
			if got := metricValue(t, f.redisUp); got != wantGauge {
				t.Errorf("oais_ratelimit_redis_up = %v, want %v", got, wantGauge)
			}
			if got := metricValue(t, f.fallbacks); got != st.wantFallbacks {
				t.Errorf("oais_ratelimit_fallback_total = %v, want %v", got, st.wantFallbacks)
			}
			if got := logs.count(downLine); got != st.wantDownLogs {
				t.Errorf("%d %q lines, want %d", got, downLine, st.wantDownLogs)
			}
			if got := logs.count(upLine); got != st.wantUpLogs {
				t.Errorf("%d %q lines, want %d", got, upLine, st.wantUpLogs)
			}
		})
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if got := strings.Join(names, ","); got != "oais_ratelimit_fallback_total,oais_ratelimit_redis_up" {
		t.Errorf("registry holds %s, want both metrics", got)
	}
}

// TestFallbackPassesDecisions checks that only unavailability falls back:
// Redis's own denials and bad input reach the caller.
func TestFallbackPassesDecisions(t *testing.T) {
	ctx := context.Background()
	client := newTestRedis(t, testRedisAddr())
	f, err := NewFallback(NewRedis(client, testPrefix(t, client), Options{}), NewLocal(Options{}), FallbackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		counters []Counter
		check    func(error) bool
	}{
		{name: "denial", counters: []Counter{{Key: "k", Limit: 1, Cost: 2}}, check: func(err error) bool {
			var d *Denied
			return errors.As(err, &d) && d.TooLarge
		}},
		{name: "negative cost", counters: []Counter{{Key: "k", Cost: -1}}, check: func(err error) bool {
			return errors.Is(err, ErrNegativeCost)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Reserve(ctx, tc.counters)
			if !tc.check(err) {
				t.Errorf("Reserve = %v", err)
			}
			if !f.RedisUp() || metricValue(t, f.fallbacks) != 0 {
				t.Error("a decision from a reachable redis was treated as unavailability")
			}
		})
	}
}

// TestFallbackSettleAsync: a Redis reservation settles through Redis
// without the caller waiting; one whose Redis went away completes without
// an error and switches to local limits; a local one settles at once.
func TestFallbackSettleAsync(t *testing.T) {
	ctx := context.Background()
	requireRedis(t)
	proxy := newTCPProxy(t, testRedisAddr())
	client := newTestRedis(t, proxy.addr)
	remote := NewRedis(client, testPrefix(t, client), Options{})
	f, err := NewFallback(remote, NewLocal(Options{}), FallbackOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	counters := []Counter{{Key: "ws:sa:tpm", Limit: 100, Window: time.Minute, Cost: 10}}
	settle := func(r *Reservation, actual int64) error {
		t.Helper()
		done := make(chan error, 1)
		f.SettleAsync(r, []int64{actual}, func(err error) { done <- err })
		return recv(t, done, "the settlement's callback")
	}

	var r1, r2 Reservation
	if err := f.ReserveInto(ctx, counters, &r1); err != nil || r1.origin != originRedis {
		t.Fatalf("reserve: %v, origin %d", err, r1.origin)
	}
	if err := f.ReserveInto(ctx, counters, &r2); err != nil {
		t.Fatal(err)
	}
	if err := settle(&r1, 4); err != nil {
		t.Fatalf("settle through redis: %v", err)
	}
	if got := client.HGet(ctx, remote.name("ws:sa:tpm", time.Minute).name, "s").Val(); got != "14" {
		t.Fatalf("redis sum %q after settling, want 14", got)
	}

	proxy.Close()
	if err := settle(&r2, 4); err != nil {
		t.Fatalf("settle with redis gone: %v, want nil", err)
	}
	if f.RedisUp() || metricValue(t, f.fallbacks) != 1 {
		t.Fatalf("redis up %v, fallbacks %v after a lost settlement", f.RedisUp(), metricValue(t, f.fallbacks))
	}

	var r3 Reservation
	if err := f.ReserveInto(ctx, counters, &r3); err != nil || r3.origin != originLocal {
		t.Fatalf("reserve with redis down: %v, origin %d", err, r3.origin)
	}
	if err := settle(&r3, 4); err != nil {
		t.Fatalf("local settle: %v", err)
	}
	if err := settle(&r3, 4); !errors.Is(err, ErrSettled) {
		t.Fatalf("second local settle: %v, want ErrSettled", err)
	}
}
