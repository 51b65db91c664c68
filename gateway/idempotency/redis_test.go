package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oais/oais/gateway"
)

// waitBound bounds every wait for something that, when the code works,
// comes within a few polls; nothing asserts on it.
const waitBound = 15 * time.Second

func testRedisAddr() string {
	if a := os.Getenv("OAIS_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// newTestRedis returns a client on the machine's Redis and a key prefix
// unique to the test, whose keys are deleted when it ends.
func newTestRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testRedisAddr(), MaxRetries: -1})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("redis at %s unreachable: %v; start it with `redis-server --daemonize yes`, or point OAIS_TEST_REDIS_ADDR at one", testRedisAddr(), err)
	}
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	prefix := fmt.Sprintf("oais-test:%s:%d:", name, time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	return c, prefix
}

// replicas returns two stores on one Redis and prefix, as two gateway
// replicas have, each with its own client.
func replicas(t *testing.T, o Options) (*Redis, *Redis, *redis.Client, string) {
	t.Helper()
	c1, prefix := newTestRedis(t)
	c2 := redis.NewClient(&redis.Options{Addr: testRedisAddr(), MaxRetries: -1})
	t.Cleanup(func() { c2.Close() })
	return NewRedis(c1, prefix, o), NewRedis(c2, prefix, o), c1, prefix
}

func redisKey(prefix, key string) string {
	h := sha256.Sum256([]byte(key))
	return prefix + hex.EncodeToString(h[:])
}

var (
	sumA   = [32]byte{'a'}
	sumB   = [32]byte{'b'}
	answer = &gateway.StoredAnswer{Status: 200, ContentType: "application/json", Body: []byte(`{"id":"chatcmpl-1"}`), PromptTokens: 3, CompletionTokens: 5}
)

// claim begins key on s and fails unless s won it.
func claim(t *testing.T, s *Redis, key string, sum [32]byte) func(*gateway.StoredAnswer) {
	t.Helper()
	replay, finish, err := s.Begin(t.Context(), key, sum)
	if err != nil || replay != nil || finish == nil {
		t.Fatalf("Begin(%s): replay %v, finish %v, err %v; want a claim", key, replay, finish != nil, err)
	}
	return finish
}

func TestRedisAcrossReplicas(t *testing.T) {
	r1, r2, _, _ := replicas(t, Options{Wait: waitBound})
	tests := []struct {
		name string
		run  func(t *testing.T, key string)
	}{
		{"the other replica replays the answer", func(t *testing.T, key string) {
			claim(t, r1, key, sumA)(answer)
			got, finish, err := r2.Begin(t.Context(), key, sumA)
			if err != nil || finish != nil || got == nil {
				t.Fatalf("replay: %v %v %v", got, finish != nil, err)
			}
			if got.Status != answer.Status || got.ContentType != answer.ContentType || !bytes.Equal(got.Body, answer.Body) ||
				got.PromptTokens != answer.PromptTokens || got.CompletionTokens != answer.CompletionTokens {
				t.Fatalf("replayed %+v, want %+v", got, answer)
			}
		}},
		{"another body is refused while claimed and once answered", func(t *testing.T, key string) {
			finish := claim(t, r1, key, sumA)
			if _, _, err := r2.Begin(t.Context(), key, sumB); !errors.Is(err, gateway.ErrIdempotencyReused) {
				t.Fatalf("while claimed: %v", err)
			}
			finish(answer)
			if _, _, err := r2.Begin(t.Context(), key, sumB); !errors.Is(err, gateway.ErrIdempotencyReused) {
				t.Fatalf("once answered: %v", err)
			}
		}},
		{"a twin waits for the answer", func(t *testing.T, key string) {
			finish := claim(t, r1, key, sumA)
			type result struct {
				a   *gateway.StoredAnswer
				err error
			}
			done := make(chan result, 1)
			go func() {
				a, _, err := r2.Begin(t.Context(), key, sumA)
				done <- result{a, err}
			}()
			select {
			case r := <-done:
				t.Fatalf("the twin did not wait for the first request: %+v", r)
			case <-time.After(50 * time.Millisecond):
			}
			finish(answer)
			select {
			case r := <-done:
				if r.err != nil || r.a == nil || !bytes.Equal(r.a.Body, answer.Body) {
					t.Fatalf("twin: %+v", r)
				}
			case <-time.After(waitBound):
				t.Fatal("the twin never got the answer")
			}
		}},
		{"a released key answers a twin 409, then runs again", func(t *testing.T, key string) {
			finish := claim(t, r1, key, sumA)
			done := make(chan error, 1)
			go func() {
				_, _, err := r2.Begin(t.Context(), key, sumA)
				done <- err
			}()
			finish(nil)
			select {
			case err := <-done:
				// The twin may have come after the release, and claimed.
				if err != nil && !errors.Is(err, gateway.ErrIdempotencyBusy) {
					t.Fatalf("twin of a failed request: %v", err)
				}
			case <-time.After(waitBound):
				t.Fatal("the twin never returned")
			}
		}},
		{"a key is per API key (the caller's key string)", func(t *testing.T, key string) {
			claim(t, r1, key+"-a", sumA)(answer)
			claim(t, r2, key+"-b", sumA)(nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, "key_1\x00"+tt.name) })
	}
}

// TestRedisDeadHolderExpires: a replica that claimed a key and died (its
// claim is in Redis, nobody extends it) holds the key only until the claim
// expires; a twin gets 409 and the client's next retry runs.
func TestRedisDeadHolderExpires(t *testing.T) {
	r1, _, client, prefix := replicas(t, Options{Wait: waitBound})
	key := "key_1\x00dead"
	dead := append(append([]byte{kindClaim}, sumA[:]...), "0123456789abcdef"...)
	if err := client.Set(t.Context(), redisKey(prefix, key), dead, 200*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r1.Begin(t.Context(), key, sumA); !errors.Is(err, gateway.ErrIdempotencyBusy) {
		t.Fatalf("twin of a dead holder: %v", err)
	}
	claim(t, r1, key, sumA)(answer)
}

// TestRedisWaitIsBounded: a twin waits at most Wait for a holder that is
// alive but slow, then answers 409.
func TestRedisWaitIsBounded(t *testing.T) {
	r1, r2, _, _ := replicas(t, Options{Wait: 100 * time.Millisecond})
	finish := claim(t, r1, "key_1\x00slow", sumA)
	defer finish(nil)
	if _, _, err := r2.Begin(t.Context(), "key_1\x00slow", sumA); !errors.Is(err, gateway.ErrIdempotencyBusy) {
		t.Fatalf("twin past Wait: %v", err)
	}
}

// TestRedisClaimIsExtended: a request that runs longer than ClaimTTL keeps
// its claim, so no retry runs beside it.
func TestRedisClaimIsExtended(t *testing.T) {
	const ttl = 3 * time.Second
	r1, _, client, prefix := replicas(t, Options{ClaimTTL: ttl})
	key := "key_1\x00long"
	finish := claim(t, r1, key, sumA)
	defer finish(nil)
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	// The claim's TTL goes down, then up again: extended.
	low := ttl
	for {
		pttl, err := client.PTTL(ctx, redisKey(prefix, key)).Result()
		if err != nil || pttl <= 0 {
			t.Fatalf("claim gone: %v %v", pttl, err)
		}
		if pttl > low+200*time.Millisecond {
			return
		}
		low = min(low, pttl)
		select {
		case <-ctx.Done():
			t.Fatal("the claim was never extended")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestRedisCorruptValue(t *testing.T) {
	r1, _, client, prefix := replicas(t, Options{})
	key := "key_1\x00corrupt"
	for _, v := range []string{"", "X" + strings.Repeat("a", 40), "A" + string(sumA[:]) + "\x09"} {
		if err := client.Set(t.Context(), redisKey(prefix, key), v, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := r1.Begin(t.Context(), key, sumA); !errors.Is(err, gateway.ErrCorruptAnswer) {
			t.Errorf("value %q: %v, want ErrCorruptAnswer", v, err)
		}
	}
}

// TestRedisUnreachableFallsBack: with Redis gone, keys are kept in-process
// (a retry to this replica still replays) and one line says so.
func TestRedisUnreachableFallsBack(t *testing.T) {
	var logs syncBuffer
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	s := NewRedis(c, "oais-test:down:", Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for i := range 3 {
		key := fmt.Sprintf("key_1\x00down-%d", i)
		claim(t, s, key, sumA)(answer)
		got, _, err := s.Begin(t.Context(), key, sumA)
		if err != nil || got == nil || !bytes.Equal(got.Body, answer.Body) {
			t.Fatalf("replay while redis is down: %v %v", got, err)
		}
	}
	if n := strings.Count(logs.String(), "redis unreachable"); n != 1 {
		t.Fatalf("logged the outage %d times, want once:\n%s", n, logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
