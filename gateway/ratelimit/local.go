package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// localShards is the number of independently locked parts of Local's
// counter map; a power of two so the shard is a mask of the key's hash.
const localShards = 64

// localSweepEvery is how often each shard drops its idle counters. The
// sweep runs inline, under the shard lock the request already holds, so
// memory stays bounded without a background goroutine to stop.
const localSweepEvery = int64(time.Minute)

// stackCounters is how many counters a decision handles without heap
// scratch space; above it Reserve still works, with a few allocations.
const stackCounters = 8

// Local is an in-process Limiter. Its counters are sharded by key hash;
// a decision locks only the shards of its counters, in ascending order so
// two decisions never deadlock.
type Local struct {
	opts    Options
	buckets int64
	seed    maphash.Seed
	shards  [localShards]localShard
}

type localShard struct {
	mu        sync.Mutex
	m         map[string]*localCounter
	lastSweep int64
	// Pad to a cache line so neighbouring shards' locks don't contend.
	_ [40]byte
}

// localCounter is one counter. A rolling counter keeps a ring of bucket
// sums indexed by absolute bucket number modulo the ring length. A
// cumulative counter's total is what was settled plus what is reserved
// (pending), so that a floor applies to the settled part only.
type localCounter struct {
	window  int64 // ns; 0 for a cumulative counter
	width   int64 // ns per bucket
	total   int64
	pending int64 // cumulative: reserved and not yet settled
	head    int64 // the newest bucket number the ring has advanced to
	newest  int64 // the newest bucket number holding units, for Reset
	lastUse int64
	ring    []int64
}

// NewLocal returns an in-process limiter.
func NewLocal(opts Options) *Local {
	opts = opts.withDefaults()
	l := &Local{opts: opts, buckets: int64(opts.Buckets), seed: maphash.MakeSeed()}
	now := opts.Now().UnixNano()
	for i := range l.shards {
		l.shards[i].m = make(map[string]*localCounter)
		l.shards[i].lastSweep = now
	}
	return l
}

// Reserve implements Limiter.
func (l *Local) Reserve(ctx context.Context, counters []Counter) (*Reservation, error) {
	r := new(Reservation)
	if err := l.ReserveInto(ctx, counters, r); err != nil {
		return nil, err
	}
	return r, nil
}

// ReserveInto is Reserve into a caller-owned reservation; it does not
// allocate once the counters exist and r has room for them.
func (l *Local) ReserveInto(_ context.Context, counters []Counter, r *Reservation) error {
	if err := validate(counters); err != nil {
		return err
	}
	now := l.opts.Now()
	nowNs := now.UnixNano()

	var shardBuf, orderBuf [stackCounters]uint8
	var ptrBuf [stackCounters]*localCounter
	shards, order := l.lockCounters(counters, shardBuf[:0], orderBuf[:0], nowNs)
	defer l.unlock(order)

	ptrs := ptrBuf[:0]
	denied := -1
	for i := range counters {
		c := l.shards[shards[i]].get(counters[i].Key, counters[i].Window, l.buckets, nowNs)
		c.advance(nowNs, l.buckets)
		c.raise(counters[i].Floor)
		ptrs = append(ptrs, c)
		if denied < 0 && counters[i].Limit > 0 && c.total+counters[i].Cost > counters[i].Limit {
			denied = i
		}
	}
	if denied >= 0 {
		return l.denial(counters, ptrs, denied, nowNs)
	}

	r.reset(counters, originLocal)
	r.At = now
	for i, c := range ptrs {
		c.add(counters[i].Cost, l.buckets, nowNs)
		r.States = append(r.States, c.state(counters[i].Limit, l.buckets, nowNs))
	}
	return nil
}

func (l *Local) denial(counters []Counter, ptrs []*localCounter, i int, nowNs int64) *Denied {
	d := &Denied{Index: i, Key: counters[i].Key, States: make([]State, len(counters))}
	for j, c := range ptrs {
		d.States[j] = c.state(counters[j].Limit, l.buckets, nowNs)
	}
	if counters[i].Window > 0 {
		d.RetryAfter, d.TooLarge = ptrs[i].retryAfter(counters[i].Cost, counters[i].Limit, l.buckets, nowNs)
	} else {
		d.TooLarge = counters[i].Cost > counters[i].Limit
	}
	return d
}

// Settle implements Limiter. An adjustment whose bucket has left the
// window is dropped: those units no longer count anyway. A cumulative
// counter's reservation is released even when the actual value is the
// reserved one.
func (l *Local) Settle(_ context.Context, r *Reservation, actual []int64) error {
	if len(actual) != len(r.Counters) {
		return ErrSettleMismatch
	}
	if r.settled || r.origin != originLocal {
		return ErrSettled
	}
	nowNs := l.opts.Now().UnixNano()
	atNs := r.At.UnixNano()

	var shardBuf, orderBuf [stackCounters]uint8
	shards, order := l.lockCounters(r.Counters, shardBuf[:0], orderBuf[:0], nowNs)
	defer l.unlock(order)

	for i := range r.Counters {
		cn := &r.Counters[i]
		if actual[i] == cn.Cost && (cn.Window != 0 || cn.Cost == 0) {
			continue
		}
		c := l.shards[shards[i]].get(cn.Key, cn.Window, l.buckets, nowNs)
		c.settle(cn.Cost, actual[i], atNs, l.buckets, nowNs)
	}
	r.settled = true
	return nil
}

// ChargeAsync implements Charger, at once.
func (l *Local) ChargeAsync(counters []Counter, done func(error)) {
	if err := validate(counters); err != nil {
		done(err)
		return
	}
	nowNs := l.opts.Now().UnixNano()
	var shardBuf, orderBuf [stackCounters]uint8
	shards, order := l.lockCounters(counters, shardBuf[:0], orderBuf[:0], nowNs)
	for i := range counters {
		cn := &counters[i]
		if cn.Window != 0 || cn.Cost == 0 {
			continue
		}
		c := l.shards[shards[i]].get(cn.Key, 0, l.buckets, nowNs)
		c.raise(cn.Floor)
		c.total += cn.Cost
		c.lastUse = nowNs
	}
	l.unlock(order)
	done(nil)
}

func (l *Local) shardOf(key string) uint8 {
	return uint8(maphash.String(l.seed, key) & (localShards - 1))
}

// lockCounters locks the distinct shards of counters in ascending order,
// sweeping any that are due. It returns each counter's shard and the
// locked shards, in slices appended to the given stack buffers.
func (l *Local) lockCounters(counters []Counter, shards, order []uint8, nowNs int64) ([]uint8, []uint8) {
	for i := range counters {
		s := l.shardOf(counters[i].Key)
		shards = append(shards, s)
		// Insertion into a sorted set: n is 2 to 4 in practice.
		j := 0
		for j < len(order) && order[j] < s {
			j++
		}
		if j < len(order) && order[j] == s {
			continue
		}
		order = append(order, 0)
		copy(order[j+1:], order[j:])
		order[j] = s
	}
	for _, s := range order {
		sh := &l.shards[s]
		sh.mu.Lock()
		if nowNs-sh.lastSweep >= localSweepEvery {
			sh.sweep(nowNs, l.buckets, int64(l.opts.CumulativeIdle))
		}
	}
	return shards, order
}

func (l *Local) unlock(order []uint8) {
	for _, s := range order {
		l.shards[s].mu.Unlock()
	}
}

// get returns the counter for key, creating it (or starting it afresh if
// its window changed). The shard must be locked.
func (s *localShard) get(key string, window time.Duration, buckets, nowNs int64) *localCounter {
	c, ok := s.m[key]
	if ok && c.window == int64(window) {
		return c
	}
	c = &localCounter{window: int64(window), lastUse: nowNs}
	if window > 0 {
		c.width = bucketWidth(window, int(buckets))
		c.ring = make([]int64, buckets)
		c.head = nowNs / c.width
	}
	s.m[key] = c
	return c
}

// sweep drops counters that hold nothing (rolling counters whose window
// has passed; losing them loses nothing) and cumulative counters idle
// longer than idle (if idle > 0).
func (s *localShard) sweep(nowNs, buckets, idle int64) {
	s.lastSweep = nowNs
	for k, c := range s.m {
		if c.window > 0 {
			c.advance(nowNs, buckets)
			if c.total <= 0 {
				delete(s.m, k)
			}
		} else if idle > 0 && nowNs-c.lastUse > idle {
			delete(s.m, k)
		}
	}
}

// advance moves a rolling counter's ring to the bucket of nowNs, expiring
// the buckets that left the window. A clock that went backwards keeps the
// current head.
func (c *localCounter) advance(nowNs, buckets int64) {
	if c.window == 0 {
		return
	}
	idx := nowNs / c.width
	if idx <= c.head {
		return
	}
	if idx-c.head >= buckets {
		clear(c.ring)
		c.total = 0
	} else {
		for i := c.head + 1; i <= idx; i++ {
			slot := mod(i, buckets)
			c.total -= c.ring[slot]
			c.ring[slot] = 0
		}
	}
	c.head = idx
}

// raise lifts a cumulative counter's total to floor: its open
// reservations stand for use the floor (the ledger) may hold already, as
// in Redis's budgets.
func (c *localCounter) raise(floor int64) {
	if c.window == 0 && floor > c.total {
		c.total = floor
	}
}

func (c *localCounter) add(cost, buckets, nowNs int64) {
	c.lastUse = nowNs
	if cost == 0 {
		return
	}
	c.total += cost
	if c.window > 0 {
		c.ring[mod(c.head, buckets)] += cost
		c.newest = c.head
	} else {
		c.pending += cost
	}
}

func (c *localCounter) settle(cost, actual, atNs, buckets, nowNs int64) {
	c.lastUse = nowNs
	delta := actual - cost
	if c.window == 0 {
		// A counter evicted and made again since holds no part of cost.
		held := min(cost, c.pending)
		c.pending -= held
		c.total = max(c.total-held+actual, c.pending)
		return
	}
	c.advance(nowNs, buckets)
	at := min(atNs/c.width, c.head)
	if at <= c.head-buckets {
		return
	}
	slot := mod(at, buckets)
	v := max(c.ring[slot]+delta, 0)
	c.total += v - c.ring[slot]
	c.ring[slot] = v
	if v > 0 && at > c.newest {
		c.newest = at
	}
}

func (c *localCounter) state(limit, buckets, nowNs int64) State {
	st := State{Limit: limit}
	if limit > 0 {
		st.Remaining = max(limit-c.total, 0)
	}
	if c.window > 0 && c.total > 0 {
		st.Reset = time.Duration(max((c.newest+buckets)*c.width-nowNs, 0))
	}
	return st
}

// retryAfter is how long until the counter has room for cost: the time
// at which enough of its oldest buckets have expired. tooLarge reports a
// cost that never fits; the wait is then to full replenishment.
func (c *localCounter) retryAfter(cost, limit, buckets, nowNs int64) (time.Duration, bool) {
	if cost > limit {
		return c.state(limit, buckets, nowNs).Reset, true
	}
	need := c.total + cost - limit
	var freed int64
	for i := c.head - buckets + 1; i <= c.head; i++ {
		freed += c.ring[mod(i, buckets)]
		if freed >= need {
			return time.Duration(max((i+buckets)*c.width-nowNs, 0)), false
		}
	}
	return c.state(limit, buckets, nowNs).Reset, false
}

// mod is the non-negative remainder, so a clock before 1970 (tests) still
// maps to a ring slot.
func mod(i, n int64) int64 {
	m := i % n
	if m < 0 {
		m += n
	}
	return m
}
