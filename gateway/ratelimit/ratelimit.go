// Package ratelimit decides whether a request may pass the workspace's and
// the key's limits: rolling-window limits (RPM, TPM) and cumulative budgets
// (a key's maxRequests, a month's tokens or spend). Every decision is
// all-or-nothing over a set of counters, in-process (Local) or shared
// through Redis (Redis), with Fallback switching between the two.
//
// # Rolling windows
//
// A rolling counter splits its Window into Options.Buckets sub-windows
// (60 by default: one-second buckets for a minute) and sums the live ones.
// Admission within one window is exact: N concurrent requests against
// Limit N admit exactly N, on one replica or across many through Redis.
// The error is in expiry only: a unit leaves the window between
// Window-Window/Buckets and Window after it was counted. So a true sliding
// window of length Window holds at most Limit plus what one bucket held:
// up to 2*Limit if a whole limit is spent within one bucket and again just
// after that bucket expires, about Limit*(1+1/Buckets) for evenly spread
// traffic. Raise Buckets for a tighter bound at the cost of
// memory (Local: 8 bytes per bucket per counter) and of RetryAfter's
// O(Buckets) scan on denial.
//
// # Fail mode
//
// Fallback fails OPEN to per-replica local limits, not closed: while Redis
// is unreachable each gateway replica enforces every limit on its own, so
// a fleet of R replicas may admit up to R times a rolling limit, and
// cumulative budgets start from the highest of their Floor and the last
// total Redis reported for them. Refusing all traffic because the
// limiter's store is down would turn a Redis outage into a full outage;
// the gauge oais_ratelimit_redis_up and the counter
// oais_ratelimit_fallback_total make the degraded state visible. Usage
// counted locally during an outage reaches Redis through the Floor the
// caller passes once the ledger has it, not directly.
//
// # Budgets survive Redis
//
// A cumulative counter (a budget) keeps what was settled apart from what
// is reserved. Its settled total never goes down, and a known lower bound
// of its use (Counter.Floor: what the ledger says; and the settled total
// Redis reported to this process's latest reservation) can be applied at
// any time: a counter that is missing (a flushed, evicted or restarted
// Redis) starts from the highest floor, and one whose total (settled and
// reserved) is below its floor has its settled part raised to the floor
// less its reservations, in the same script that decides the reservation,
// so no reservation ever sees a lost counter as 0. The floor may already
// hold the use of reservations not settled yet (a lease's requests reach
// the ledger before the lease settles), so open reservations count toward
// it rather than on top: nothing is counted twice, and use only the floor
// knows of (a settlement dropped) may hide within open reservations until
// they settle. A settlement of a reservation made before the counter was
// lost and made again adds nothing: the floor brings that use.
// Reservations are held apart, each expiring Options.ReservationTTL after
// it was made unless settled first: one whose settlement never arrives (a
// caller that gave up after the script was sent, a timed-out round trip,
// a settlement dropped while Redis was unreachable) stops counting then,
// rather than for the rest of the month.
package ratelimit

import (
	"context"
	"errors"
	"time"
)

// Counter is one limit a request must fit under.
type Counter struct {
	// Key names the counter, e.g. "ws:{<ws id>}:rpm" or
	// "key:{<ws id>}:<key id>:req". For a cumulative budget the key carries
	// its period, e.g. "ws:{<ws id>}:spend:2026-11". A key must keep one
	// Window (a new Window starts the counter afresh) and must not appear
	// twice in one request. On Redis Cluster the counters of one request
	// must share a hash tag (the part in braces; see Redis).
	Key string
	// Limit is the most the counter may hold; <= 0 means no limit (the
	// counter is still kept, for headers and usage).
	Limit int64
	// Window is the rolling window (a minute for RPM/TPM); 0 makes the
	// counter cumulative: it never decays.
	Window time.Duration
	// Cost is what this request reserves: 1 for a request counter, the
	// estimated tokens or worst-case micro-dollars otherwise. It must not be
	// negative.
	Cost int64
	// Floor, for a cumulative counter, is a total the counter is known to
	// have used (from the ledger), which may include use of its open
	// reservations: a missing counter starts from it, and one whose
	// settled and reserved total is below it is raised to it. It must
	// never exceed what was really used, or the excess is counted for
	// good. Ignored for a rolling counter.
	Floor int64
}

// State is a counter's standing after a decision, for OpenAI's
// x-ratelimit-* headers. For a counter without a limit (Limit <= 0)
// Remaining is 0 and meaningless.
type State struct {
	Limit     int64
	Remaining int64
	// Reset is how long until the counter is fully replenished; 0 for a
	// cumulative counter.
	Reset time.Duration
}

// reservationInline is how many counters a Reservation holds without a
// further allocation; the gateway's requests carry 2 to 8.
const reservationInline = 8

// Reservation is what an admitted request holds until it settles. It must
// not be copied after use: its slices may point into its own storage.
type Reservation struct {
	Counters []Counter
	// At is when the reservation was recorded, by the clock of the store
	// that recorded it (Redis server time for Redis); Settle uses it to find
	// the bucket to adjust.
	At     time.Time
	States []State // one per counter, same order

	origin    origin
	settled   bool
	leases    [reservationInline]*lease // one per counter when admitted from Redis leases
	counterIn [reservationInline]Counter
	stateIn   [reservationInline]State
}

// origin records which store holds a reservation, so Fallback settles it
// where it was made.
type origin uint8

const (
	originNone origin = iota
	originLocal
	originRedis
)

// reset prepares r for a new decision over counters, reusing its storage.
func (r *Reservation) reset(counters []Counter, o origin) {
	if cap(r.Counters) == 0 {
		r.Counters = r.counterIn[:0]
	}
	if cap(r.States) == 0 {
		r.States = r.stateIn[:0]
	}
	r.Counters = append(r.Counters[:0], counters...)
	r.States = r.States[:0]
	r.origin = o
	r.settled = false
	r.leases = [reservationInline]*lease{}
	r.At = time.Time{}
}

// Denied is returned when a counter is full; nothing was reserved.
type Denied struct {
	Index int // which counter refused
	Key   string
	// RetryAfter is when the refusing counter will have room for the cost;
	// 0 for a cumulative budget: waiting won't help.
	RetryAfter time.Duration
	// TooLarge reports that the cost alone exceeds the limit, so no wait
	// helps (RetryAfter is then the time to full replenishment).
	TooLarge bool
	States   []State
}

// Error implements error.
func (d *Denied) Error() string { return "ratelimit: limit reached for " + d.Key }

// ErrUnavailable means the shared store (Redis) cannot be reached; callers
// fall back to in-process limits (see Fallback).
var ErrUnavailable = errors.New("ratelimit: shared counter store unavailable")

// ErrNegativeCost is returned by Reserve for a counter whose Cost is below 0.
var ErrNegativeCost = errors.New("ratelimit: negative cost")

// ErrSettleMismatch is returned by Settle when actual does not have one
// value per reserved counter.
var ErrSettleMismatch = errors.New("ratelimit: settle needs one actual value per counter")

// ErrSettled is returned by Settle for a reservation that was already
// settled, or that this limiter did not make.
var ErrSettled = errors.New("ratelimit: reservation already settled or not made here")

// Limiter admits requests against counters. Implementations must be safe
// for concurrent use and take no global lock.
type Limiter interface {
	// Reserve admits a request if every counter has room for its Cost, and
	// then reserves all of them; otherwise it reserves none and returns a *Denied.
	Reserve(ctx context.Context, counters []Counter) (*Reservation, error)
	// Settle replaces each reserved cost by the actual one (same order as
	// the reservation's counters); a request that failed settles at 0.
	Settle(ctx context.Context, r *Reservation, actual []int64) error
}

// IntoReserver is the allocation-free variant of Limiter.Reserve that
// Local, Redis and Fallback also implement: the caller owns r (typically
// from its own sync.Pool) and may reuse it after Settle.
type IntoReserver interface {
	ReserveInto(ctx context.Context, counters []Counter, r *Reservation) error
}

// AsyncSettler is Settle for a caller that does not wait: Redis and
// Fallback implement it, so a shared limiter's settlement costs a request
// no goroutine and no round trip of its own. SettleAsync reads r and
// actual before it returns (the caller may reuse both at once) and calls
// done exactly once with what Settle would have returned, possibly on
// another goroutine and possibly before SettleAsync returns.
type AsyncSettler interface {
	SettleAsync(r *Reservation, actual []int64, done func(error))
}

// Charger adds to budgets usage that no reservation held — an answer
// served from the response cache, which the ledger counts — without
// waiting: each cumulative counter's Cost is added to its settled total
// (rolling counters are left alone; a budget Redis lost is left to its
// next reservation's Floor). done is called as SettleAsync's is.
type Charger interface {
	ChargeAsync(counters []Counter, done func(error))
}

var (
	_ Charger      = (*Local)(nil)
	_ Charger      = (*Redis)(nil)
	_ Charger      = (*Fallback)(nil)
	_ AsyncSettler = (*Redis)(nil)
	_ AsyncSettler = (*Fallback)(nil)
	_ Limiter      = (*Local)(nil)
	_ Limiter      = (*Redis)(nil)
	_ Limiter      = (*Fallback)(nil)
	_ IntoReserver = (*Local)(nil)
	_ IntoReserver = (*Redis)(nil)
	_ IntoReserver = (*Fallback)(nil)
)

// DefaultBuckets is how many sub-windows a rolling window is split into
// unless Options.Buckets says otherwise.
const DefaultBuckets = 60

// Options tunes Local and Redis. The zero value is usable.
type Options struct {
	// Buckets is the number of sub-windows per rolling window (default
	// DefaultBuckets). Every replica sharing a Redis must use the same value;
	// it is part of the Redis key so a change starts fresh counters.
	Buckets int
	// Now is the clock (default time.Now). Local only: Redis uses its
	// server's clock so replicas' clocks don't matter.
	Now func() time.Time
	// CumulativeIdle is how long a Local cumulative counter may go unused
	// before it is evicted (default DefaultCumulativeIdle; < 0 never). An
	// evicted counter starts again from the next reservation's Floor.
	CumulativeIdle time.Duration
	// CumulativeTTL, if > 0, is the expiry Redis refreshes on a cumulative
	// counter at every write; 0 keeps them forever (and so out of reach of
	// Redis's volatile-* eviction policies).
	CumulativeTTL time.Duration
	// ReservationTTL (Redis only) is how long a reservation of a
	// cumulative counter counts if it is never settled (default
	// DefaultReservationTTL); it expires within 10 s after that. It
	// must outlast the longest request, or a request still running stops
	// holding its worst case: the gateway sets it from its upstream
	// timeout (raise both together).
	ReservationTTL time.Duration
	// LeaseDivisor (Redis only), when > 0, lets this replica decide most
	// requests in process against leases of up to Limit/LeaseDivisor units
	// of a counter reserved in Redis; see lease.go for what that changes
	// (no overshoot; early refusals of at most replicas×Limit/LeaseDivisor
	// for up to LeaseLife). 0 decides every request in Redis.
	LeaseDivisor int64
	// LeaseLife (Redis only) is how long a lease admits requests (default
	// DefaultLeaseLife).
	LeaseLife time.Duration
}

// DefaultCumulativeIdle outlives any monthly budget period, so a month's
// counter is only evicted once its month is over.
const DefaultCumulativeIdle = 40 * 24 * time.Hour

// DefaultReservationTTL outlasts the gateway's default upstream timeout
// (10 minutes) and its drain.
const DefaultReservationTTL = 15 * time.Minute

func (o Options) withDefaults() Options {
	if o.Buckets <= 0 {
		o.Buckets = DefaultBuckets
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CumulativeIdle == 0 {
		o.CumulativeIdle = DefaultCumulativeIdle
	}
	if o.ReservationTTL <= 0 {
		o.ReservationTTL = DefaultReservationTTL
	}
	if o.LeaseLife <= 0 {
		o.LeaseLife = DefaultLeaseLife
	}
	return o
}

// bucketWidth is the length of one sub-window of window, at least 1ns.
func bucketWidth(window time.Duration, buckets int) int64 {
	g := int64(window) / int64(buckets)
	if g < 1 {
		g = 1
	}
	return g
}

func validate(counters []Counter) error {
	for i := range counters {
		if counters[i].Cost < 0 {
			return ErrNegativeCost
		}
	}
	return nil
}
