package respcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oais/oais/gateway"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		name string
		a, b string // both must normalize to want
		want string
	}{
		{
			name: "object keys are sorted at every level",
			a:    `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			b:    `{"messages":[{"content":"hi","role":"user"}],"model":"m"}`,
			want: `{"messages":[{"content":"hi","role":"user"}],"model":"m"}`,
		},
		{
			name: "insignificant whitespace is dropped",
			a:    "{\n  \"model\" : \"m\",\t\"n\": 2 }\n",
			b:    `{"model":"m","n":2}`,
			want: `{"model":"m","n":2}`,
		},
		{
			name: "user is dropped",
			a:    `{"model":"m","user":"alice"}`,
			b:    `{"model":"m","user":"bob"}`,
			want: `{"model":"m"}`,
		},
		{
			name: "stream_options and a false stream are dropped",
			a:    `{"model":"m","stream":false,"stream_options":{"include_usage":true}}`,
			b:    `{"model":"m"}`,
			want: `{"model":"m"}`,
		},
		{
			name: "a true stream is kept",
			a:    `{"model":"m","stream":true}`,
			b:    `{"stream":true,"model":"m"}`,
			want: `{"model":"m","stream":true}`,
		},
		{
			name: "temperature is kept and numbers have one spelling",
			a:    `{"model":"m","temperature":1.0,"top_p":0.50}`,
			b:    `{"model":"m","temperature":1,"top_p":5e-1}`,
			want: `{"model":"m","temperature":1,"top_p":0.5}`,
		},
		{
			name: "large integers keep their digits",
			a:    `{"seed":12345678901234567890}`,
			b:    `{ "seed": 12345678901234567890 }`,
			want: `{"seed":12345678901234567890}`,
		},
		{
			name: "nested user fields are content and kept",
			a:    `{"metadata":{"user":"x"},"messages":[{"role":"user","content":"<b>&"}]}`,
			b:    `{"messages":[{"content":"<b>&","role":"user"}],"metadata":{"user":"x"}}`,
			want: `{"messages":[{"content":"<b>&","role":"user"}],"metadata":{"user":"x"}}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, in := range []string{tc.a, tc.b} {
				got, err := Normalize([]byte(in))
				if err != nil {
					t.Fatalf("Normalize(%s): %v", in, err)
				}
				if string(got) != tc.want {
					t.Errorf("Normalize(%s) = %s, want %s", in, got, tc.want)
				}
			}
		})
	}
}

func TestNormalizeKeepsAnswerChangingFields(t *testing.T) {
	cases := []struct {
		name string
		a, b string
	}{
		{name: "temperature", a: `{"model":"m","temperature":0.2}`, b: `{"model":"m","temperature":0.7}`},
		{name: "model", a: `{"model":"a"}`, b: `{"model":"b"}`},
		{name: "stream", a: `{"model":"m"}`, b: `{"model":"m","stream":true}`},
		{name: "message order", a: `{"messages":["x","y"]}`, b: `{"messages":["y","x"]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Normalize([]byte(tc.a))
			if err != nil {
				t.Fatal(err)
			}
			b, err := Normalize([]byte(tc.b))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(a, b) {
				t.Errorf("%s and %s share a key", tc.a, tc.b)
			}
		})
	}
}

func TestNormalizeRejects(t *testing.T) {
	cases := []struct {
		name string
		body string
	}{
		{name: "empty", body: ``},
		{name: "malformed", body: `{"model":`},
		{name: "array", body: `[1,2]`},
		{name: "string", body: `"hi"`},
		{name: "trailing data", body: `{"model":"m"} {}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Normalize([]byte(tc.body)); !errors.Is(err, ErrInvalidBody) {
				t.Errorf("Normalize(%q) = %v, want ErrInvalidBody", tc.body, err)
			}
		})
	}
}

// testEntry has a body with NULs and invalid UTF-8.
func testEntry() gateway.StoredAnswer {
	return gateway.StoredAnswer{
		Status:           http.StatusOK,
		ContentType:      "application/json",
		Body:             []byte("{\"a\":\"\x00\xff\xfe\r\n\"}"),
		PromptTokens:     12,
		CompletionTokens: 34,
	}
}

// testCache runs the behaviour every gateway.Cache here shares.
func testCache(t *testing.T, newCache func(t *testing.T) gateway.Cache) {
	t.Helper()
	ctx := context.Background()
	want := testEntry()
	cases := []struct {
		name    string
		set     *gateway.StoredAnswer
		ttl     time.Duration
		wantErr error
		wantOK  bool
	}{
		{name: "miss", wantOK: false},
		{name: "round trip keeps bytes, content type and usage", set: ptr(testEntry()), ttl: time.Minute, wantOK: true},
		{name: "too large is not cached", set: &gateway.StoredAnswer{Status: 200, Body: make([]byte, MaxEntryBytes+1)}, ttl: time.Minute, wantErr: ErrTooLarge},
		{name: "ttl must be positive", set: ptr(testEntry()), ttl: 0, wantErr: ErrBadTTL},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			if tc.set != nil {
				if err := c.Set(ctx, "k", *tc.set, tc.ttl); !errors.Is(err, tc.wantErr) {
					t.Fatalf("Set = %v, want %v", err, tc.wantErr)
				}
			}
			got, ok, err := c.Get(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK {
				t.Fatalf("Get ok = %v, want %v", ok, tc.wantOK)
			}
			if ok {
				assertEntry(t, got, want)
			}
		})
	}
	t.Run("overwrite", func(t *testing.T) {
		c := newCache(t)
		for _, body := range []string{"first", "second"} {
			if err := c.Set(ctx, "k", gateway.StoredAnswer{Status: 200, Body: []byte(body)}, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		got, ok, err := c.Get(ctx, "k")
		if err != nil || !ok || string(got.Body) != "second" {
			t.Errorf("Get = %q, %v, %v; want second", got.Body, ok, err)
		}
	})
	t.Run("set copies the caller's buffer", func(t *testing.T) {
		c := newCache(t)
		buf := []byte("answer")
		if err := c.Set(ctx, "k", gateway.StoredAnswer{Status: 200, Body: buf}, time.Minute); err != nil {
			t.Fatal(err)
		}
		copy(buf, "XXXXXX")
		got, _, _ := c.Get(ctx, "k")
		if string(got.Body) != "answer" {
			t.Errorf("Body = %q after the caller reused its buffer", got.Body)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func assertEntry(t *testing.T, got, want gateway.StoredAnswer) {
	t.Helper()
	if got.Status != want.Status || got.ContentType != want.ContentType || !bytes.Equal(got.Body, want.Body) ||
		got.PromptTokens != want.PromptTokens || got.CompletionTokens != want.CompletionTokens {
		t.Errorf("answer = %+v, want %+v", got, want)
	}
}

// testRedisAddr is the machine's Redis; OAIS_TEST_REDIS_ADDR overrides it.
func testRedisAddr() string {
	if a := os.Getenv("OAIS_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// newTestRedis returns a client on the machine's Redis and a key prefix
// unique to the test, whose keys are deleted when it ends. It fails the
// test (never skips) if Redis does not answer.
func newTestRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testRedisAddr(), MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("redis at %s unreachable: %v; start it with `redis-server --daemonize yes` "+
			"(or `docker run -d -p 6379:6379 redis:7`), or point OAIS_TEST_REDIS_ADDR at one", testRedisAddr(), err)
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

// fakeClock is an injected clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
