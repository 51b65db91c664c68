package auth

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Defaults of ThrottleConfig: 5 failed sign-ins per account and address in
// 15 minutes, 50 per address. After that one more attempt is allowed every
// window/limit (3 minutes for an account, 18 seconds for an address).
const (
	DefaultAccountFailures = 5
	DefaultIPFailures      = 50
	DefaultThrottleWindow  = 15 * time.Minute
	// DefaultThrottleEntries bounds each of the two tables; the oldest
	// entries are forgotten first, which only ever errs towards allowing.
	DefaultThrottleEntries = 100_000
)

// ThrottleConfig configures a Throttle. Zero fields take the defaults.
type ThrottleConfig struct {
	AccountFailures int
	IPFailures      int
	Window          time.Duration
	MaxEntries      int
	// Now is the clock; time.Now if nil. Tests inject one.
	Now func() time.Time
}

// Throttle slows down password guessing. It counts failed sign-ins per
// (account, address) and per address with GCRA, which needs one timestamp
// per key instead of a log of attempts. It is in-process: each control-plane
// replica throttles on its own, which multiplies the budget by the replica
// count but needs no shared store.
//
// There is deliberately no per-account limit across all addresses: it would
// let anyone lock a victim out by failing on purpose.
type Throttle struct {
	mu      sync.Mutex
	account gcra
	ip      gcra
	now     func() time.Time
}

// gcra is one limit: a key may fail `limit` times per window; tat is each
// key's theoretical arrival time.
type gcra struct {
	tat      *simplelru.LRU[string, time.Time]
	interval time.Duration // window / limit
	window   time.Duration
}

// NewThrottle returns a Throttle configured by cfg.
func NewThrottle(cfg ThrottleConfig) (*Throttle, error) {
	if cfg.AccountFailures <= 0 {
		cfg.AccountFailures = DefaultAccountFailures
	}
	if cfg.IPFailures <= 0 {
		cfg.IPFailures = DefaultIPFailures
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultThrottleWindow
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultThrottleEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	newGCRA := func(limit int) (gcra, error) {
		l, err := simplelru.NewLRU[string, time.Time](cfg.MaxEntries, nil)
		if err != nil {
			return gcra{}, fmt.Errorf("auth: throttle table: %w", err)
		}
		return gcra{tat: l, interval: cfg.Window / time.Duration(limit), window: cfg.Window}, nil
	}
	acct, err := newGCRA(cfg.AccountFailures)
	if err != nil {
		return nil, err
	}
	ip, err := newGCRA(cfg.IPFailures)
	if err != nil {
		return nil, err
	}
	return &Throttle{account: acct, ip: ip, now: cfg.Now}, nil
}

// Allow reports whether a sign-in for email from ip may be attempted now,
// and if not, how long to wait (for a Retry-After header). It does not count
// the attempt; call Fail or Succeed with its outcome.
func (t *Throttle) Allow(email string, ip netip.Addr) (bool, time.Duration) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	wait := max(t.account.wait(accountKey(email, ip), now), t.ip.wait(ipKey(ip), now))
	return wait <= 0, max(wait, 0)
}

// Fail records a failed sign-in (wrong password or unknown account: count
// both, or the throttle would reveal which accounts exist).
func (t *Throttle) Fail(email string, ip netip.Addr) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.account.add(accountKey(email, ip), now)
	t.ip.add(ipKey(ip), now)
}

// Succeed records a successful sign-in: it forgets the (account, address)
// failures but not the address's, so one valid account cannot be used to
// reset an address's budget for guessing others.
func (t *Throttle) Succeed(email string, ip netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.account.tat.Remove(accountKey(email, ip))
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

func accountKey(email string, ip netip.Addr) string {
	return strings.ToLower(strings.TrimSpace(email)) + "\x00" + ipKey(ip)
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
