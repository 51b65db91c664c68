package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultProbeEvery is how often Fallback retries Redis while it is down.
const DefaultProbeEvery = 5 * time.Second

// DefaultProbeTimeout bounds one probe, so a black-holed Redis costs a
// background goroutine this long, never a request.
const DefaultProbeTimeout = time.Second

// FallbackOptions tunes Fallback. The zero value is usable.
type FallbackOptions struct {
	// Registerer receives oais_ratelimit_redis_up and
	// oais_ratelimit_fallback_total; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// ProbeEvery defaults to DefaultProbeEvery, ProbeTimeout to
	// DefaultProbeTimeout.
	ProbeEvery   time.Duration
	ProbeTimeout time.Duration
	// Now is the clock for probe scheduling (default time.Now).
	Now func() time.Time
}

// Fallback is a Limiter that enforces shared limits through Redis and,
// while Redis is unreachable, per-replica limits through Local (see the
// package doc: it fails open to local limits, not closed). It logs one
// line when it switches either way, and re-probes Redis in the background
// at most every ProbeEvery, triggered by traffic rather than a timer so
// it has no goroutine to stop.
type Fallback struct {
	remote *Redis
	local  *Local
	log    *slog.Logger
	opts   FallbackOptions

	down      atomic.Bool
	probing   atomic.Bool
	nextProbe atomic.Int64 // unix ns

	redisUp   prometheus.Gauge
	fallbacks prometheus.Counter
}

// NewFallback returns a limiter that prefers remote and falls back to
// local. Its metrics are registered on opts.Registerer if set.
func NewFallback(remote *Redis, local *Local, opts FallbackOptions) (*Fallback, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ProbeEvery <= 0 {
		opts.ProbeEvery = DefaultProbeEvery
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = DefaultProbeTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Fallback{
		remote: remote,
		local:  local,
		log:    opts.Logger,
		opts:   opts,
		redisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "oais_ratelimit_redis_up",
			Help: "1 while rate limits are enforced through Redis, 0 while each replica enforces them locally.",
		}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oais_ratelimit_fallback_total",
			Help: "Rate-limit operations served by per-replica local limits because Redis was unreachable.",
		}),
	}
	f.redisUp.Set(1)
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{f.redisUp, f.fallbacks} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return f, nil
}

// RedisUp reports whether decisions currently go through Redis.
func (f *Fallback) RedisUp() bool { return !f.down.Load() }

// Reserve implements Limiter.
func (f *Fallback) Reserve(ctx context.Context, counters []Counter) (*Reservation, error) {
	r := new(Reservation)
	if err := f.ReserveInto(ctx, counters, r); err != nil {
		return nil, err
	}
	return r, nil
}

// ReserveInto implements IntoReserver.
func (f *Fallback) ReserveInto(ctx context.Context, counters []Counter, r *Reservation) error {
	if f.useRemote() {
		err := f.remote.ReserveInto(ctx, counters, r)
		if !errors.Is(err, ErrUnavailable) {
			return err
		}
		f.markDown(err)
	}
	f.fallbacks.Inc()
	var buf [stackCounters]Counter
	return f.local.ReserveInto(ctx, f.withSeen(counters, buf[:0]), r)
}

// withSeen returns counters with each budget's Floor raised to the total
// Redis last reported for it, so a budget this replica starts counting on
// its own (Redis just went away) starts where the shared one was, not at
// the caller's older floor. It copies into buf only if a floor changes.
func (f *Fallback) withSeen(counters, buf []Counter) []Counter {
	out := counters
	for i := range counters {
		if counters[i].Window != 0 {
			continue
		}
		if s := f.remote.seen(counters[i].Key); s > counters[i].Floor {
			if len(buf) == 0 {
				out = append(buf, counters...)
				buf = out
			}
			out[i].Floor = s
		}
	}
	return out
}

// Settle implements Limiter: a reservation settles where it was made. If
// Redis went away since, the adjustment is dropped (counted as a
// fallback): the local counters never held that reservation, and in Redis
// it expires after Options.ReservationTTL; the actual value reaches the
// budget through the ledger (Counter.Floor).
func (f *Fallback) Settle(ctx context.Context, r *Reservation, actual []int64) error {
	if r.origin == originLocal {
		return f.local.Settle(ctx, r, actual)
	}
	err := f.remote.Settle(ctx, r, actual)
	if errors.Is(err, ErrUnavailable) {
		f.markDown(err)
		f.fallbacks.Inc()
		return nil
	}
	return err
}

// SettleAsync implements AsyncSettler with Settle's rules: a local
// reservation settles at once, a Redis one with the next round trip, and
// an unreachable Redis is not an error (the reservation expires with its
// window, or a budget's after Options.ReservationTTL).
func (f *Fallback) SettleAsync(r *Reservation, actual []int64, done func(error)) {
	if r.origin == originLocal {
		done(f.local.Settle(context.Background(), r, actual))
		return
	}
	f.remote.SettleAsync(r, actual, func(err error) {
		if errors.Is(err, ErrUnavailable) {
			f.markDown(err)
			f.fallbacks.Inc()
			err = nil
		}
		done(err)
	})
}

// ChargeAsync implements Charger: through Redis while it answers, else on
// this replica's own counters. A charge Redis could not take is dropped:
// the ledger's floor brings it back.
func (f *Fallback) ChargeAsync(counters []Counter, done func(error)) {
	if !f.useRemote() {
		f.fallbacks.Inc()
		f.local.ChargeAsync(counters, done)
		return
	}
	f.remote.ChargeAsync(counters, func(err error) {
		if errors.Is(err, ErrUnavailable) {
			f.markDown(err)
			f.fallbacks.Inc()
			err = nil
		}
		done(err)
	})
}

// Probe pings Redis now and switches to it if it answers. It reports
// whether Redis is up.
func (f *Fallback) Probe(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, f.opts.ProbeTimeout)
	defer cancel()
	if err := f.remote.Ping(ctx); err != nil {
		f.nextProbe.Store(f.opts.Now().Add(f.opts.ProbeEvery).UnixNano())
		return false
	}
	if f.down.CompareAndSwap(true, false) {
		f.redisUp.Set(1)
		f.log.Info("rate limits: redis reachable again, enforcing shared limits")
	}
	return true
}

// useRemote reports whether to try Redis, starting a background probe
// when Redis is down and one is due.
func (f *Fallback) useRemote() bool {
	if !f.down.Load() {
		return true
	}
	if f.opts.Now().UnixNano() >= f.nextProbe.Load() && f.probing.CompareAndSwap(false, true) {
		go func() {
			defer f.probing.Store(false)
			// The probe outlives the request that triggered it.
			f.Probe(context.Background())
		}()
	}
	return false
}

func (f *Fallback) markDown(err error) {
	f.nextProbe.Store(f.opts.Now().Add(f.opts.ProbeEvery).UnixNano())
	if f.down.CompareAndSwap(false, true) {
		f.redisUp.Set(0)
		f.log.Warn("rate limits: redis unreachable, enforcing per-replica local limits",
			slog.Any("error", err), slog.Duration("probe_every", f.opts.ProbeEvery))
	}
}
