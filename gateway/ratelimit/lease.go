package ratelimit

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oais/oais/internal/every"
)

// # Leases
//
// With Options.LeaseDivisor > 0, Redis hands this replica slices of a
// counter (leases) so that most requests are decided in process, without a
// round trip or a script in Redis: a lease of L units is an ordinary
// reservation of L in Redis, made once, and the replica then admits
// requests against it on its own until L is spent or the lease's life
// (Options.LeaseLife) is over. When a lease closes and its last request has
// settled, it is settled in Redis at what its requests really used, so the
// units it did not use go back to the shared counter.
//
// A request is decided locally only when every one of its counters has an
// open lease with room for its cost; otherwise it goes to Redis whole, as
// without leases, and that reservation starts leases for its counters that
// are busy (Redis decided the counter twice within LeaseLife/8) and far
// from their limit: L = min(Limit/LeaseDivisor, remaining/4), and only if
// L is at least 8 times the request's cost (so a lease serves at least 8
// requests). A counter near its limit or with a small limit (an RPM
// of 30 under the default divisor) is never leased, so it stays exact to the
// request. A counter without a limit (Limit <= 0: counted for headers only)
// gets a lease with no units and no round trip: its requests are counted
// in process and added to Redis when the lease settles.
//
// What leases change, per counter and for R replicas:
//
//   - No overshoot: every unit admitted through a lease was reserved in
//     Redis first, so the counter never admits past its limit (while Redis
//     keeps its state; see below).
//   - Early refusals: Redis may refuse a request while other replicas hold
//     unused units of their leases, at most R×Limit/LeaseDivisor in all,
//     for at most LeaseLife (longer only while a request admitted from the
//     lease is still running: a lease settles once its last request has).
//   - Window timing: units used from a lease count from the moment the
//     lease was made, so they leave a rolling window up to LeaseLife early:
//     a window holds at most what one more LeaseLife admitted, beside the
//     bucket error the package doc states (LeaseLife defaults to one second,
//     a minute's bucket).
//   - Redis losing its state (flushed, restarted empty) forgets the leases'
//     reservations as it forgets any reservation: each replica may then
//     admit the rest of its open lease, up to R×Limit/LeaseDivisor more than
//     the restarted counter allows, within LeaseLife.
//   - Headers: a leased decision reports Remaining as Redis saw it when the
//     lease was made, less what this replica used since; other replicas'
//     use since then shows at the next lease.

// DefaultLeaseLife is how long a lease admits requests unless
// Options.LeaseLife says otherwise: one bucket of a minute's window.
const DefaultLeaseLife = time.Second

// leaseMinRequests is the fewest requests of the triggering request's cost
// a lease must hold to be worth its round trips.
const leaseMinRequests = 8

// lease is a slice of one counter this replica admits against on its own.
type lease struct {
	limit    int64 // the counter's Limit when leased; a new limit ends it
	expires  int64 // unix ns; admits stop then
	base     int64 // Remaining as Redis reported when the lease was made
	resetAt  time.Time
	infinite bool // no limit: nothing to run out of

	avail    atomic.Int64 // units left to hand out
	consumed atomic.Int64 // units used: costs taken, corrected at settlement
	inflight atomic.Int64 // admissions between take and release
	closed   atomic.Bool
	done     atomic.Bool

	name *keyName
	res  Reservation // the lease's own reservation in Redis (none if infinite)
	l    *Redis
}

// take admits cost from the lease, reporting whether it did. On success
// the caller holds one in-flight reference until release.
func (le *lease) take(cost, now int64) bool {
	le.inflight.Add(1)
	if le.closed.Load() || now >= le.expires {
		le.close()
		le.release()
		return false
	}
	if !le.infinite {
		for {
			a := le.avail.Load()
			if a < cost {
				// Spent: closed, so that the request Redis decides
				// instead starts a new lease, and what is left returns.
				le.close()
				le.release()
				return false
			}
			if le.avail.CompareAndSwap(a, a-cost) {
				break
			}
		}
	}
	le.consumed.Add(cost)
	return true
}

// untake gives back a take whose request was not admitted after all.
func (le *lease) untake(cost int64) {
	if !le.infinite {
		le.avail.Add(cost)
	}
	le.consumed.Add(-cost)
	le.release()
}

// settle replaces a taken cost by the actual use.
func (le *lease) settle(cost, actual int64) {
	d := actual - cost
	le.consumed.Add(d)
	if !le.infinite {
		le.avail.Add(-d)
	}
	le.release()
}

func (le *lease) release() {
	if le.inflight.Add(-1) == 0 && le.closed.Load() {
		le.finish()
	}
}

// close stops admissions; the lease settles in Redis once nothing taken
// from it is in flight.
func (le *lease) close() {
	if le.closed.CompareAndSwap(false, true) {
		le.name.lease.CompareAndSwap(le, nil)
		if le.inflight.Load() == 0 {
			le.finish()
		}
	}
}

// finish settles the lease in Redis at what its requests used, once.
func (le *lease) finish() {
	if !le.done.CompareAndSwap(false, true) {
		return
	}
	le.l.leaseSettled.Add(1)
	var used int64
	if le.infinite {
		// Reserved nothing: the settlement adds the use to the bucket of
		// the moment the lease was made. Swapped, as flushUnlimited may
		// have sent part of it already.
		if used = max(le.consumed.Swap(0), 0); used == 0 {
			return
		}
	} else {
		used = max(le.consumed.Load(), 0)
	}
	// An error is dropped as SettleAsync's callers do: a settlement Redis
	// did not take expires with its window, or a budget's reservation after
	// Options.ReservationTTL.
	le.l.leaseSends.Add(1)
	le.l.SettleAsync(&le.res, []int64{used}, le.l.leaseSent)
}

func (l *Redis) leaseSent(error) { l.leaseSends.Add(-1) }

// admitLeased admits counters from this replica's leases if every one of
// them has an open lease with room, filling r; it reports whether it did.
func (l *Redis) admitLeased(counters []Counter, names []*keyName, r *Reservation) bool {
	if len(counters) == 0 || len(counters) > reservationInline {
		return false
	}
	now := l.opts.Now()
	ns := now.UnixNano()
	var got [reservationInline]*lease
	for i, c := range counters {
		le := names[i].lease.Load()
		if le == nil || le.limit != max(c.Limit, 0) || !le.take(c.Cost, ns) {
			for j := range i {
				got[j].untake(counters[j].Cost)
			}
			return false
		}
		got[i] = le
	}
	r.reset(counters, originRedis)
	r.leases = got
	r.At = now
	for i, c := range counters {
		le := got[i]
		st := State{Limit: c.Limit, Reset: max(le.resetAt.Sub(now), 0)}
		if c.Limit > 0 {
			st.Remaining = max(le.base+le.avail.Load(), 0)
		}
		r.States = append(r.States, st)
	}
	l.leaseAdmits.Add(1)
	return true
}

// settleLeased settles a reservation admitLeased made.
func settleLeased(r *Reservation, actual []int64) {
	r.settled = true
	for i, c := range r.Counters {
		r.leases[i].settle(c.Cost, actual[i])
	}
	r.leases = [reservationInline]*lease{}
}

// flushUnlimited closes the unlimited leases of counters that have a
// limit now and adds what those leases counted to Redis before it decides,
// so that a limit set on a busy counter sees the window's requests at once
// rather than within LeaseLife.
func (l *Redis) flushUnlimited(ctx context.Context, counters []Counter, names []*keyName) {
	for i, c := range counters {
		if c.Limit <= 0 || c.Window == 0 {
			continue
		}
		le := names[i].lease.Load()
		if le == nil || !le.infinite {
			continue
		}
		// Sent here, waiting, before close: close's own settlement would
		// go asynchronously, and a round trip runs its reservations before
		// its settlements, so Redis could decide before counting it.
		if used := le.consumed.Swap(0); used > 0 {
			var r Reservation
			r.reset(le.res.Counters, originRedis)
			r.At = le.res.At
			_ = l.Settle(ctx, &r, []int64{used}) // lost: at most LeaseLife of counting
		}
		le.close() // sends what requests in flight add meanwhile
	}
}

// startLeases starts leases for the counters of a reservation Redis just
// admitted (r) that have none and are far enough from their limit.
func (l *Redis) startLeases(counters []Counter, names []*keyName, r *Reservation) {
	now := l.opts.Now().UnixNano()
	for i, c := range counters {
		n := names[i]
		// Only a busy counter is worth a lease: one Redis decided again
		// within LeaseLife/8, as at 8 requests a lease life. A lease costs
		// two script calls of its own (made, settled), so on a counter
		// with a request a second it would double Redis's work.
		if prev := n.lastRemote.Swap(now); now-prev > int64(l.opts.LeaseLife)/leaseMinRequests {
			continue
		}
		if n.lease.Load() != nil {
			continue
		}
		if c.Limit <= 0 {
			if c.Window != 0 && n.leasing.CompareAndSwap(false, true) {
				// Counted, not limited: a lease of nothing, no round trip.
				le := &lease{}
				c.Cost = 0
				le.res.reset([]Counter{c}, originRedis)
				le.res.At = r.At
				l.installLease(le, n, c, 0, State{}, true)
				n.leasing.Store(false)
			}
			continue
		}
		size := min(c.Limit/l.opts.LeaseDivisor, r.States[i].Remaining/4)
		if size < leaseMinRequests*max(c.Cost, 1) || !n.leasing.CompareAndSwap(false, true) {
			continue
		}
		l.leaseAcquires.Add(1)
		go l.acquire(n, c, size)
	}
}

// acquire reserves size units of c in Redis for a lease on n.
func (l *Redis) acquire(n *keyName, c Counter, size int64) {
	defer l.leaseAcquires.Add(-1)
	defer n.leasing.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	le := &lease{}
	c.Cost = size
	if err := l.reserveRemote(ctx, []Counter{c}, []*keyName{n}, &le.res); err != nil {
		var d *Denied
		if !errors.As(err, &d) {
			l.leaseFailed.Add(1)
		}
		return
	}
	l.installLease(le, n, c, size, le.res.States[0], false)
}

// installLease opens le, holding size units of c (le.res is its
// reservation), as n's lease, closing the one it replaces.
func (l *Redis) installLease(le *lease, n *keyName, c Counter, size int64, st State, infinite bool) {
	now := l.opts.Now()
	le.limit, le.infinite = max(c.Limit, 0), infinite
	le.base, le.resetAt = st.Remaining, now.Add(st.Reset)
	le.expires = now.Add(l.opts.LeaseLife).UnixNano()
	le.avail.Store(size)
	le.name, le.l = n, l
	if old := n.lease.Swap(le); old != nil {
		old.close()
	}
	l.leasesMade.Add(1)
	// Closes an idle lease, so its unused units go back to Redis within
	// LeaseLife even if no request comes to notice.
	time.AfterFunc(l.opts.LeaseLife, le.close)
}

// LeaseStats counts what leases did in this process: leases made,
// requests admitted from leases, leases settled in Redis, and lease
// reservations Redis could not take (other than refusals).
type LeaseStats struct {
	Made, Admitted, Settled, Failed int64
}

// Leases reports l's lease counts.
func (l *Redis) Leases() LeaseStats {
	return LeaseStats{Made: l.leasesMade.Load(), Admitted: l.leaseAdmits.Load(), Settled: l.leaseSettled.Load(), Failed: l.leaseFailed.Load()}
}

var leaseEvents = prometheus.NewDesc("oais_ratelimit_leases_total",
	"Redis rate-limit leases by event: made (a slice of a counter reserved in Redis), admitted (requests decided in process from leases), settled (leases handed back to Redis at what they used), failed (lease reservations Redis could not take, other than refusals).",
	[]string{"event"}, nil)

// LeaseCollector exports Leases as oais_ratelimit_leases_total{event}, so
// an operator sees how many decisions leases take off Redis.
func (l *Redis) LeaseCollector() prometheus.Collector { return leaseCollector{l} }

type leaseCollector struct{ l *Redis }

func (c leaseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- leaseEvents }

func (c leaseCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Leases()
	for _, e := range []struct {
		name string
		n    int64
	}{{"made", s.Made}, {"admitted", s.Admitted}, {"settled", s.Settled}, {"failed", s.Failed}} {
		ch <- prometheus.MustNewConstMetric(leaseEvents, prometheus.CounterValue, float64(e.n), e.name)
	}
}

// ReturnLeases closes every open lease (CloseLeases) and waits, at most
// until ctx ends, until the settlements of those with nothing in flight
// have been through Redis: a draining gateway calls it once its last
// request is done.
func (l *Redis) ReturnLeases(ctx context.Context) error {
	// A lease the last requests started may still be on its way from
	// Redis: closed before it arrives, it would stay open (and its units
	// reserved) for a LeaseLife.
	if err := every.Zero(ctx, &l.leaseAcquires, 5*time.Millisecond); err != nil {
		return err
	}
	l.CloseLeases()
	return every.Zero(ctx, &l.leaseSends, 5*time.Millisecond)
}

// CloseLeases closes every open lease now, so each settles in Redis as
// soon as its in-flight requests have (a gateway that drains returns its
// unused units at once instead of within LeaseLife).
func (l *Redis) CloseLeases() {
	l.names.m.Range(func(_, v any) bool {
		if le := v.(*keyName).lease.Load(); le != nil {
			le.close()
		}
		return true
	})
}
