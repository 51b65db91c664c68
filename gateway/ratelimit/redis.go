package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Limiter whose counters live in Redis, shared by every gateway
// replica. Each Reserve and Settle is one Lua script, so a decision over
// several counters is atomic; the scripts read Redis's own clock (TIME),
// so replicas' clocks don't matter.
//
// A cumulative counter (a budget) is a hash at prefix+Key+":c" holding
// "v" (the settled total), "s" (the sum of live reservations), "l" (the
// slot up to which expired reservations were dropped) and one field per
// 10-second slot in which reservations expire, holding their sum;
// settling a reservation takes its cost out of its slot and adds the
// actual value to "v" (see the package doc). A rolling counter is a hash at
// prefix+Key+":w<window ms>:b<buckets>"
// holding one field per live bucket plus "s" (their sum), "h" (the newest
// bucket advanced to) and "n" (the newest bucket holding units); expiring
// a bucket is amortised O(1) per call, only a denial reads all of them.
// On Redis Cluster (a *redis.ClusterClient) the counters of one call must
// hash to one slot, which a script needs: give them a common hash tag in
// their keys, as the gateway does with the workspace id
// ("ws:{ws_…}:rpm", "key:{ws_…}:key_…:req"), and keep braces out of
// prefix; a call whose counters do not share a slot fails with
// ErrCrossSlot before anything is sent. Tagging by workspace rather than
// one tag for everything spreads the workspaces over the masters.
//
// Concurrent Reserves and Settles share round trips and script calls (see
// batcher); each reservation is still decided atomically, so decisions
// stay exact across replicas. On a cluster a round trip carries one
// script call per slot, sent to the slots' masters in parallel.
// SettleAsync settles without waiting.
type Redis struct {
	client redis.UniversalClient
	prefix string
	opts   Options
	batch  *batcher
	names  keyNames

	leasesMade, leaseAdmits, leaseSettled, leaseFailed atomic.Int64
	leaseSends                                         atomic.Int64 // lease settlements not yet through Redis
	leaseAcquires                                      atomic.Int64 // lease reservations on their way to Redis
}

// NewRedis returns a limiter on client whose keys all start with prefix.
func NewRedis(client redis.UniversalClient, prefix string, opts Options) *Redis {
	opts = opts.withDefaults()
	return &Redis{client: client, prefix: prefix, opts: opts, batch: newBatcher(client, opts)}
}

// luaPrelude is shared by the scripts. ARGV[1] is the bucket count,
// ARGV[2] the cumulative TTL in ms, ARGV[3] the call's numbers packed in
// one string of space-separated integers (N; one argument instead of
// four per counter keeps the client from boxing and Redis from parsing a
// bulk string per number), ARGV[4] the reservation TTL; times are
// microseconds.
const luaPrelude = `
redis.replicate_commands()
local B = tonumber(ARGV[1])
local cumTTL = tonumber(ARGV[2])
local N = {}
for x in string.gmatch(ARGV[3], '%S+') do N[#N + 1] = tonumber(x) end
local resTTL = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- Lua turns numbers into "%.14g" strings; Redis wants integers.
local function fmt(x) return string.format('%d', x) end

-- A budget's reservations expire in slots of E µs (10 s): expiry is the
-- slot in which a reservation made at µs at stops counting, after resTTL,
-- within a slot. Slots of this size keep a budget to a few dozen fields
-- and let most settlements leave their slot non-empty; every replica must
-- use the same E (it numbers the fields).
local E = 10000000
local function expiry(at) return math.floor((at + resTTL) / E) + 1 end
-- nowExp is the slot in which a reservation made now expires, made when a
-- script first needs it.
local nowExp

-- budget loads a cumulative counter: its settled total, the sum of its
-- live reservations, the slot up to which expired ones were dropped, the
-- sum held in field f (a slot of expiry; 0 once that slot came), whether
-- the first three changed, and when (µs) the counter was made (0 if
-- unknown). It first drops the reservations whose slot of expiry has come.
-- A counter that is missing (flushed, evicted, a Redis restarted empty)
-- starts from floor, and one whose total (settled and reserved) is below
-- floor has its settled total raised to floor less its reservations: the
-- floor is the ledger, which may hold use of reservations not settled
-- yet (a lease's requests are there long before the lease settles), so
-- the reservations stand for that use at their reserved cost and nothing
-- is counted twice. With floor < 0 (a settlement) a missing counter stays
-- missing and budget returns nil. One HMGET, and one HGET and HDEL per
-- slot that expired since the last call (at most once a slot); the caller
-- writes v, s and l back.
local function budget(k, floor, f)
  local x = redis.call('HMGET', k, 'v', 's', 'l', f, 'c')
  local v, s, l = tonumber(x[1]), tonumber(x[2]) or 0, tonumber(x[3])
  if v == nil and floor < 0 then return nil end
  local b = tonumber(x[4]) or 0
  local made = tonumber(x[5]) or 0
  local cur = math.floor(now / E)
  local dirty = false
  if v == nil then
    v, s, l, made = 0, 0, nil, now
    redis.call('HSET', k, 'c', fmt(now))
  end
  if tonumber(f) <= cur then b = 0 end
  if l == nil then
    l = cur
    dirty = true
  elseif l < cur then
    if cur - l <= 64 then
      for j = l + 1, cur do
        local e = fmt(j)
        local n = tonumber(redis.call('HGET', k, e))
        if n then
          s = s - n
          redis.call('HDEL', k, e)
        end
      end
    else -- idle for a while: look at the fields there are
      for _, e in ipairs(redis.call('HKEYS', k)) do
        local j = tonumber(e)
        if j and j <= cur then
          s = s - (tonumber(redis.call('HGET', k, e)) or 0)
          redis.call('HDEL', k, e)
        end
      end
    end
    if s < 0 then s = 0 end
    l = cur
    dirty = true
  end
  if v + s < floor then
    v = floor - s
    dirty = true
  end
  return v, s, l, b, dirty, made
end

-- putBudget writes a budget's reservations' sum, its settled total and
-- swept slot unless nil (unchanged), and the fields after them, and
-- refreshes its TTL if it has one.
local function putBudget(k, s, v, l, ...)
  if v and l then
    redis.call('HSET', k, 's', fmt(s), 'v', fmt(v), 'l', fmt(l), ...)
  elseif v then
    redis.call('HSET', k, 's', fmt(s), 'v', fmt(v), ...)
  else
    redis.call('HSET', k, 's', fmt(s), ...)
  end
  if cumTTL > 0 then redis.call('PEXPIRE', k, fmt(cumTTL)) end
end

-- load returns a rolling counter's total, its current bucket, its newest
-- bucket holding units, its bucket width and the current bucket's value,
-- expiring the buckets that left the window.
local function load(k, w)
  local g = math.floor(w / B)
  if g < 1 then g = 1 end
  local idx = math.floor(now / g)
  local v = redis.call('HMGET', k, 's', 'h', 'n', fmt(idx))
  local h = tonumber(v[2])
  if h == nil then return 0, idx, 0, g, 0 end
  local s = tonumber(v[1]) or 0
  local nw = tonumber(v[3]) or 0
  if idx < h then -- Redis's clock went back (failover): stay on h
    return s, h, nw, g, tonumber(redis.call('HGET', k, fmt(h))) or 0
  end
  local cb = tonumber(v[4]) or 0
  if idx == h then return s, h, nw, g, cb end
  if idx - h >= B then
    redis.call('DEL', k)
    return 0, idx, 0, g, 0
  end
  for j = h - B + 1, idx - B do
    local f = fmt(j)
    local b = tonumber(redis.call('HGET', k, f))
    if b then
      s = s - b
      redis.call('HDEL', k, f)
    end
  end
  redis.call('HSET', k, 's', fmt(s), 'h', fmt(idx))
  return s, idx, nw, g, cb
end

local function reset(s, nw, g)
  if g == 0 or s <= 0 then return 0 end
  local r = (nw + B) * g - now
  if r < 0 then return 0 end
  return r
end
`

// luaReserve is the reserve decision over n counters: keys KEYS[kb+1..kb+n],
// and per counter the quad limit, window µs (0 cumulative), cost, floor
// from N[ab] on. It returns {admitted, denied index (1-based), now s,
// now µs, retry µs, too large, then per counter its total, reset µs and
// settled total (0 for a rolling counter)}.
const luaReserve = `
-- Per counter of the reservation being decided, reused from one to the
-- next: for every counter its total st, and for a rolling one its bucket
-- cur, newest bucket nws, width gs, bucket value cbs; for a budget its
-- settled total vs, reservations' sum bs, swept slot bl, sum held in
-- nowExp bb and whether it changed bd.
local st, cur, nws, gs, cbs, vs, bs, bl, bb, bd = {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
local function reserve(kb, n, ab)
  local denied = 0
  for i = 1, n do
    local a = ab + (i - 1) * 4
    local limit, w, cost = N[a], N[a + 1], N[a + 2]
    if w == 0 then
      if nowExp == nil then nowExp = fmt(expiry(now)) end
      vs[i], bs[i], bl[i], bb[i], bd[i] = budget(KEYS[kb + i], N[a + 3], nowExp)
      st[i], cur[i], nws[i], gs[i], cbs[i] = vs[i] + bs[i], 0, 0, 0, 0
    else
      st[i], cur[i], nws[i], gs[i], cbs[i] = load(KEYS[kb + i], w)
      vs[i], bd[i] = 0, false
    end
    if denied == 0 and limit > 0 and st[i] + cost > limit then denied = i end
  end
  local out = {0, denied, tonumber(t[1]), tonumber(t[2]), 0, 0}
  for i = 1, n do
    if bd[i] and (denied > 0 or N[ab + (i - 1) * 4 + 2] == 0) then
      putBudget(KEYS[kb + i], bs[i], vs[i], bl[i])
    end
  end
  if denied > 0 then
    local a = ab + (denied - 1) * 4
    local limit, w, cost = N[a], N[a + 1], N[a + 2]
    if cost > limit then out[6] = 1 end
    if w > 0 then
      local g, c = gs[denied], cur[denied]
      out[5] = reset(st[denied], nws[denied], g)
      if cost <= limit then
        local need = st[denied] + cost - limit
        local all = redis.call('HGETALL', KEYS[kb + denied])
        local m = {}
        for j = 1, #all, 2 do m[all[j]] = tonumber(all[j + 1]) end
        local freed = 0
        for j = c - B + 1, c do
          freed = freed + (m[fmt(j)] or 0)
          if freed >= need then
            out[5] = (j + B) * g - now
            break
          end
        end
      end
    end
  else
    out[1] = 1
    for i = 1, n do
      local a = ab + (i - 1) * 4
      local cost = N[a + 2]
      if cost ~= 0 then
        local k = KEYS[kb + i]
        st[i] = st[i] + cost
        if gs[i] == 0 then
          local d = bd[i]
          putBudget(k, bs[i] + cost, d and vs[i] or nil, d and bl[i] or nil, nowExp, fmt(bb[i] + cost))
        else
          local g = gs[i]
          redis.call('HSET', k, fmt(cur[i]), fmt(cbs[i] + cost), 's', fmt(st[i]), 'h', fmt(cur[i]), 'n', fmt(cur[i]))
          redis.call('PEXPIRE', k, fmt(math.ceil((B + 1) * g / 1000)))
          nws[i] = cur[i]
        end
      end
    end
  end
  for i = 1, n do
    out[#out + 1] = st[i]
    out[#out + 1] = reset(st[i], nws[i], gs[i])
    out[#out + 1] = vs[i]
  end
  return out
end
`

// reserveScript decides G reservations one after the other, exactly as G
// separate calls would (a batch of them in one call): N[1] is G,
// N[2..1+G] their counter counts, then every counter's quad in order;
// KEYS likewise. It returns one string: each reservation's reply (see
// reserve) in order, as space-separated integers.
var reserveScript = redis.NewScript(luaPrelude + luaReserve + `
local G = N[1]
local out = {}
local kb, ab = 0, 2 + G
for g = 1, G do
  local n = N[1 + g]
  local r = reserve(kb, n, ab)
  for j = 1, #r do out[#out + 1] = fmt(r[j]) end
  kb = kb + n
  ab = ab + 4 * n
end
return table.concat(out, ' ')
`)

// settleScript: per key N holds the quad window µs, reservation time µs,
// reserved cost and actual value; one call may carry several settlements'
// keys, each applied on its own. A rolling adjustment whose bucket has
// left the window is dropped. A budget's reservation is taken out of its
// slot of expiry unless it expired already, and the actual value is
// added to the settled total; a budget lost since (Redis flushed or
// restarted) is left missing, for the next reservation to start it from
// its floor, and one made again since the reservation adds nothing: its
// floor (the ledger) brings that use.
var settleScript = redis.NewScript(luaPrelude + `
for i = 1, #KEYS do
  local a = 1 + (i - 1) * 4
  local w, at, cost, actual = N[a], N[a + 1], N[a + 2], N[a + 3]
  local delta = actual - cost
  local k = KEYS[i]
  if w == 0 then
    local f = fmt(expiry(at))
    local v, s, l, b, dirty, made = budget(k, -1, f)
    -- A reservation older than the counter was made for one Redis lost:
    -- the counter started again from the ledger, which brings that use
    -- (at 0 is a charge, which reserved nothing).
    if v and at > 0 and at < made then
      if dirty then putBudget(k, s, v, l) end
    elseif v then
      local held = math.min(b, cost)
      if not dirty then l = nil end
      if held > 0 then
        -- An emptied slot stays, at 0, until it expires: one write.
        putBudget(k, math.max(s - held, 0), v + actual, l, f, fmt(b - held))
      else
        putBudget(k, s, v + actual, l)
      end
    end
  elseif delta ~= 0 then
    if redis.call('EXISTS', k) == 1 then
      local s, cur, nw, g = load(k, w)
      local ai = math.floor(at / g)
      if ai > cur then ai = cur end
      if ai > cur - B then
        local f = fmt(ai)
        local old = tonumber(redis.call('HGET', k, f)) or 0
        local new = old + delta
        if new < 0 then new = 0 end
        if new ~= old then
          redis.call('HSET', k, f, fmt(new), 's', fmt(s + new - old))
          if new > 0 and ai > nw then redis.call('HSET', k, 'n', fmt(ai)) end
        end
      end
    end
  end
end
return 1
`)

// Reserve implements Limiter.
func (l *Redis) Reserve(ctx context.Context, counters []Counter) (*Reservation, error) {
	r := new(Reservation)
	if err := l.ReserveInto(ctx, counters, r); err != nil {
		return nil, err
	}
	return r, nil
}

// ReserveInto is Reserve into a caller-owned reservation: from this
// replica's leases when they cover every counter (see lease.go), else in
// Redis.
func (l *Redis) ReserveInto(ctx context.Context, counters []Counter, r *Reservation) error {
	if err := validate(counters); err != nil {
		return err
	}
	// Named once, for the leases' steps and the script alike.
	var namesBuf [reservationInline]*keyName
	names := namesBuf[:0]
	for _, c := range counters {
		names = append(names, l.name(c.Key, c.Window))
	}
	if l.opts.LeaseDivisor <= 0 {
		return l.reserveRemote(ctx, counters, names, r)
	}
	if l.admitLeased(counters, names, r) {
		return nil
	}
	l.flushUnlimited(ctx, counters, names)
	if err := l.reserveRemote(ctx, counters, names, r); err != nil {
		return err
	}
	l.startLeases(counters, names, r)
	return nil
}

// reserveRemote decides a reservation in Redis; names[i] is counters[i]'s
// name.
func (l *Redis) reserveRemote(ctx context.Context, counters []Counter, names []*keyName, r *Reservation) error {
	op := newOp(ctx, false)
	for i, c := range counters {
		n := names[i]
		floor := int64(0)
		if c.Window == 0 {
			// The last total Redis reported is as good a floor as the
			// caller's, and fresher: a counter lost since restarts there.
			floor = max(c.Floor, n.seen.Load(), 0)
		}
		op.keys = append(op.keys, n.key)
		op.nums = append(op.nums, c.Limit, c.Window.Microseconds(), c.Cost, floor)
	}
	if l.batch.cluster {
		if err := op.setSlot(names); err != nil {
			release(op)
			return err
		}
	}
	mine, err := l.batch.run(ctx, op)
	if mine {
		defer release(op)
	}
	if err != nil {
		return classify(ctx, err)
	}
	res := op.res
	if len(res) != 6+3*len(counters) {
		return fmt.Errorf("ratelimit: redis: reserve script returned %d values for %d counters", len(res), len(counters))
	}
	for i, c := range counters {
		if c.Window == 0 {
			names[i].saw(res[6+3*i+2])
		}
	}
	at := time.Unix(res[2], res[3]*int64(time.Microsecond))
	states := func(dst []State) []State {
		for i, c := range counters {
			st := State{Limit: c.Limit, Reset: time.Duration(res[6+3*i+1]) * time.Microsecond}
			if c.Limit > 0 {
				st.Remaining = max(c.Limit-res[6+3*i], 0)
			}
			dst = append(dst, st)
		}
		return dst
	}
	if res[0] == 0 {
		i := int(res[1]) - 1
		return &Denied{
			Index:      i,
			Key:        counters[i].Key,
			RetryAfter: time.Duration(res[4]) * time.Microsecond,
			TooLarge:   res[5] == 1,
			States:     states(make([]State, 0, len(counters))),
		}
	}
	r.reset(counters, originRedis)
	r.At = at
	r.States = states(r.States)
	return nil
}

// Settle implements Limiter.
func (l *Redis) Settle(ctx context.Context, r *Reservation, actual []int64) error {
	op, err := l.settleOp(ctx, r, actual)
	if err != nil || op == nil {
		return err
	}
	mine, err := l.batch.run(ctx, op)
	if mine {
		release(op)
	}
	if err != nil {
		return classify(ctx, err)
	}
	return nil
}

// SettleAsync implements AsyncSettler: the settlement rides with the next
// round trip, merged with the others waiting, and done gets its error.
func (l *Redis) SettleAsync(r *Reservation, actual []int64, done func(error)) {
	op, err := l.settleOp(context.Background(), r, actual)
	if err != nil || op == nil {
		done(err)
		return
	}
	op.onDone = done
	l.batch.runAsync(op)
}

// ChargeAsync implements Charger: a settlement of nothing reserved, with
// the next round trip.
func (l *Redis) ChargeAsync(counters []Counter, done func(error)) {
	if err := validate(counters); err != nil {
		done(err)
		return
	}
	var op *scriptOp
	var namesBuf [reservationInline]*keyName
	names := namesBuf[:0]
	for _, c := range counters {
		if c.Window != 0 || c.Cost == 0 {
			continue
		}
		if op == nil {
			op = newOp(context.Background(), true)
		}
		// Reserved at time 0: no slot of expiry holds anything for it.
		n := l.name(c.Key, 0)
		names = append(names, n)
		op.keys = append(op.keys, n.key)
		op.nums = append(op.nums, 0, 0, 0, c.Cost)
	}
	if op == nil {
		done(nil)
		return
	}
	if l.batch.cluster {
		if err := op.setSlot(names); err != nil {
			release(op)
			done(err)
			return
		}
	}
	op.onDone = done
	l.batch.runAsync(op)
}

// settleOp marks r settled and returns the settlement's op; none when
// nothing changes (no budget, and every rolling counter's actual value is
// the reserved one). A budget is always settled: its reservation is held
// apart until then.
func (l *Redis) settleOp(ctx context.Context, r *Reservation, actual []int64) (*scriptOp, error) {
	if len(actual) != len(r.Counters) {
		return nil, ErrSettleMismatch
	}
	if r.settled || r.origin != originRedis {
		return nil, ErrSettled
	}
	if r.leases[0] != nil {
		settleLeased(r, actual)
		return nil, nil
	}
	r.settled = true
	var op *scriptOp
	at := r.At.UnixMicro()
	for i, c := range r.Counters {
		if actual[i] == c.Cost && (c.Window != 0 || c.Cost == 0) {
			continue
		}
		n := l.name(c.Key, c.Window)
		if op == nil {
			op = newOp(ctx, true)
			// The reservation's counters share one slot (ReserveInto
			// checked); its first settled one names it.
			op.slot = n.slot
		}
		op.keys = append(op.keys, n.key)
		op.nums = append(op.nums, c.Window.Microseconds(), at, c.Cost, actual[i])
	}
	return op, nil
}

// seen is the settled total Redis last reported for the cumulative
// counter key, 0 if none is known.
func (l *Redis) seen(key string) int64 {
	if v, ok := l.names.m.Load(key); ok {
		if n := v.(*keyName); n.window == 0 {
			return n.seen.Load()
		}
	}
	return 0
}

// Ping reports whether Redis answers; Fallback probes with it.
func (l *Redis) Ping(ctx context.Context) error {
	if err := l.client.Ping(ctx).Err(); err != nil {
		return classify(ctx, err)
	}
	return nil
}

// name returns how a counter is named in Redis. The window and bucket
// count are part of a rolling counter's name because its bucket numbers
// depend on them; a budget's name says it is a budget hash. Names are
// kept, so the common call builds no string.
func (l *Redis) name(key string, window time.Duration) *keyName {
	if v, ok := l.names.m.Load(key); ok {
		if n := v.(*keyName); n.window == window {
			return n
		}
	}
	name := l.prefix + key
	if window != 0 {
		name += ":w" + strconv.FormatInt(window.Milliseconds(), 10) + ":b" + strconv.Itoa(l.opts.Buckets)
	} else {
		name += ":c"
	}
	n := &keyName{window: window, name: name, key: name, slot: hashSlot(name)}
	if _, loaded := l.names.m.Swap(key, n); !loaded && l.names.n.Add(1) > maxKeyNames {
		l.names.m.Clear()
		l.names.n.Store(0)
	}
	return n
}

// keyNames maps a counter's key to its Redis name. It is dropped whole
// past maxKeyNames, so keys that come and go cannot grow it without bound.
type keyNames struct {
	m sync.Map // Counter.Key -> *keyName
	n atomic.Int64
}

type keyName struct {
	window time.Duration
	name   string
	key    any    // name, boxed once for the script calls
	slot   uint16 // name's Redis Cluster hash slot
	// seen is the highest settled total Redis reported for a budget: a
	// floor of it that survives Redis losing the counter.
	seen atomic.Int64
	// lease is this replica's open lease on the counter, if any; leasing
	// is set while one is being reserved (see lease.go).
	lease      atomic.Pointer[lease]
	leasing    atomic.Bool
	lastRemote atomic.Int64 // unix ns of the last decision Redis made on it with leases on
}

// saw records a settled total Redis reported.
func (n *keyName) saw(v int64) {
	for {
		old := n.seen.Load()
		if v <= old || n.seen.CompareAndSwap(old, v) {
			return
		}
	}
}

const maxKeyNames = 1 << 16

// classify maps a go-redis error to ErrUnavailable when the store cannot
// answer (connection failures, and replies that mean the server cannot
// serve now), so Fallback knows to switch; a cancelled caller keeps its
// context error, and a script or type error stays what it is.
func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("ratelimit: redis: %w", ctx.Err())
	}
	var reply redis.Error
	if errors.As(err, &reply) && !redis.IsLoadingError(err) && !redis.IsReadOnlyError(err) &&
		!redis.IsClusterDownError(err) && !redis.IsTryAgainError(err) && !redis.IsMasterDownError(err) {
		return fmt.Errorf("ratelimit: redis: %w", err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
