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
// A cumulative counter is a string at prefix+Key (Seed writes it with SET
// NX). A rolling counter is a hash at prefix+Key+":w<window ms>:b<buckets>"
// holding one field per live bucket plus "s" (their sum), "h" (the newest
// bucket advanced to) and "n" (the newest bucket holding units); expiring
// a bucket is amortised O(1) per call, only a denial reads all of them.
// In Redis Cluster, put a hash tag in prefix (e.g. "{oais-rl}:") so a
// request's counters share a slot, which a script needs.
//
// Concurrent Reserves and Settles share round trips and script calls (see
// batcher); each reservation is still decided atomically, so decisions
// stay exact across replicas. SettleAsync settles without waiting.
type Redis struct {
	client redis.UniversalClient
	prefix string
	opts   Options
	batch  *batcher
	names  keyNames
}

// NewRedis returns a limiter on client whose keys all start with prefix.
func NewRedis(client redis.UniversalClient, prefix string, opts Options) *Redis {
	opts = opts.withDefaults()
	return &Redis{client: client, prefix: prefix, opts: opts, batch: newBatcher(client, opts.Buckets, opts.CumulativeTTL)}
}

// luaPrelude is shared by the scripts. ARGV[1] is the bucket count,
// ARGV[2] the cumulative TTL in ms, ARGV[3] the call's numbers packed in
// one string of space-separated integers (N; one argument instead of
// three per counter keeps the client from boxing and Redis from parsing a
// bulk string per number); times are microseconds.
const luaPrelude = `
redis.replicate_commands()
local B = tonumber(ARGV[1])
local cumTTL = tonumber(ARGV[2])
local N = {}
for x in string.gmatch(ARGV[3], '%S+') do N[#N + 1] = tonumber(x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- Lua turns numbers into "%.14g" strings; Redis wants integers.
local function fmt(x) return string.format('%d', x) end

-- load returns a counter's total, its current bucket, its newest bucket
-- holding units, its bucket width (0 for a cumulative counter) and the
-- current bucket's value, expiring the buckets of a rolling counter that
-- left the window.
local function load(k, w)
  if w == 0 then
    return tonumber(redis.call('GET', k)) or 0, 0, 0, 0, 0
  end
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
// and per counter the triplet limit, window µs (0 cumulative), cost from
// N[ab] on. It returns {admitted, denied index (1-based), now s,
// now µs, retry µs, too large, then total and reset µs per counter}.
const luaReserve = `
local function reserve(kb, n, ab)
  local st, cur, nws, gs, cbs = {}, {}, {}, {}, {}
  local denied = 0
  for i = 1, n do
    local a = ab + (i - 1) * 3
    local limit, w, cost = N[a], N[a + 1], N[a + 2]
    st[i], cur[i], nws[i], gs[i], cbs[i] = load(KEYS[kb + i], w)
    if denied == 0 and limit > 0 and st[i] + cost > limit then denied = i end
  end
  local out = {0, denied, tonumber(t[1]), tonumber(t[2]), 0, 0}
  if denied > 0 then
    local a = ab + (denied - 1) * 3
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
      local a = ab + (i - 1) * 3
      local cost = N[a + 2]
      if cost ~= 0 then
        local k = KEYS[kb + i]
        st[i] = st[i] + cost
        if gs[i] == 0 then
          redis.call('INCRBY', k, fmt(cost))
          if cumTTL > 0 then redis.call('PEXPIRE', k, fmt(cumTTL)) end
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
  end
  return out
end
`

// reserveScript decides G reservations one after the other, exactly as G
// separate calls would (a batch of them in one call): N[1] is G,
// N[2..1+G] their counter counts, then every counter's triplet in order;
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
  ab = ab + 3 * n
end
return table.concat(out, ' ')
`)

// settleScript: per key N holds the triplet window µs, reservation time µs
// and delta; one call may carry several settlements' keys, each applied on
// its own. An adjustment whose bucket has left the window is dropped.
var settleScript = redis.NewScript(luaPrelude + `
for i = 1, #KEYS do
  local a = 1 + (i - 1) * 3
  local w, at, delta = N[a], N[a + 1], N[a + 2]
  local k = KEYS[i]
  if delta ~= 0 then
    if w == 0 then
      local v = redis.call('INCRBY', k, fmt(delta))
      if v < 0 then redis.call('INCRBY', k, fmt(-v)) end
      if cumTTL > 0 then redis.call('PEXPIRE', k, fmt(cumTTL)) end
    elseif redis.call('EXISTS', k) == 1 then
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

// ReserveInto is Reserve into a caller-owned reservation.
func (l *Redis) ReserveInto(ctx context.Context, counters []Counter, r *Reservation) error {
	if err := validate(counters); err != nil {
		return err
	}
	op := newOp(ctx, false)
	for _, c := range counters {
		op.keys = append(op.keys, l.key(c.Key, c.Window))
		op.nums = append(op.nums, c.Limit, c.Window.Microseconds(), c.Cost)
	}
	mine, err := l.batch.run(ctx, op)
	if mine {
		defer release(op)
	}
	if err != nil {
		return classify(ctx, err)
	}
	res := op.res
	if len(res) != 6+2*len(counters) {
		return fmt.Errorf("ratelimit: redis: reserve script returned %d values for %d counters", len(res), len(counters))
	}
	at := time.Unix(res[2], res[3]*int64(time.Microsecond))
	states := func(dst []State) []State {
		for i, c := range counters {
			st := State{Limit: c.Limit, Reset: time.Duration(res[6+2*i+1]) * time.Microsecond}
			if c.Limit > 0 {
				st.Remaining = max(c.Limit-res[6+2*i], 0)
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

// settleOp marks r settled and returns the settlement's op; none when
// nothing changes (every actual value is the reserved one, e.g. request
// counters).
func (l *Redis) settleOp(ctx context.Context, r *Reservation, actual []int64) (*scriptOp, error) {
	if len(actual) != len(r.Counters) {
		return nil, ErrSettleMismatch
	}
	if r.settled || r.origin != originRedis {
		return nil, ErrSettled
	}
	r.settled = true
	var op *scriptOp
	at := r.At.UnixMicro()
	for i, c := range r.Counters {
		delta := actual[i] - c.Cost
		if delta == 0 {
			continue
		}
		if op == nil {
			op = newOp(ctx, true)
		}
		op.keys = append(op.keys, l.key(c.Key, c.Window))
		op.nums = append(op.nums, c.Window.Microseconds(), at, delta)
	}
	return op, nil
}

// Seed implements Limiter: SET NX, so the first replica to start wins and
// a running count is never overwritten.
func (l *Redis) Seed(ctx context.Context, key string, value int64) error {
	args := redis.SetArgs{Mode: "NX"}
	if l.opts.CumulativeTTL > 0 {
		args.TTL = l.opts.CumulativeTTL
	}
	err := l.client.SetArgs(ctx, l.prefix+key, max(value, 0), args).Err()
	if err != nil && !errors.Is(err, redis.Nil) { // redis.Nil: the key existed
		return classify(ctx, err)
	}
	return nil
}

// Ping reports whether Redis answers; Fallback probes with it.
func (l *Redis) Ping(ctx context.Context) error {
	if err := l.client.Ping(ctx).Err(); err != nil {
		return classify(ctx, err)
	}
	return nil
}

// key names a counter in Redis. The window and bucket count are part of a
// rolling counter's name because its bucket numbers depend on them. Names
// are kept, so the common call builds no string.
func (l *Redis) key(key string, window time.Duration) string {
	if v, ok := l.names.m.Load(key); ok {
		if n := v.(*keyName); n.window == window {
			return n.name
		}
	}
	name := l.prefix + key
	if window != 0 {
		name += ":w" + strconv.FormatInt(window.Milliseconds(), 10) + ":b" + strconv.Itoa(l.opts.Buckets)
	}
	if _, loaded := l.names.m.Swap(key, &keyName{window, name}); !loaded && l.names.n.Add(1) > maxKeyNames {
		l.names.m.Clear()
		l.names.n.Store(0)
	}
	return name
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
