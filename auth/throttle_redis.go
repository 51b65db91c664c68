package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisCounters keeps a Throttle's counters in Redis. Keys are
// prefix+hash: an e-mail or an address never appears in Redis in the
// clear. The prefix holds the throttle's name as a hash tag, so the keys of
// one attempt share a slot in Redis Cluster, which a script needs. Times
// are microseconds.
type redisCounters struct {
	client redis.UniversalClient
	prefix string
	// serverClock: the scripts read Redis's TIME instead of the caller's
	// clock (tests inject a clock; production uses Redis's).
	serverClock bool
}

// luaNow reads the time: ARGV[1] in µs, or Redis's clock when it is empty.
const luaNow = `
redis.replicate_commands()
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
-- Lua turns numbers into "%.14g" strings; Redis wants integers.
local function fmt(x) return string.format('%d', x) end
local function ms(us) return fmt(math.max(1, math.ceil(us / 1000))) end
`

// takeScript checks every counter of an attempt and, if none refuses it,
// spends them all. KEYS: the GCRA counters, then (with a Backoff) the
// account's failures (a hash: n, l) and the pair's exemption (until, µs).
// ARGV: now, the number of GCRA counters, each one's interval and burst,
// then Backoff's After (0: none), Base, Max, Forget. It returns the wait in
// µs, 0 when the attempt was counted.
var takeScript = redis.NewScript(luaNow + `
local ng = tonumber(ARGV[2])
local wait = 0
local tats = {}
for i = 1, ng do
  local burst = tonumber(ARGV[2 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  tats[i] = tat
  if tat - now - burst > wait then wait = tat - now - burst end
end
local p = 3 + 2 * ng
local after = tonumber(ARGV[p])
local counted = false
local n = 0
local forget = tonumber(ARGV[p + 3])
if after > 0 then
  local until_ = tonumber(redis.call('GET', KEYS[ng + 2]) or 0)
  if until_ <= now then
    counted = true
    local st = redis.call('HMGET', KEYS[ng + 1], 'n', 'l')
    n = tonumber(st[1] or 0)
    local last = tonumber(st[2] or 0)
    if now - last > forget then n = 0 end
    if n >= after then
      local d = tonumber(ARGV[p + 1]) * 2 ^ math.min(n - after, 40)
      local cap = tonumber(ARGV[p + 2])
      if d > cap then d = cap end
      if last + d - now > wait then wait = last + d - now end
    end
  end
end
if wait > 0 then return wait end
for i = 1, ng do
  local tat = tats[i] + tonumber(ARGV[1 + 2 * i])
  redis.call('SET', KEYS[i], fmt(tat), 'PX', ms(tat - now))
end
if counted then
  redis.call('HSET', KEYS[ng + 1], 'n', fmt(n + 1), 'l', fmt(now))
  redis.call('PEXPIRE', KEYS[ng + 1], ms(forget))
end
return 0
`)

// succeedScript gives a successful attempt back. KEYS: the counters to
// drop (the pair's GCRA, the account's failures), the GCRA counters to
// refund, then (with a Backoff) the pair's exemption. ARGV: now, how many
// to drop, how many to refund, each refund's interval, the exemption's
// length in µs (0: none).
var succeedScript = redis.NewScript(luaNow + `
local nf, nr = tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 1, nf do redis.call('DEL', KEYS[i]) end
for i = 1, nr do
  local k = KEYS[nf + i]
  local tat = tonumber(redis.call('GET', k) or 0)
  if tat > now then
    tat = tat - tonumber(ARGV[3 + i])
    if tat > now then
      redis.call('SET', k, fmt(tat), 'PX', ms(tat - now))
    else
      redis.call('DEL', k)
    end
  end
end
local knownFor = tonumber(ARGV[4 + nr])
if knownFor > 0 then
  redis.call('SET', KEYS[nf + nr + 1], fmt(now + knownFor), 'PX', ms(knownFor))
end
return 0
`)

func (r *redisCounters) key(k string) string {
	h := sha256.Sum256([]byte(k))
	return r.prefix + hex.EncodeToString(h[:16])
}

func (r *redisCounters) now(t time.Time) string {
	if r.serverClock {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func (r *redisCounters) take(ctx context.Context, now time.Time, a attempt) (time.Duration, error) {
	keys := make([]string, 0, len(a.gcra)+2)
	args := make([]any, 0, 2+2*len(a.gcra)+4)
	args = append(args, r.now(now), len(a.gcra))
	for _, g := range a.gcra {
		keys = append(keys, r.key(g.key))
		args = append(args, g.interval.Microseconds(), g.burst.Microseconds())
	}
	if b := a.backoff; b != nil {
		keys = append(keys, r.key(b.key), r.key(b.known))
		args = append(args, b.After, b.Base.Microseconds(), b.Max.Microseconds(), b.Forget.Microseconds())
	} else {
		args = append(args, 0, 0, 0, 0)
	}
	us, err := takeScript.Run(ctx, r.client, keys, args...).Int64()
	if err != nil {
		return 0, err
	}
	return time.Duration(us) * time.Microsecond, nil
}

func (r *redisCounters) succeed(ctx context.Context, now time.Time, a attempt) error {
	var drop, refund []string
	var intervals []any
	for _, g := range a.gcra {
		if g.table == tablePair {
			drop = append(drop, r.key(g.key))
		} else {
			refund = append(refund, r.key(g.key))
			intervals = append(intervals, g.interval.Microseconds())
		}
	}
	var knownFor int64
	if b := a.backoff; b != nil {
		drop = append(drop, r.key(b.key))
		knownFor = b.KnownFor.Microseconds()
	}
	keys := append(drop, refund...)
	if a.backoff != nil {
		keys = append(keys, r.key(a.backoff.known))
	}
	args := append([]any{r.now(now), len(drop), len(refund)}, intervals...)
	args = append(args, knownFor)
	return succeedScript.Run(ctx, r.client, keys, args...).Err()
}
