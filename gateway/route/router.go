package route

import (
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of BreakerConfig (docs/routing.md).
const (
	// DefaultFailureThreshold consecutive failures open a channel's breaker.
	DefaultFailureThreshold = 3
	// DefaultCooldown is how long an open breaker keeps its channel out
	// before one half-open probe may try it.
	DefaultCooldown = 30 * time.Second
	// DefaultMaxRetryAfter bounds how long a provider's Retry-After may
	// keep its channel out: a hostile or confused provider cannot park a
	// channel for a day.
	DefaultMaxRetryAfter = 5 * time.Minute
	// DefaultErrorWindow is how many of a channel's last outcomes the
	// error ratio is taken over, and DefaultErrorMinRequests how many of
	// them it needs before it may open the breaker.
	DefaultErrorWindow      = 20
	DefaultErrorMinRequests = 10
	// MaxErrorWindow bounds ErrorWindow: the window is one machine word
	// of outcome bits beside its count (health.outcomes).
	MaxErrorWindow = 32
)

// BreakerConfig tunes every channel's circuit breaker. The zero value
// takes the defaults.
type BreakerConfig struct {
	// FailureThreshold consecutive failures open the breaker.
	FailureThreshold int
	Cooldown         time.Duration
	MaxRetryAfter    time.Duration
	// ErrorRatio, when above 0, also opens the breaker when failures are
	// at least this share (0 < ErrorRatio ≤ 1) of the channel's last
	// ErrorWindow outcomes, once ErrorMinRequests of them are known: a
	// channel that fails every other request never reaches
	// FailureThreshold consecutive failures. 0 turns the ratio off.
	ErrorRatio       float64
	ErrorWindow      int // 1…MaxErrorWindow; 0 takes DefaultErrorWindow
	ErrorMinRequests int // 1…ErrorWindow; 0 takes DefaultErrorMinRequests (at most ErrorWindow)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Router picks a channel for a request and keeps each channel's health
// (circuit breaker) and its own RPM/TPM counters. State is keyed by
// channel ID, so it survives snapshot reloads that hand out new *Channel
// values. Every method is safe for concurrent use; the hot path takes no
// lock and allocates nothing once a channel has been seen.
type Router struct {
	cfg BreakerConfig
	// byID holds the health of each channel ID ever seen: what survives
	// a reload. It grows with channels created, not with requests.
	byID sync.Map // string -> *health
	// byPtr caches the health of each *Channel, so the hot path looks up
	// a pointer (no allocation) instead of a string. It is cleared when
	// reloads have filled it with stale pointers.
	byPtr    sync.Map // *Channel -> *health
	ptrCount atomic.Int64
	// windowMask keeps the ErrorWindow low bits of health.outcomes.
	windowMask uint64
}

// maxCachedChannels bounds byPtr; past it the cache starts over (health
// itself lives in byID and is kept).
const maxCachedChannels = 1 << 14

// NewRouter returns a Router.
func NewRouter(cfg BreakerConfig) *Router {
	if cfg.FailureThreshold <= 0 {
		cfg.FailureThreshold = DefaultFailureThreshold
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.ErrorWindow <= 0 {
		cfg.ErrorWindow = DefaultErrorWindow
	}
	cfg.ErrorWindow = min(cfg.ErrorWindow, MaxErrorWindow)
	if cfg.ErrorMinRequests <= 0 {
		cfg.ErrorMinRequests = DefaultErrorMinRequests
	}
	cfg.ErrorMinRequests = min(cfg.ErrorMinRequests, cfg.ErrorWindow)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Router{cfg: cfg, windowMask: 1<<uint(cfg.ErrorWindow) - 1}
}

// Config is the Router's breaker configuration with its defaults filled in.
func (r *Router) Config() BreakerConfig { return r.cfg }

// health is one channel's breaker and rate counters, all atomics.
type health struct {
	failures atomic.Int64 // consecutive failures
	// outcomes is the error-ratio window, kept only when ErrorRatio is
	// set: the low 32 bits are the last outcomes, newest lowest, 1 for a
	// failure; the high 32 bits how many outcomes the window holds (up to
	// ErrorWindow). One word, so one CAS records an outcome; a healthy,
	// full window stays the same word and is not written.
	outcomes atomic.Uint64
	// openUntil (Unix ns) is when an open breaker lets a probe through;
	// 0 means closed.
	openUntil atomic.Int64
	// probeAt (Unix ns) is when the half-open probe under way started; a
	// probe that never reports (its client left) expires after a cooldown.
	probeAt atomic.Int64
	// The channel's own fixed one-minute window, per gateway replica.
	minute   atomic.Int64
	requests atomic.Int64
	tokens   atomic.Int64
}

func (r *Router) health(ch *Channel) *health {
	if v, ok := r.byPtr.Load(ch); ok {
		return v.(*health)
	}
	v, _ := r.byID.LoadOrStore(ch.ID, new(health))
	h := v.(*health)
	if r.ptrCount.Add(1) > maxCachedChannels {
		r.byPtr.Clear()
		r.ptrCount.Store(0)
	}
	r.byPtr.Store(ch, h)
	return h
}

// ServesPath reports whether a channel of type t serves the OpenAI
// endpoint path (as "/chat/completions"): an OpenAI-compatible channel
// every one, Azure chat, completions and embeddings, Anthropic chat only.
func ServesPath(t Type, path string) bool {
	switch t {
	case Azure:
		return path == "/chat/completions" || path == "/completions" || path == "/embeddings"
	case Anthropic:
		return path == "/chat/completions"
	}
	return true
}

// Serving reports whether any channel of chs serves model on path.
func Serving(chs []*Channel, model, path string) bool {
	for _, c := range chs {
		if c.Serves(model) && ServesPath(c.Type, path) && c.BaseURL != nil {
			return true
		}
	}
	return false
}

// Candidates is the channel list a request for model on the endpoint path
// picks from: the workspace's own when one of them serves it, else the
// site-wide ones when one of those does, else nil (the gateway's upstream
// serves).
func Candidates(workspace, site []*Channel, model, path string) []*Channel {
	if Serving(workspace, model, path) {
		return workspace
	}
	if Serving(site, model, path) {
		return site
	}
	return nil
}

// Pick chooses a channel of chs for model on path: among those that serve them, are
// not in tried, whose breaker lets a request through and whose own RPM
// and TPM are not spent, the highest priority, weighted at random within
// it. It returns nil when none is available. A channel it returns has
// counted the request against its RPM and, when half-open, holds the
// probe: report the outcome with Success or Failure.
func (r *Router) Pick(chs []*Channel, model, path string, tried []*Channel) *Channel {
	now := r.cfg.Now().UnixNano()
	for {
		best, total := 0, 0
		found := false
		for _, c := range chs {
			if !r.eligible(c, model, path, tried, now) {
				continue
			}
			switch {
			case !found || c.Priority > best:
				best, total, found = c.Priority, weight(c), true
			case c.Priority == best:
				total += weight(c)
			}
		}
		if !found {
			return nil
		}
		n := rand.IntN(total)
		var pick *Channel
		for _, c := range chs {
			if c.Priority != best || !r.eligible(c, model, path, tried, now) {
				continue
			}
			if n -= weight(c); n < 0 {
				pick = c
				break
			}
		}
		if pick == nil {
			// A channel became unavailable between the passes: again.
			continue
		}
		if r.take(pick, now) {
			return pick
		}
		// It lost a race for its last request of the minute or for its
		// probe: mark it tried and pick among the rest.
		tried = append(tried[:len(tried):len(tried)], pick)
	}
}

func weight(c *Channel) int {
	if c.Weight <= 0 {
		return 1
	}
	return c.Weight
}

// eligible: c serves model, was not tried, and may take a request now.
func (r *Router) eligible(c *Channel, model, path string, tried []*Channel, now int64) bool {
	if !c.Serves(model) || !ServesPath(c.Type, path) || c.BaseURL == nil {
		return false
	}
	for _, t := range tried {
		if t == c || t.ID == c.ID {
			return false
		}
	}
	h := r.health(c)
	if until := h.openUntil.Load(); until != 0 {
		if now < until {
			return false
		}
		if p := h.probeAt.Load(); p != 0 && now-p < int64(r.cfg.Cooldown) {
			return false // the probe is under way
		}
	}
	minute := now / int64(time.Minute)
	if h.minute.Load() != minute {
		return true // a fresh window
	}
	if c.RPM > 0 && h.requests.Load() >= c.RPM {
		return false
	}
	if c.TPM > 0 && h.tokens.Load() >= c.TPM {
		return false
	}
	return true
}

// take counts a request against c's window and claims the half-open probe
// if its breaker is open; false when another request got there first.
func (r *Router) take(c *Channel, now int64) bool {
	h := r.health(c)
	if until := h.openUntil.Load(); until != 0 && now >= until {
		p := h.probeAt.Load()
		if p != 0 && now-p < int64(r.cfg.Cooldown) {
			return false
		}
		if !h.probeAt.CompareAndSwap(p, now) {
			return false
		}
	}
	h.roll(now)
	if n := h.requests.Add(1); c.RPM > 0 && n > c.RPM {
		return false
	}
	return true
}

// roll starts a new minute window when the minute changed.
func (h *health) roll(now int64) {
	minute := now / int64(time.Minute)
	if old := h.minute.Load(); old != minute && h.minute.CompareAndSwap(old, minute) {
		h.requests.Store(0)
		h.tokens.Store(0)
	}
}

// Success reports that c answered (any status but 429 and 5xx): its
// breaker closes.
func (r *Router) Success(c *Channel) {
	h := r.health(c)
	if r.cfg.ErrorRatio > 0 {
		r.record(h, false)
	}
	if h.failures.Load() != 0 {
		// Stores only on a change: every success writing the shared
		// line would make replicas' cores fight over it.
		h.failures.Store(0)
	}
	if h.openUntil.Load() != 0 {
		h.openUntil.Store(0)
		h.probeAt.Store(0)
	}
}

// Failure reports that c failed (connect error, timeout before the
// answer, 429 or 5xx). After FailureThreshold consecutive failures, a
// failure share of at least ErrorRatio in the window, or a failed probe,
// the breaker opens for Cooldown; retryAfter > 0 (a provider's 429 or
// 503 Retry-After) opens it at once for that long, bounded by
// MaxRetryAfter.
func (r *Router) Failure(c *Channel, retryAfter time.Duration) {
	h := r.health(c)
	now := r.cfg.Now().UnixNano()
	n := h.failures.Add(1)
	ratio := r.cfg.ErrorRatio > 0 && r.record(h, true)
	open := time.Duration(0)
	switch {
	case retryAfter > 0:
		open = min(retryAfter, r.cfg.MaxRetryAfter)
	case n >= int64(r.cfg.FailureThreshold) || ratio || h.openUntil.Load() != 0:
		open = r.cfg.Cooldown
	}
	if open > 0 {
		h.openUntil.Store(now + int64(open))
		h.probeAt.Store(0)
		if r.cfg.ErrorRatio > 0 {
			// A fresh window after the cooldown: the probe's success
			// must not be judged by the failures that opened it.
			h.outcomes.Store(0)
		}
	}
}

// record adds one outcome to h's error-ratio window without a lock, and
// reports whether the window now holds at least ErrorMinRequests outcomes
// of which failures are at least ErrorRatio.
func (r *Router) record(h *health, failed bool) bool {
	var bit uint64
	if failed {
		bit = 1
	}
	for {
		old := h.outcomes.Load()
		n := min(old>>32+1, uint64(r.cfg.ErrorWindow))
		w := (old<<1 | bit) & r.windowMask
		nw := n<<32 | w
		if nw == old || h.outcomes.CompareAndSwap(old, nw) {
			return failed && int(n) >= r.cfg.ErrorMinRequests &&
				float64(bits.OnesCount64(w)) >= r.cfg.ErrorRatio*float64(n)
		}
	}
}

// Used adds tokens (prompt and completion) to c's TPM window.
func (r *Router) Used(c *Channel, tokens int64) {
	if c.TPM <= 0 || tokens <= 0 {
		return
	}
	h := r.health(c)
	h.roll(r.cfg.Now().UnixNano())
	h.tokens.Add(tokens)
}

// Open reports whether c's breaker is open (or half-open) now: for tests
// and metrics.
func (r *Router) Open(c *Channel) bool {
	return r.health(c).openUntil.Load() != 0
}
