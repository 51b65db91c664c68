package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// leasedReplicas is n Redis limiters on one Redis and prefix, each with
// leases of Limit/div for life.
func leasedReplicas(t *testing.T, n int, div int64, life time.Duration) []*Redis {
	t.Helper()
	c := newTestRedis(t, testRedisAddr())
	prefix := testPrefix(t, c)
	var out []*Redis
	for range n {
		out = append(out, NewRedis(newTestRedis(t, testRedisAddr()), prefix, Options{LeaseDivisor: div, LeaseLife: life}))
	}
	return out
}

// closeAll hands every replica's leases back to Redis and waits until
// their settlements are through.
func closeAll(t *testing.T, ls []*Redis) {
	t.Helper()
	for _, l := range ls {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := l.ReturnLeases(ctx)
		cancel()
		if err != nil {
			t.Fatalf("ReturnLeases: %v", err)
		}
		if s := l.Leases(); s.Settled != s.Made {
			t.Fatalf("%d leases made, %d settled", s.Made, s.Settled)
		}
	}
}

func mustReserve(t *testing.T, l *Redis, c ...Counter) *Reservation {
	t.Helper()
	r, err := l.reserveRemoteNew(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (l *Redis) reserveRemoteNew(ctx context.Context, c []Counter) (*Reservation, error) {
	r := new(Reservation)
	names := make([]*keyName, len(c))
	for i := range c {
		names[i] = l.name(c[i].Key, c[i].Window)
	}
	return r, l.reserveRemote(ctx, c, names, r)
}

// TestLeasesNeverOvershoot: two replicas, each deciding most requests from
// leases, hammered far past an RPM of 1,000 (4,000 requests from 16
// goroutines): they admit no more than 1,000, and no fewer than 1,000 less
// what two leases can hold (2×1,000/10). Once the leases are back in Redis,
// the rest of the window is admitted to the request: 1,000 exactly in all.
func TestLeasesNeverOvershoot(t *testing.T) {
	const rpm, div = 1000, 10
	ls := leasedReplicas(t, 2, div, 30*time.Second) // lives past the test: only closeAll ends them
	ctx := context.Background()
	counters := func() []Counter {
		return []Counter{{Key: "ws:{1}:rpm", Limit: rpm, Window: time.Minute, Cost: 1}}
	}
	var admitted atomic.Int64
	fire := func(per int) {
		var wg sync.WaitGroup
		for i := range 16 {
			l := ls[i%2]
			wg.Go(func() {
				var r Reservation
				for range per {
					err := l.ReserveInto(ctx, counters(), &r)
					var d *Denied
					switch {
					case err == nil:
						admitted.Add(1)
						if err := l.Settle(ctx, &r, []int64{1}); err != nil {
							t.Error(err)
						}
					case errors.As(err, &d):
					default:
						t.Error(err)
						return
					}
				}
			})
		}
		wait(t, &wg, "the reserving goroutines")
	}
	fire(250)
	first := admitted.Load()
	if first > rpm || first < rpm-2*rpm/div {
		t.Fatalf("admitted %d while leases were out, want between %d and %d", first, rpm-2*rpm/div, rpm)
	}
	var fromLeases int64
	for _, l := range ls {
		fromLeases += l.Leases().Admitted
	}
	if fromLeases == 0 {
		t.Fatal("no request was decided from a lease")
	}
	closeAll(t, ls)
	fire(50)
	if got := admitted.Load(); got != rpm {
		t.Fatalf("admitted %d in all once the leases were settled, want exactly %d (first %d, %d from leases)", got, rpm, first, fromLeases)
	}
	t.Logf("admitted %d while leases were out (%d of them decided from leases), %d in all", first, fromLeases, rpm)
}

// TestLeasesSettleActualUse: a TPM counter and a monthly token budget
// leased on two replicas, each request reserving 100 and using 37: once
// the leases are back, Redis holds exactly what the requests used, the
// budget's settled total included (nothing reserved is left counting).
func TestLeasesSettleActualUse(t *testing.T) {
	const limit, div, requests = 10_000_000, 100, 2000
	ls := leasedReplicas(t, 2, div, 30*time.Second)
	ctx := context.Background()
	counters := []Counter{
		{Key: "ws:{1}:tpm", Limit: limit, Window: time.Minute, Cost: 100},
		{Key: "ws:{1}:tokens:2026-12", Limit: limit, Cost: 100},
		{Key: "ws:{1}:rpm", Window: time.Minute, Cost: 1}, // no limit: counted
	}
	var wg sync.WaitGroup
	for i := range 8 {
		l := ls[i%2]
		wg.Go(func() {
			var r Reservation
			for range requests / 8 {
				if err := l.ReserveInto(ctx, counters, &r); err != nil {
					t.Error(err)
					return
				}
				if err := l.Settle(ctx, &r, []int64{37, 37, 1}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wait(t, &wg, "the reserving goroutines")
	var fromLeases int64
	for _, l := range ls {
		fromLeases += l.Leases().Admitted
	}
	if fromLeases < requests/2 {
		t.Fatalf("only %d of %d requests were decided from leases", fromLeases, requests)
	}
	closeAll(t, ls)
	// What an operator sees of it: the same counts on /metrics.
	for _, l := range ls {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(l.LeaseCollector())
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				got[mf.GetName()+"/"+m.GetLabel()[0].GetValue()] = int64(m.GetCounter().GetValue())
			}
		}
		s := l.Leases()
		for event, n := range map[string]int64{"made": s.Made, "admitted": s.Admitted, "settled": s.Settled, "failed": s.Failed} {
			if got["oais_ratelimit_leases_total/"+event] != n {
				t.Errorf("oais_ratelimit_leases_total{event=%q} = %d, want %d (all: %v)", event, got["oais_ratelimit_leases_total/"+event], n, got)
			}
		}
	}
	// A reservation of nothing reads every counter's total.
	probe := []Counter{
		{Key: "ws:{1}:tpm", Limit: limit, Window: time.Minute},
		{Key: "ws:{1}:tokens:2026-12", Limit: limit},
		{Key: "ws:{1}:rpm", Limit: 1 << 40, Window: time.Minute},
	}
	r := mustReserve(t, ls[0], probe...)
	want := []int64{37 * requests, 37 * requests, requests}
	for i, st := range r.States {
		if used := probe[i].Limit - st.Remaining; used != want[i] {
			t.Errorf("%s: Redis counts %d, want %d (what the requests used)", probe[i].Key, used, want[i])
		}
	}
	t.Logf("%d of %d requests decided from leases", fromLeases, requests)
}

// TestSmallLimitsAreNotLeased: an RPM of 30 under the default divisor is
// decided in Redis request by request, so two replicas stay exact to it
// (TestRedisTwoReplicasExact's figure, with leases on).
func TestSmallLimitsAreNotLeased(t *testing.T) {
	ls := leasedReplicas(t, 2, 100, time.Second)
	ctx := context.Background()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		l := ls[i%2]
		wg.Go(func() {
			var r Reservation
			for range 15 {
				err := l.ReserveInto(ctx, []Counter{{Key: "ws:{1}:rpm", Limit: 30, Window: time.Minute, Cost: 1}}, &r)
				if err == nil {
					admitted.Add(1)
				}
			}
		})
	}
	wait(t, &wg, "the reserving goroutines")
	if got := admitted.Load(); got != 30 {
		t.Fatalf("admitted %d, want exactly 30", got)
	}
	for i, l := range ls {
		if s := l.Leases(); s.Made != 0 {
			t.Errorf("replica %d made %d leases of a limit of 30", i, s.Made)
		}
	}
}

// TestLeaseOfANewLimit: a counter whose limit changes is not decided
// from a lease of the old limit.
func TestLeaseOfANewLimit(t *testing.T) {
	ls := leasedReplicas(t, 1, 10, 30*time.Second)
	l, ctx := ls[0], context.Background()
	var r Reservation
	for i := range 50 {
		if err := l.ReserveInto(ctx, []Counter{{Key: "ws:{1}:rpm", Limit: 100_000, Window: time.Minute, Cost: 1}}, &r); err != nil {
			t.Fatal(i, err)
		}
		_ = l.Settle(ctx, &r, []int64{1})
	}
	waitFor(t, "a lease", func() bool { return l.Leases().Made > 0 })
	// The limit drops below what is used: Redis must decide, and refuse.
	err := l.ReserveInto(ctx, []Counter{{Key: "ws:{1}:rpm", Limit: 10, Window: time.Minute, Cost: 1}}, &r)
	var d *Denied
	if !errors.As(err, &d) {
		t.Fatalf("a limit of 10 after %s used: %v, want a refusal", strconv.Itoa(50), err)
	}
}

// TestALimitSetOnALeasedCounterSeesItsWindow: requests counted under a
// lease of a counter without a limit are in Redis before it decides the
// first request under a new limit, so 20 counted then an RPM of 22 leave
// exactly 2 (a limit set on a busy workspace is not exceeded by what the
// lease had not yet sent).
func TestALimitSetOnALeasedCounterSeesItsWindow(t *testing.T) {
	l := leasedReplicas(t, 1, 100, 30*time.Second)[0]
	ctx := context.Background()
	var r Reservation
	for i := range 20 {
		if err := l.ReserveInto(ctx, []Counter{{Key: "ws:{1}:rpm", Window: time.Minute, Cost: 1}}, &r); err != nil {
			t.Fatal(i, err)
		}
		_ = l.Settle(ctx, &r, []int64{1})
	}
	if l.Leases().Admitted == 0 {
		t.Fatal("no request was counted under a lease")
	}
	admitted := 0
	for range 10 {
		err := l.ReserveInto(ctx, []Counter{{Key: "ws:{1}:rpm", Limit: 22, Window: time.Minute, Cost: 1}}, &r)
		if err == nil {
			admitted++
			_ = l.Settle(ctx, &r, []int64{1})
		}
	}
	if admitted != 2 {
		t.Fatalf("admitted %d under an RPM of 22 after 20 counted, want 2", admitted)
	}
}

// TestQuietCountersAreNotLeased: a counter Redis decides less often than
// LeaseLife/8 (a request every 200 ms here, against a lease life of a
// second) gets no lease: a lease costs two script calls of its own, which
// for a quiet key would double Redis's work instead of saving it.
func TestQuietCountersAreNotLeased(t *testing.T) {
	c := newTestRedis(t, testRedisAddr())
	clk := newFakeClock()
	l := NewRedis(c, testPrefix(t, c), Options{LeaseDivisor: 10, LeaseLife: time.Second, Now: clk.Now})
	ctx := context.Background()
	var r Reservation
	for i := range 20 {
		if err := l.ReserveInto(ctx, []Counter{{Key: "key:{1}:k:rpm", Limit: 100_000, Window: time.Minute, Cost: 1}}, &r); err != nil {
			t.Fatal(i, err)
		}
		_ = l.Settle(ctx, &r, []int64{1})
		clk.Advance(200 * time.Millisecond)
	}
	if s := l.Leases(); s.Made != 0 {
		t.Fatalf("%d leases made for a counter used every 200 ms", s.Made)
	}
}

// TestLeasesThroughARedisOutage: Redis goes away while a replica decides
// from leases, behind Fallback, and comes back. No request fails: the open
// leases go on admitting, then the local limiter does (Fallback), and once
// Redis answers again new leases are made on it.
func TestLeasesThroughARedisOutage(t *testing.T) {
	requireRedis(t)
	proxy := newTCPProxy(t, testRedisAddr())
	client := newTestRedis(t, proxy.addr)
	remote := NewRedis(client, testPrefix(t, client), Options{LeaseDivisor: 10, LeaseLife: 100 * time.Millisecond})
	f, err := NewFallback(remote, NewLocal(Options{}), FallbackOptions{Logger: slog.New(slog.DiscardHandler), ProbeEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	counters := []Counter{
		{Key: "ws:{1}:rpm", Limit: 1 << 40, Window: time.Minute, Cost: 1},
		{Key: "ws:{1}:tokens:2026-12", Limit: 1 << 40, Cost: 50},
	}
	run := func(d time.Duration) (n int) {
		var r Reservation
		for end := time.Now().Add(d); time.Now().Before(end); n++ {
			if err := f.ReserveInto(ctx, counters, &r); err != nil {
				t.Fatalf("reserve: %v", err)
			}
			if err := f.Settle(ctx, &r, []int64{1, 40}); err != nil {
				t.Fatalf("settle: %v", err)
			}
		}
		return n
	}
	run(200 * time.Millisecond)
	made := remote.Leases().Made
	if made == 0 {
		t.Fatal("no lease before the outage")
	}
	proxy.Close()
	during := run(500 * time.Millisecond)
	if f.RedisUp() {
		t.Fatal("Fallback did not notice the outage once the leases ran out")
	}
	proxy.Restart()
	waitFor(t, "Fallback back on Redis", func() bool { run(20 * time.Millisecond); return f.RedisUp() })
	run(300 * time.Millisecond)
	if got := remote.Leases().Made; got <= made {
		t.Fatalf("no lease made after Redis came back (%d before the outage, %d now)", made, got)
	}
	t.Logf("%d requests admitted during the outage; leases made %d before it, %d in all", during, made, remote.Leases().Made)
}

// TestLeasedSpendCapSurvivesAFlush attacks a spend cap decided from leases
// with a Redis that loses the counter (FLUSHDB, eviction, an empty
// restart) while both replicas hold open leases far from the cap. Requests
// reserve their worst case (10) and settle what they cost (7), and pass
// the ledger's total as the budget's floor, as the gateway does. Spending
// goes on until every goroutine is refused: the total must stay within the
// cap plus what the flushed Redis forgot, docs/billing.md's bound: the
// replicas' open leases (2 × cap/100) and the requests in flight (16 ×
// their worst case).
func TestLeasedSpendCapSurvivesAFlush(t *testing.T) {
	for _, flush := range []bool{true, false} {
		t.Run(map[bool]string{true: "flushed", false: "kept"}[flush], func(t *testing.T) { testLeasedSpendCap(t, flush) })
	}
}

func testLeasedSpendCap(t *testing.T, flush bool) {
	const (
		limit, div      = 100_000, 100
		worst, cost     = 10, 7
		workers         = 16
		flushAt         = limit / 4 // spent: far from the cap, leases open
		deniedInARow    = 200       // a goroutine stops after this many refusals in a row
		maxPerGoroutine = 100_000
		bound           = limit + 2*limit/div + workers*worst
	)
	ls := leasedReplicas(t, 2, div, 30*time.Second) // only spent leases close
	c := newTestRedis(t, testRedisAddr())
	key := ls[0].name("ws:{1}:spend:2026-12", 0).name
	var ledger atomic.Int64 // what the requests cost: the budget's floor
	var flushed atomic.Bool
	var leasedAtFlush int64 // written once, by the flushing goroutine, before wg.Wait
	var wg sync.WaitGroup
	for i := range workers {
		l := ls[i%2]
		wg.Go(func() {
			ctx := context.Background()
			var r Reservation
			for n, refused := 0, 0; n < maxPerGoroutine && refused < deniedInARow; n++ {
				err := l.ReserveInto(ctx, []Counter{{Key: "ws:{1}:spend:2026-12", Limit: limit, Cost: worst, Floor: ledger.Load()}}, &r)
				var d *Denied
				if errors.As(err, &d) {
					refused++
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				refused = 0
				if err := l.Settle(ctx, &r, []int64{cost}); err != nil {
					t.Error(err)
					return
				}
				if ledger.Add(cost) >= flushAt && flushed.CompareAndSwap(false, true) {
					leasedAtFlush = ls[0].Leases().Admitted + ls[1].Leases().Admitted
					if !flush {
						return
					}
					if n, err := c.Del(ctx, key).Result(); err != nil || n != 1 {
						t.Errorf("flush %s: %d deleted, %v", key, n, err)
					}
				}
			}
		})
	}
	wait(t, &wg, "the spending goroutines")
	beforeLast := ledger.Load()
	// Refusals while leases hold unused units are the price leases state
	// (the package doc: early refusals), and how many a goroutine meets
	// in a row depends on the scheduler. So the liveness half of the
	// check runs after the leases are handed back: one client alone must
	// then reach the cap, less a request's worst case.
	ctx := context.Background()
	var r Reservation
	for retried := false; ; {
		err := ls[0].ReserveInto(ctx, []Counter{{Key: "ws:{1}:spend:2026-12", Limit: limit, Cost: worst, Floor: ledger.Load()}}, &r)
		var d *Denied
		if errors.As(err, &d) {
			if retried {
				break
			}
			for _, l := range ls { // a refusal may be a lease still settling
				if err := l.ReturnLeases(ctx); err != nil {
					t.Fatal(err)
				}
			}
			retried = true
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		retried = false
		if err := ls[0].Settle(ctx, &r, []int64{cost}); err != nil {
			t.Fatal(err)
		}
		ledger.Add(cost)
	}
	closeAll(t, ls)
	if !flushed.Load() {
		t.Fatalf("never reached %d to flush: spent %d", flushAt, ledger.Load())
	}
	if leasedAtFlush == 0 {
		t.Fatal("no request was decided from a lease before the flush: the attack missed leases")
	}
	spent := ledger.Load()
	t.Logf("spent %d of a %d cap (bound %d; %d when the %d goroutines stopped); %d requests decided from leases by a quarter of the cap, %d in all",
		spent, limit, bound, beforeLast, workers, leasedAtFlush, ls[0].Leases().Admitted+ls[1].Leases().Admitted)
	if !flush && spent > limit {
		t.Errorf("spent %d against a cap of %d with Redis keeping its state", spent, limit)
	}
	if spent > bound {
		t.Errorf("spent %d against a cap of %d: %d over, more than the leases and requests in flight the flush forgot (%d)", spent, limit, spent-limit, bound-limit)
	}
	// Exact to a request: a lease's requests reach the ledger (the
	// floor) before the lease settles, and must not count twice.
	if spent < limit-worst {
		t.Errorf("spent only %d of a %d cap before every request was refused, the leases handed back", spent, limit)
	}
}
