package controlplane_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/controlplane"
	"github.com/oais/oais/internal/storetest"
)

// testRedisAddr is the machine's Redis; OAIS_TEST_REDIS_ADDR overrides it.
func testRedisAddr() string {
	if a := os.Getenv("OAIS_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// dropKeys deletes what a test left under prefix in Redis (some keys live
// 30 days), then closes c.
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
	_ = c.Close()
}

// replica is one control plane served over HTTP.
type replica struct {
	url    string
	client *http.Client
}

// gqlAnswer is what a client sees of one GraphQL call.
type gqlAnswer struct {
	data       map[string]any
	code       string  // extensions.code of the first error, "" without
	retryAfter float64 // extensions.retryAfter of the first error
	body       string
}

// post sends one operation as if from client address ip (the replicas
// trust loopback's X-Forwarded-For, as behind a load balancer).
func (r replica) post(t *testing.T, ip, query string, vars map[string]any) gqlAnswer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, r.url+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var d struct {
		Data   map[string]any `json:"data"`
		Errors []struct {
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("status %d, not JSON: %s", resp.StatusCode, raw)
	}
	a := gqlAnswer{data: d.Data, body: string(raw)}
	if len(d.Errors) > 0 {
		a.code, _ = d.Errors[0].Extensions["code"].(string)
		a.retryAfter, _ = d.Errors[0].Extensions["retryAfter"].(float64)
	}
	return a
}

const (
	signInOp  = `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`
	signUpOp  = `mutation($e: String!, $p: String!) { signUp(email: $e, password: $p) { accessToken } }`
	resetOp   = `mutation($e: String!) { requestPasswordReset(email: $e) }`
	rightPass = "the right password"
)

// addrs hands out fresh client addresses (10.x.y.n, x and y random).
type addrs struct{ a, b, n byte }

func newAddrs() *addrs {
	var r [2]byte
	_, _ = rand.Read(r[:])
	return &addrs{a: r[0], b: r[1]}
}

func (g *addrs) next() string {
	g.n++
	return fmt.Sprintf("10.%d.%d.%d", g.a, g.b, g.n)
}

// TestThrottlesAcrossReplicas attacks the control plane's throttles as a
// client that spreads its attempts: over replicas behind one load balancer
// (which must agree through Redis), and over many addresses against one
// account (credential stuffing). The in-process case is one replica.
func TestThrottlesAcrossReplicas(t *testing.T) {
	for _, backend := range []string{"in-process", "redis"} {
		t.Run(backend, func(t *testing.T) {
			var rs []replica
			prefix := fmt.Sprintf("oais-test-%d:", time.Now().UnixNano())
			env := map[string]string{
				"OAIS_DATABASE_URL":             storetest.PostgresURL(t),
				"OAIS_SECRETS_KEY":              "b2Fpcy1jb250cm9scGxhbmUtdGVzdC1zZWNyZXRzLTE=",
				"OAIS_BOOTSTRAP_ADMIN_PASSWORD": "a long enough password",
				"OAIS_TRUSTED_PROXIES":          "127.0.0.0/8,::1/128",
				"OAIS_SIGNUP_LIMITS":            "3,5", // per address an hour, in total a minute
			}
			n := 1
			if backend == "redis" {
				c := redis.NewClient(&redis.Options{Addr: testRedisAddr()})
				if err := c.Ping(context.Background()).Err(); err != nil {
					t.Fatalf("Redis at %s: %v (start one, or point OAIS_TEST_REDIS_ADDR at one)", testRedisAddr(), err)
				}
				env["OAIS_REDIS_URL"] = "redis://" + testRedisAddr() + "/0"
				n = 2
				t.Cleanup(func() { dropKeys(t, c, prefix) })
			}
			for range n {
				cfg, err := controlplane.Load(config.Map(env))
				if err != nil {
					t.Fatal(err)
				}
				cfg.RedisPrefix = prefix
				s, err := controlplane.Open(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				hs := httptest.NewServer(s.Handler)
				t.Cleanup(func() { hs.Close(); _ = s.Close() })
				rs = append(rs, replica{url: hs.URL, client: hs.Client()})
			}
			// at is the replica the load balancer sends attempt i to.
			at := func(i int) replica { return rs[i%len(rs)] }
			ips := newAddrs()
			home := ips.next() // where the victims signed up and sign in from
			suffix := fmt.Sprint(time.Now().UnixNano())
			signUp := func(t *testing.T, r replica, ip, email string) gqlAnswer {
				t.Helper()
				return r.post(t, ip, signUpOp, map[string]any{"e": email, "p": rightPass})
			}

			t.Run("sign-in guesses from one address, spread over replicas", func(t *testing.T) {
				victim := "victim-a-" + suffix + "@throttle.test"
				if a := signUp(t, rs[0], home, victim); a.code != "" {
					t.Fatalf("sign-up: %s", a.body)
				}
				attacker := ips.next()
				throttledAt := 0
				for i := 1; i <= 2*auth.DefaultAccountFailures+1 && throttledAt == 0; i++ {
					if a := at(i).post(t, attacker, signInOp, map[string]any{"e": victim, "p": fmt.Sprint("guess-", i)}); a.code == "THROTTLED" {
						throttledAt = i
						if a.retryAfter <= 0 {
							t.Fatalf("THROTTLED without a retryAfter in extensions: %s", a.body)
						}
					}
				}
				if throttledAt != auth.DefaultAccountFailures+1 {
					t.Fatalf("throttled at guess %d, want %d (%d per account and address, whichever replica answers)", throttledAt, auth.DefaultAccountFailures+1, auth.DefaultAccountFailures)
				}
			})

			t.Run("credential stuffing: one account from many addresses", func(t *testing.T) {
				victim := "victim-b-" + suffix + "@throttle.test"
				if a := signUp(t, rs[0], home, victim); a.code != "" {
					t.Fatalf("sign-up: %s", a.body)
				}
				throttledAt := 0
				for i := 1; i <= 3*auth.DefaultBackoffAfter && throttledAt == 0; i++ {
					a := at(i).post(t, ips.next(), signInOp, map[string]any{"e": victim, "p": fmt.Sprint("stuffed-", i)})
					if a.code == "THROTTLED" {
						throttledAt = i
						if a.retryAfter <= 0 || a.retryAfter > auth.DefaultBackoffMax.Seconds() {
							t.Fatalf("retryAfter %v, want within (0, %v]", a.retryAfter, auth.DefaultBackoffMax.Seconds())
						}
					} else if a.code != "UNAUTHENTICATED" {
						t.Fatalf("guess %d: %s", i, a.body)
					}
				}
				if throttledAt != auth.DefaultBackoffAfter+1 {
					t.Fatalf("throttled at guess %d, want %d: %d failures of one account from any addresses", throttledAt, auth.DefaultBackoffAfter+1, auth.DefaultBackoffAfter)
				}
				// Not a lock-out: the victim, from where they signed in
				// before, still gets in, and that resets the account.
				if a := at(1).post(t, home, signInOp, map[string]any{"e": victim, "p": rightPass}); a.code != "" {
					t.Fatalf("the real user, from their own address, during the attack: %s", a.body)
				}
				if a := at(0).post(t, ips.next(), signInOp, map[string]any{"e": victim, "p": "after success"}); a.code != "UNAUTHENTICATED" {
					t.Fatalf("after the user's success the account should start over: %s", a.body)
				}
			})

			t.Run("sign-up flood from one address, then from many", func(t *testing.T) {
				flood := ips.next()
				throttledAt := 0
				for i := 1; i <= 6 && throttledAt == 0; i++ {
					a := signUp(t, at(i), flood, fmt.Sprintf("flood-%d-%s@throttle.test", i, suffix))
					if a.code == "THROTTLED" {
						throttledAt = i
						if a.retryAfter <= 0 {
							t.Fatalf("THROTTLED without a retryAfter in extensions: %s", a.body)
						}
					} else if a.code != "" {
						t.Fatalf("sign-up %d: %s", i, a.body)
					}
				}
				if throttledAt != 4 {
					t.Fatalf("throttled at sign-up %d from one address, want 4 (3 an hour)", throttledAt)
				}
				// 2 victims and 3 floods so far this minute: the total
				// of 5 is spent, whoever asks next.
				if a := signUp(t, at(0), ips.next(), "late-"+suffix+"@throttle.test"); a.code != "THROTTLED" {
					t.Fatalf("sign-up past the total from a fresh address: %s", a.body)
				}
			})

			t.Run("password-reset requests spread over replicas", func(t *testing.T) {
				ip := ips.next()
				throttledAt := 0
				for i := 1; i <= 7 && throttledAt == 0; i++ {
					if a := at(i).post(t, ip, resetOp, map[string]any{"e": "someone-" + suffix + "@throttle.test"}); a.code == "THROTTLED" {
						throttledAt = i
					} else if a.code != "" {
						t.Fatalf("request %d: %s", i, a.body)
					}
				}
				if throttledAt != 4 {
					t.Fatalf("throttled at request %d, want 4 (3 per address and client)", throttledAt)
				}
			})
		})
	}
}
