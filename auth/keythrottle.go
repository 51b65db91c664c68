package auth

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Defaults of a KeyThrottle: 10 failures per key in 15 minutes.
const (
	DefaultKeyFailures = 10
	DefaultKeyWindow   = 15 * time.Minute
)

// KeyThrottle counts failures per key with GCRA, like Throttle but with no
// address in the key. It bounds guessing that a per-address limit would not:
// second-factor codes, where whoever guesses already holds the password and
// may use many addresses. Locking the account's second step for a while is
// the point, and only someone with its password can cause it.
type KeyThrottle struct {
	mu  sync.Mutex
	g   gcra
	now func() time.Time
}

// NewKeyThrottle allows failures per window per key (defaults if <= 0);
// now is the clock (time.Now if nil).
func NewKeyThrottle(failures int, window time.Duration, now func() time.Time) (*KeyThrottle, error) {
	if failures <= 0 {
		failures = DefaultKeyFailures
	}
	if window <= 0 {
		window = DefaultKeyWindow
	}
	if now == nil {
		now = time.Now
	}
	l, err := simplelru.NewLRU[string, time.Time](DefaultThrottleEntries, nil)
	if err != nil {
		return nil, fmt.Errorf("auth: key throttle table: %w", err)
	}
	return &KeyThrottle{g: gcra{tat: l, interval: window / time.Duration(failures), window: window}, now: now}, nil
}

// Allow reports whether key may try now, and if not how long to wait.
func (t *KeyThrottle) Allow(key string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	wait := t.g.wait(key, t.now())
	return wait <= 0, max(wait, 0)
}

// Fail records a failure of key.
func (t *KeyThrottle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.g.add(key, t.now())
}

// Succeed forgets key's failures.
func (t *KeyThrottle) Succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.g.tat.Remove(key)
}

// gcra is one limit: a key may fail `limit` times per window; tat is each
// key's theoretical arrival time.
type gcra struct {
	tat      *simplelru.LRU[string, time.Time]
	interval time.Duration // window / limit
	window   time.Duration
}

// wait returns how long until key may fail once more without exceeding the
// limit; <= 0 means now.
func (g gcra) wait(key string, now time.Time) time.Duration {
	tat, ok := g.tat.Peek(key)
	if !ok {
		return 0
	}
	return tat.Sub(now) - (g.window - g.interval)
}

func (g gcra) add(key string, now time.Time) {
	tat, ok := g.tat.Get(key)
	if !ok || tat.Before(now) {
		tat = now
	}
	g.tat.Add(key, tat.Add(g.interval))
}
