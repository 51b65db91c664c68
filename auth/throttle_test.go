package auth_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/authtest"
)

// testRedisAddr is the machine's Redis; OAIS_TEST_REDIS_ADDR overrides it.
func testRedisAddr() string {
	if a := os.Getenv("OAIS_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

var prefixSeq atomic.Int64

// backends are the stores a Throttle runs on; every case runs on each.
// Redis keys get a prefix no other run uses.
var backends = []struct {
	name string
	with func(t *testing.T, cfg auth.ThrottleConfig) auth.ThrottleConfig
}{
	{"in-process", func(_ *testing.T, cfg auth.ThrottleConfig) auth.ThrottleConfig { return cfg }},
	{"redis", func(t *testing.T, cfg auth.ThrottleConfig) auth.ThrottleConfig {
		t.Helper()
		c := redis.NewClient(&redis.Options{Addr: testRedisAddr()})
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Ping(context.Background()).Err(); err != nil {
			t.Fatalf("Redis at %s: %v (start one, or point OAIS_TEST_REDIS_ADDR at one)", testRedisAddr(), err)
		}
		cfg.Redis = c
		cfg.RedisPrefix = fmt.Sprintf("oais-test-%d-%d:", time.Now().UnixNano(), prefixSeq.Add(1))
		t.Cleanup(func() { dropKeys(t, c, cfg.RedisPrefix) })
		return cfg
	}},
}

// dropKeys deletes what a test left under prefix (some keys live 30 days).
func dropKeys(t *testing.T, c *redis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		_ = c.Del(ctx, iter.Val()).Err()
	}
	if err := iter.Err(); err != nil {
		t.Logf("dropping the test's Redis keys: %v", err)
	}
}

func TestThrottle(t *testing.T) {
	ip1 := netip.MustParseAddr("192.0.2.1")
	ip2 := netip.MustParseAddr("192.0.2.2")
	ipN := func(n int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("198.51.100.%d", n)) }
	type step struct {
		do      string // "take" (must be allowed), "deny", "succeed", "trust", "advance"
		email   string
		ip      netip.Addr
		advance time.Duration
		retry   time.Duration // for "deny": the expected Retry-After
	}
	take := func(email string, ip netip.Addr, n int) []step {
		s := make([]step, n)
		for i := range s {
			s[i] = step{do: "take", email: email, ip: ip}
		}
		return s
	}
	// spread is one attempt for email from each of the addresses from..to.
	spread := func(email string, from, to int) []step {
		var s []step
		for n := from; n <= to; n++ {
			s = append(s, step{do: "take", email: email, ip: ipN(n)})
		}
		return s
	}
	cat := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	backoff := auth.Backoff{After: 3, Base: time.Minute, Max: 4 * time.Minute, Forget: time.Hour, KnownFor: 24 * time.Hour}
	home := netip.MustParseAddr("203.0.113.7")
	tests := []struct {
		name      string
		cfg       auth.ThrottleConfig
		localOnly bool // LRU eviction: Redis expires keys instead
		steps     []step
	}{
		{
			name: "sixth attempt is refused for the account from that address",
			steps: cat(take("a@x", ip1, 5),
				[]step{{do: "deny", email: "a@x", ip: ip1, retry: 3 * time.Minute}}),
		},
		{
			name: "one attempt returns per emission interval",
			steps: cat(take("a@x", ip1, 5), []step{
				{do: "advance", advance: 3 * time.Minute},
				{do: "take", email: "a@x", ip: ip1},
				{do: "deny", email: "a@x", ip: ip1, retry: 3 * time.Minute},
				{do: "advance", advance: 15 * time.Minute},
				{do: "take", email: "a@x", ip: ip1},
			}),
		},
		{
			name: "email is case- and space-insensitive",
			steps: cat(take("A@X ", ip1, 5),
				[]step{{do: "deny", email: "a@x", ip: ip1, retry: 3 * time.Minute}}),
		},
		{
			name: "other address and other account unaffected",
			steps: cat(take("a@x", ip1, 5), []step{
				{do: "take", email: "a@x", ip: ip2},
				{do: "take", email: "b@x", ip: ip1},
			}),
		},
		{
			name: "success gives back its own attempt, not the address's failures",
			cfg:  auth.ThrottleConfig{IPFailures: 6},
			steps: cat(take("a@x", ip1, 5), []step{
				{do: "succeed", email: "a@x", ip: ip1},
				{do: "take", email: "b@x", ip: ip1},
				{do: "take", email: "c@x", ip: ip1},
				{do: "deny", email: "d@x", ip: ip1, retry: 2*time.Minute + 30*time.Second},
			}),
		},
		{
			name: "success clears the account's failures from that address",
			steps: cat(take("a@x", ip1, 5), []step{{do: "succeed", email: "a@x", ip: ip1}},
				take("a@x", ip1, 5), []step{{do: "deny", email: "a@x", ip: ip1, retry: 3 * time.Minute}}),
		},
		{
			name: "address limit across accounts",
			cfg:  auth.ThrottleConfig{IPFailures: 3},
			steps: []step{
				{do: "take", email: "a@x", ip: ip1},
				{do: "take", email: "b@x", ip: ip1},
				{do: "take", email: "c@x", ip: ip1},
				{do: "deny", email: "d@x", ip: ip1, retry: 5 * time.Minute},
				{do: "take", email: "d@x", ip: ip2},
			},
		},
		{
			name: "ipv6 grouped by /64",
			cfg:  auth.ThrottleConfig{IPFailures: 2},
			steps: []step{
				{do: "take", email: "a@x", ip: netip.MustParseAddr("2001:db8:1:2::1")},
				{do: "take", email: "b@x", ip: netip.MustParseAddr("2001:db8:1:2::ffff")},
				{do: "deny", email: "c@x", ip: netip.MustParseAddr("2001:db8:1:2:aaaa::"), retry: 7*time.Minute + 30*time.Second},
				{do: "take", email: "c@x", ip: netip.MustParseAddr("2001:db8:1:3::1")},
			},
		},
		{
			name:      "bounded table forgets the oldest",
			cfg:       auth.ThrottleConfig{MaxEntries: 2},
			localOnly: true,
			steps: cat(take("a@x", ip1, 5),
				[]step{{do: "take", email: "b@x", ip: ip2}, {do: "take", email: "c@x", ip: netip.MustParseAddr("192.0.2.3")}},
				[]step{{do: "take", email: "a@x", ip: ip1}}),
		},
		{
			name: "total across addresses",
			cfg:  auth.ThrottleConfig{AccountFailures: -1, IPFailures: -1, Total: 3, TotalWindow: time.Minute},
			steps: cat(spread("", 1, 3), []step{
				{do: "deny", email: "", ip: ipN(4), retry: 20 * time.Second},
				{do: "advance", advance: 20 * time.Second},
				{do: "take", email: "", ip: ipN(4)},
			}),
		},
		{
			name: "one account from many addresses backs off, doubling up to the cap",
			cfg:  auth.ThrottleConfig{Backoff: backoff},
			steps: cat(spread("a@x", 1, 3), []step{
				{do: "deny", email: "a@x", ip: ipN(4), retry: time.Minute},
				{do: "take", email: "b@x", ip: ipN(4)}, // other accounts unaffected
				{do: "advance", advance: time.Minute},
				{do: "take", email: "a@x", ip: ipN(5)},
				{do: "deny", email: "a@x", ip: ipN(6), retry: 2 * time.Minute},
				{do: "advance", advance: 2 * time.Minute},
				{do: "take", email: "a@x", ip: ipN(7)},
				{do: "deny", email: "a@x", ip: ipN(8), retry: 4 * time.Minute},
				{do: "advance", advance: 4 * time.Minute},
				{do: "take", email: "a@x", ip: ipN(9)},
				{do: "deny", email: "a@x", ip: ipN(10), retry: 4 * time.Minute}, // capped at Max
				{do: "advance", advance: time.Minute},
				{do: "deny", email: "a@x", ip: ipN(10), retry: 3 * time.Minute},
			}),
		},
		{
			name: "an address the account signed in from is exempt, and its success starts the account over",
			cfg:  auth.ThrottleConfig{Backoff: backoff},
			steps: cat([]step{{do: "take", email: "a@x", ip: home}, {do: "succeed", email: "a@x", ip: home}},
				spread("a@x", 1, 3), []step{
					{do: "deny", email: "a@x", ip: ipN(4), retry: time.Minute},
					{do: "take", email: "a@x", ip: home},
					{do: "take", email: "a@x", ip: home}, // failures from home do not feed the backoff
					{do: "deny", email: "a@x", ip: ipN(4), retry: time.Minute},
					{do: "take", email: "a@x", ip: home},
					{do: "succeed", email: "a@x", ip: home},
				}, spread("a@x", 4, 6), []step{
					{do: "deny", email: "a@x", ip: ipN(7), retry: time.Minute},
				}),
		},
		{
			name: "trust exempts an address and clears the account, giving no attempt back",
			cfg:  auth.ThrottleConfig{Backoff: backoff, IPFailures: 2},
			steps: cat([]step{{do: "take", email: "b@x", ip: home}, {do: "take", email: "c@x", ip: home}},
				spread("a@x", 1, 3), []step{
					{do: "deny", email: "a@x", ip: ipN(4), retry: time.Minute},
					{do: "trust", email: "a@x", ip: ipN(5)},
					{do: "deny", email: "d@x", ip: home, retry: 7*time.Minute + 30*time.Second}, // home's two attempts stay spent
					{do: "take", email: "a@x", ip: ipN(4)},                                      // the account starts over
					{do: "take", email: "a@x", ip: ipN(5)},                                      // trusted: not counted
					{do: "take", email: "a@x", ip: ipN(6)},
					{do: "take", email: "a@x", ip: ipN(7)},
					{do: "take", email: "a@x", ip: ipN(5)}, // trusted: not held back
					{do: "deny", email: "a@x", ip: ipN(8), retry: time.Minute},
				}),
		},
		{
			name: "the exemption ends after KnownFor",
			cfg:  auth.ThrottleConfig{Backoff: backoff},
			steps: cat([]step{{do: "take", email: "a@x", ip: home}, {do: "succeed", email: "a@x", ip: home},
				{do: "advance", advance: 24*time.Hour + time.Second}},
				spread("a@x", 1, 3), []step{
					{do: "deny", email: "a@x", ip: home, retry: time.Minute},
				}),
		},
		{
			name: "failures are forgotten Forget after the latest",
			cfg:  auth.ThrottleConfig{Backoff: backoff},
			steps: cat(spread("a@x", 1, 3), []step{
				{do: "deny", email: "a@x", ip: ipN(4), retry: time.Minute},
				{do: "advance", advance: time.Hour + time.Second},
			}, spread("a@x", 4, 6), []step{
				{do: "deny", email: "a@x", ip: ipN(7), retry: time.Minute},
			}),
		},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if tt.localOnly && be.name != "in-process" {
						t.Skip("in-process tables only")
					}
					clock := authtest.NewClock(time.Now().Truncate(time.Second))
					cfg := be.with(t, tt.cfg)
					cfg.Now = clock.Now
					th, err := auth.NewThrottle(cfg)
					if err != nil {
						t.Fatal(err)
					}
					ctx := context.Background()
					for n, s := range tt.steps {
						switch s.do {
						case "take", "deny":
							ok, retry := th.Take(ctx, s.email, s.ip)
							if ok != (s.do == "take") || retry != s.retry {
								t.Fatalf("step %d: Take(%s, %s) = %v, %v; want %s, %v", n, s.email, s.ip, ok, retry, s.do, s.retry)
							}
						case "succeed":
							th.Succeed(ctx, s.email, s.ip)
						case "trust":
							th.Trust(ctx, s.email, s.ip)
						case "advance":
							clock.Advance(s.advance)
						}
					}
				})
			}
		})
	}
}

// TestThrottleConcurrentTakes: a burst of simultaneous attempts gets
// exactly the limit through, not one per attempt checked before any was
// counted; on Redis, from two replicas at once.
func TestThrottleConcurrentTakes(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			cfg := be.with(t, auth.ThrottleConfig{Name: "signin"})
			replicas := make([]*auth.Throttle, 2)
			for i := range replicas {
				th, err := auth.NewThrottle(cfg)
				if err != nil {
					t.Fatal(err)
				}
				replicas[i] = th
			}
			if be.name == "in-process" {
				replicas = replicas[:1] // in-process counters are per replica by design
			}
			ip := netip.MustParseAddr("192.0.2.9")
			var allowed atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 60 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if ok, _ := replicas[i%len(replicas)].Take(context.Background(), "victim@x", ip); ok {
						allowed.Add(1)
					}
				}()
			}
			close(start)
			wg.Wait()
			if n := allowed.Load(); n != auth.DefaultAccountFailures {
				t.Fatalf("%d of 60 concurrent attempts allowed, want %d", n, auth.DefaultAccountFailures)
			}
		})
	}
}

// TestThrottleLostRedis: with Redis gone the throttle does not fail open to
// nothing: each replica's own counters decide, and it says so once.
func TestThrottleLostRedis(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	var logs bytes.Buffer
	th, err := auth.NewThrottle(auth.ThrottleConfig{Name: "signin", Redis: c, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.10")
	for i := range auth.DefaultAccountFailures {
		if ok, _ := th.Take(context.Background(), "victim@x", ip); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if ok, _ := th.Take(context.Background(), "victim@x", ip); ok {
		t.Fatal("with Redis gone, the limit is gone")
	}
	if n := strings.Count(logs.String(), "cannot reach Redis"); n != 1 {
		t.Fatalf("%d warnings about Redis, want 1:\n%s", n, logs.String())
	}
}
