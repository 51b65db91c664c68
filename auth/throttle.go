package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/redis/go-redis/v9"
)

// Defaults of ThrottleConfig: 5 failed sign-ins per account and address in
// 15 minutes, 50 per address. After that one more attempt is allowed every
// window/limit (3 minutes for an account, 18 seconds for an address).
const (
	DefaultAccountFailures = 5
	DefaultIPFailures      = 50
	DefaultThrottleWindow  = 15 * time.Minute
	// DefaultThrottleEntries bounds each in-process table; the oldest
	// entries are forgotten first, which only ever errs towards allowing.
	DefaultThrottleEntries = 100_000
)

// Defaults of Backoff, the sign-in bound on one account across addresses:
// after 10 failures of an account from addresses it has not signed in from,
// each further attempt waits 1, 2, 4, 8, then at most 15 minutes after the
// last failure. A credential-stuffing botnet gets about 100 guesses a day
// per account however many addresses it has; the real user waits at most
// DefaultBackoffMax on a new device and not at all from one they signed in
// from in the last 30 days.
const (
	DefaultBackoffAfter  = 10
	DefaultBackoffBase   = time.Minute
	DefaultBackoffMax    = 15 * time.Minute
	DefaultBackoffForget = 24 * time.Hour
	DefaultKnownFor      = 30 * 24 * time.Hour
)

// DefaultRedisPrefix starts the throttles' keys in Redis.
const DefaultRedisPrefix = "oais:"

// throttleRedisTimeout bounds one round trip to Redis; past it the
// in-process counters decide, so a black-holed Redis costs a sign-in this
// long at most. After a failure Redis is left alone for
// throttleRedisRetry, so only one attempt in that time pays it.
const (
	throttleRedisTimeout = time.Second
	throttleRedisRetry   = 5 * time.Second
)

// Backoff bounds the failures of one account from every address together
// (credential stuffing spreads its guesses over many addresses, each under
// the per-address limits). It is exponential and capped, never a lock-out:
// failures past After make the next attempt wait Base, doubling per
// failure up to Max after the latest; a success clears them. Addresses the
// account signed in from within KnownFor are exempt, so an attack keeps
// the real user waiting only on a device they have not used yet (and a
// password reset by mail signs them in regardless). The zero value is no
// bound.
type Backoff struct {
	// After is how many failures pass before the first delay.
	After int
	// Base is the first delay, Max the longest; DefaultBackoffBase and
	// DefaultBackoffMax if zero.
	Base, Max time.Duration
	// Forget drops an account's failures this long after its latest one;
	// DefaultBackoffForget if zero. Keep it well above Max, or an attacker
	// waiting out Max would find the count reset.
	Forget time.Duration
	// KnownFor is how long an address an account signed in from stays
	// exempt; DefaultKnownFor if zero.
	KnownFor time.Duration
}

// delay is how long after the latest of n failures the next attempt waits.
func (b Backoff) delay(n int64) time.Duration {
	if n < int64(b.After) {
		return 0
	}
	e := min(n-int64(b.After), 40)
	d := b.Base << e
	if d <= 0 || d > b.Max {
		return b.Max
	}
	return d
}

// ThrottleConfig configures a Throttle. Zero fields take the defaults.
type ThrottleConfig struct {
	// Name keeps throttles apart in a shared Redis: "signin", "signup",
	// "mail".
	Name string
	// AccountFailures and IPFailures are attempts per Window per (key,
	// address) and per address; negative means no such limit.
	AccountFailures int
	IPFailures      int
	Window          time.Duration
	// Total bounds attempts from every address together per TotalWindow
	// (Window if zero): a safety net against a flood from many addresses.
	// Zero means no total.
	Total       int
	TotalWindow time.Duration
	// Backoff bounds one account's failures across addresses; zero: none.
	Backoff    Backoff
	MaxEntries int
	// Redis, when set, keeps the counters there, shared by every replica
	// (OAIS_REDIS_URL); nil keeps them in this process. While Redis does
	// not answer, each replica's in-process counters decide (fail open to
	// per-replica limits, never closed: a lost Redis must not lock
	// everyone out).
	Redis redis.UniversalClient
	// RedisPrefix starts every key; DefaultRedisPrefix if empty.
	RedisPrefix string
	// Now is the clock; time.Now if nil. Tests inject one. With Redis and
	// no Now, Redis's own clock decides, so replicas' clocks don't matter.
	Now    func() time.Time
	Logger *slog.Logger
}

// SignInLimits is the sign-in throttle with the defaults: per account and
// address, per address, and Backoff per account across addresses.
func SignInLimits() ThrottleConfig {
	return ThrottleConfig{Name: "signin", Backoff: Backoff{After: DefaultBackoffAfter}}
}

// Throttle slows down guessing and flooding. It counts attempts per (key,
// address), per address and in total with GCRA, which needs one timestamp
// per counter instead of a log of attempts, and failures per key (an
// account) across addresses with a capped exponential Backoff. An attempt
// is checked and counted in one step (Take), so a burst of concurrent
// attempts gets no more through than the same attempts one by one;
// Succeed gives a successful one back.
//
// The counters are in-process, or in Redis (ThrottleConfig.Redis) where
// every control-plane replica shares them; in Redis each Take and Succeed
// is one Lua script.
type Throttle struct {
	cfg    ThrottleConfig
	local  *localCounters
	shared *redisCounters // nil: in-process only
	down   atomic.Bool    // Redis failed last time; logged once per change
	// retryAt (unix ns, wall clock) is when Redis is tried again after a
	// failure.
	retryAt atomic.Int64
}

// NewThrottle returns a Throttle configured by cfg.
func NewThrottle(cfg ThrottleConfig) (*Throttle, error) {
	if cfg.AccountFailures == 0 {
		cfg.AccountFailures = DefaultAccountFailures
	}
	if cfg.IPFailures == 0 {
		cfg.IPFailures = DefaultIPFailures
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultThrottleWindow
	}
	if cfg.TotalWindow <= 0 {
		cfg.TotalWindow = cfg.Window
	}
	if b := &cfg.Backoff; b.After > 0 {
		b.Base = cmp.Or(b.Base, DefaultBackoffBase)
		b.Max = cmp.Or(b.Max, DefaultBackoffMax)
		b.Forget = cmp.Or(b.Forget, DefaultBackoffForget)
		b.KnownFor = cmp.Or(b.KnownFor, DefaultKnownFor)
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultThrottleEntries
	}
	if cfg.Name == "" {
		cfg.Name = "throttle"
	}
	if cfg.RedisPrefix == "" {
		cfg.RedisPrefix = DefaultRedisPrefix
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Throttle{cfg: cfg}
	var err error
	if t.local, err = newLocalCounters(cfg.MaxEntries); err != nil {
		return nil, err
	}
	if cfg.Redis != nil {
		t.shared = &redisCounters{client: cfg.Redis, prefix: cfg.RedisPrefix + "throttle:{" + cfg.Name + "}:", serverClock: cfg.Now == nil}
	}
	if t.cfg.Now == nil {
		t.cfg.Now = time.Now
	}
	return t, nil
}

// Take reports whether an attempt for key (an account's e-mail, or any
// other subject) from ip may be made now and, if so, counts it against
// every limit, in one step. If not, nothing is counted and wait says how
// long until it may (for a Retry-After). Call Succeed if the attempt
// succeeded; a failure needs nothing more.
func (t *Throttle) Take(ctx context.Context, key string, ip netip.Addr) (bool, time.Duration) {
	a := t.attempt(key, ip)
	now := t.cfg.Now()
	var wait time.Duration
	err := t.remote(ctx, func(ctx context.Context) error {
		var err error
		wait, err = t.shared.take(ctx, now, a)
		return err
	})
	if err != nil {
		wait = t.local.take(now, a)
	}
	return wait <= 0, max(wait, 0)
}

// Succeed records that the attempt Take counted for key from ip succeeded
// (a sign-in): it forgets the (key, address) failures, gives the address
// (and the total) its attempt back, clears the key's Backoff and exempts
// ip from it for Backoff.KnownFor. The address keeps its other failures,
// so one valid account cannot be used to reset an address's budget for
// guessing others.
func (t *Throttle) Succeed(ctx context.Context, key string, ip netip.Addr) {
	a := t.attempt(key, ip)
	now := t.cfg.Now()
	if err := t.remote(ctx, func(ctx context.Context) error { return t.shared.succeed(ctx, now, a) }); err != nil {
		t.local.succeed(now, a)
	}
}

// Trust records that the client at ip proved to be key's owner another
// way than an attempt Take counted (it signed up, or used a link mailed to
// the address): it clears the key's Backoff and exempts ip from it for
// Backoff.KnownFor, giving no attempt back.
func (t *Throttle) Trust(ctx context.Context, key string, ip netip.Addr) {
	a := t.attempt(key, ip)
	if a.backoff == nil {
		return
	}
	a.gcra = nil
	now := t.cfg.Now()
	if err := t.remote(ctx, func(ctx context.Context) error { return t.shared.succeed(ctx, now, a) }); err != nil {
		t.local.succeed(now, a)
	}
}

// remote runs f on Redis if the throttle has one, logging when Redis stops
// or starts answering; an error means the in-process counters decide.
func (t *Throttle) remote(ctx context.Context, f func(context.Context) error) error {
	if t.shared == nil {
		return errNoRedis
	}
	if t.down.Load() && time.Now().UnixNano() < t.retryAt.Load() {
		return errRedisDown
	}
	ctx, cancel := context.WithTimeout(ctx, throttleRedisTimeout)
	defer cancel()
	err := f(ctx)
	if err != nil {
		t.retryAt.Store(time.Now().Add(throttleRedisRetry).UnixNano())
	}
	switch {
	case err != nil && t.down.CompareAndSwap(false, true):
		t.cfg.Logger.Warn("auth: throttle cannot reach Redis; each replica throttles on its own until it answers again",
			"throttle", t.cfg.Name, "err", err)
	case err == nil && t.down.CompareAndSwap(true, false):
		t.cfg.Logger.Info("auth: throttle reaches Redis again; limits are shared", "throttle", t.cfg.Name)
	}
	return err
}

var (
	errNoRedis   = errors.New("auth: no Redis")
	errRedisDown = errors.New("auth: Redis failed moments ago")
)

// Counter tables of the in-process store; each has its own LRU so a flood
// of one kind (addresses) cannot push out another (accounts).
const (
	tablePair = iota
	tableIP
	tableTotal
	nTables
)

// gcraLimit is one GCRA counter an attempt spends: a key may be spent
// once per interval, with burst of credit ahead (window - interval).
type gcraLimit struct {
	table    int
	key      string
	interval time.Duration
	burst    time.Duration
}

// backoffLimit is the Backoff counter of an attempt's key, and the mark
// of the (key, address) pair that exempts it.
type backoffLimit struct {
	Backoff
	key, known string
}

// attempt is every counter one attempt touches.
type attempt struct {
	gcra    []gcraLimit
	backoff *backoffLimit
}

func (t *Throttle) attempt(key string, ip netip.Addr) attempt {
	key = strings.ToLower(strings.TrimSpace(key))
	pair := key + "\x00" + ipKey(ip)
	var a attempt
	add := func(table int, k string, limit int, window time.Duration) {
		if limit > 0 {
			iv := window / time.Duration(limit)
			a.gcra = append(a.gcra, gcraLimit{table: table, key: k, interval: iv, burst: window - iv})
		}
	}
	add(tablePair, "a:"+pair, t.cfg.AccountFailures, t.cfg.Window)
	add(tableIP, "i:"+ipKey(ip), t.cfg.IPFailures, t.cfg.Window)
	add(tableTotal, "t:", t.cfg.Total, t.cfg.TotalWindow)
	if t.cfg.Backoff.After > 0 {
		a.backoff = &backoffLimit{Backoff: t.cfg.Backoff, key: "b:" + key, known: "k:" + pair}
	}
	return a
}

// localCounters is the in-process store.
type localCounters struct {
	mu      sync.Mutex
	tat     [nTables]*simplelru.LRU[string, time.Time]
	backoff *simplelru.LRU[string, backoffState]
	known   *simplelru.LRU[string, time.Time] // until when the pair is exempt
}

// backoffState is a key's failures and the time of the latest.
type backoffState struct {
	n    int64
	last time.Time
}

func newLocalCounters(size int) (*localCounters, error) {
	l := &localCounters{}
	var err error
	for i := range l.tat {
		if l.tat[i], err = simplelru.NewLRU[string, time.Time](size, nil); err != nil {
			return nil, fmt.Errorf("auth: throttle table: %w", err)
		}
	}
	if l.backoff, err = simplelru.NewLRU[string, backoffState](size, nil); err != nil {
		return nil, fmt.Errorf("auth: throttle table: %w", err)
	}
	if l.known, err = simplelru.NewLRU[string, time.Time](size, nil); err != nil {
		return nil, fmt.Errorf("auth: throttle table: %w", err)
	}
	return l, nil
}

func (l *localCounters) take(now time.Time, a attempt) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, g := range a.gcra {
		if tat, ok := l.tat[g.table].Peek(g.key); ok {
			wait = max(wait, tat.Sub(now)-g.burst)
		}
	}
	var st backoffState
	counted := false
	if b := a.backoff; b != nil {
		if until, ok := l.known.Peek(b.known); !ok || !now.Before(until) {
			counted = true
			st, _ = l.backoff.Peek(b.key)
			if now.Sub(st.last) > b.Forget {
				st = backoffState{}
			}
			if d := b.delay(st.n); d > 0 {
				wait = max(wait, st.last.Add(d).Sub(now))
			}
		}
	}
	if wait > 0 {
		return wait
	}
	for _, g := range a.gcra {
		tat, ok := l.tat[g.table].Get(g.key)
		if !ok || tat.Before(now) {
			tat = now
		}
		l.tat[g.table].Add(g.key, tat.Add(g.interval))
	}
	if counted {
		l.backoff.Add(a.backoff.key, backoffState{n: st.n + 1, last: now})
	}
	return 0
}

func (l *localCounters) succeed(now time.Time, a attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, g := range a.gcra {
		if g.table == tablePair {
			l.tat[g.table].Remove(g.key)
			continue
		}
		if tat, ok := l.tat[g.table].Peek(g.key); ok && tat.After(now) {
			l.tat[g.table].Add(g.key, later(tat.Add(-g.interval), now))
		}
	}
	if b := a.backoff; b != nil {
		l.backoff.Remove(b.key)
		l.known.Add(b.known, now.Add(b.KnownFor))
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ipKey groups IPv6 clients by /64, the smallest block an end site usually
// gets; otherwise one host could rotate through 2^64 addresses.
func ipKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}
