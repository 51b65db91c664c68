// Package idempotency shares the gateway's Idempotency-Key answers between
// replicas through Redis, so a retry the load balancer sends to another
// replica replays the first answer instead of running (and billing) again.
//
// A key lives in one Redis string, prefix + sha256(key):
//
//   - a claim, "P" + body sum + a random token, set with SET NX by the
//     request that runs, with ClaimTTL, which that request extends while
//     it runs: a claim whose replica died expires within ClaimTTL;
//   - then the answer, "A" + body sum + gateway.StoredAnswer's encoding,
//     with the answer TTL (set only by the claim's holder, atomically).
//
// A twin that finds a claim polls for the answer, with backoff, for at most
// Wait. While Redis does not answer, keys are claimed in-process (the
// Fallback store) and Redis is asked again every retryEvery.
package idempotency

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oais/oais/gateway"
)

// Defaults of Options.
const (
	// DefaultClaimTTL is how long a claim outlives a replica that died
	// while running its request. The holder extends it every third of it.
	DefaultClaimTTL = 30 * time.Second
	// DefaultWait bounds how long a twin waits for the holder's answer
	// before answering 409 idempotency_key_in_use (the client retries).
	DefaultWait = time.Minute
	// DefaultPoll is a twin's first pause between looks; it doubles up to
	// maxPoll.
	DefaultPoll = 10 * time.Millisecond
)

const (
	maxPoll = 250 * time.Millisecond
	// opTimeout bounds a claim, and the Redis calls made on no client's
	// context: storing an answer, releasing and extending a claim.
	opTimeout = 2 * time.Second
	// retryEvery is how long keys stay in-process after Redis failed.
	retryEvery = 5 * time.Second
	tokenLen   = 16
)

// Options configures NewRedis. Zero values take the defaults.
type Options struct {
	// TTL is how long an answer is replayed (gateway.DefaultIdempotencyTTL).
	TTL      time.Duration
	ClaimTTL time.Duration
	Wait     time.Duration
	Poll     time.Duration
	// Fallback takes keys while Redis does not answer; nil: an in-process
	// store with the gateway's default bounds.
	Fallback gateway.IdempotencyStore
	// Logger receives one line when Redis is lost and one when it is back.
	Logger *slog.Logger
}

// Redis is a gateway.IdempotencyStore shared by the replicas on one Redis.
type Redis struct {
	client redis.UniversalClient
	prefix string
	o      Options
	// down is set while Redis does not answer; retryAt (unix nanoseconds)
	// is when to ask it again.
	down    atomic.Bool
	retryAt atomic.Int64
}

var _ gateway.IdempotencyStore = (*Redis)(nil)

// NewRedis returns a store on client whose keys all start with prefix.
func NewRedis(client redis.UniversalClient, prefix string, o Options) *Redis {
	if o.TTL <= 0 {
		o.TTL = gateway.DefaultIdempotencyTTL
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = DefaultClaimTTL
	}
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Fallback == nil {
		o.Fallback = gateway.NewIdempotencyStore(o.TTL, 0, 0, nil)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Redis{client: client, prefix: prefix, o: o}
}

// Value kinds, the first byte of a stored value.
const (
	kindClaim  = 'P'
	kindAnswer = 'A'
)

// Begin implements gateway.IdempotencyStore.
func (s *Redis) Begin(ctx context.Context, key string, sum [32]byte) (*gateway.StoredAnswer, func(*gateway.StoredAnswer), error) {
	if s.down.Load() && time.Now().UnixNano() < s.retryAt.Load() {
		return s.o.Fallback.Begin(ctx, key, sum)
	}
	h := sha256.Sum256([]byte(key))
	rk := s.prefix + hex.EncodeToString(h[:])
	claim := make([]byte, 0, 1+len(sum)+tokenLen)
	claim = append(append(claim, kindClaim), sum[:]...)
	claim = append(claim, rand.Text()[:tokenLen]...)

	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	won, err := s.client.SetNX(cctx, rk, claim, s.o.ClaimTTL).Result()
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		s.lost(err)
		return s.o.Fallback.Begin(ctx, key, sum)
	}
	s.found()
	if won {
		return nil, s.hold(rk, sum, string(claim)), nil
	}
	return s.await(ctx, rk, sum)
}

// await waits for the answer of a key another request claimed.
func (s *Redis) await(ctx context.Context, rk string, sum [32]byte) (*gateway.StoredAnswer, func(*gateway.StoredAnswer), error) {
	wctx, cancel := context.WithTimeout(ctx, s.o.Wait)
	defer cancel()
	pause := s.o.Poll
	for {
		v, err := s.client.Get(wctx, rk).Bytes()
		switch {
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		case errors.Is(err, redis.Nil):
			// Released: the first request failed (or its replica died).
			return nil, nil, gateway.ErrIdempotencyBusy
		case err != nil:
			// Waited Wait, or Redis failed meanwhile: the client retries.
			return nil, nil, gateway.ErrIdempotencyBusy
		case len(v) < 1+len(sum) || (v[0] != kindClaim && v[0] != kindAnswer):
			return nil, nil, fmt.Errorf("idempotency: %s holds no claim or answer: %w", rk, gateway.ErrCorruptAnswer)
		case [32]byte(v[1:1+len(sum)]) != sum:
			return nil, nil, gateway.ErrIdempotencyReused
		case v[0] == kindAnswer:
			a, err := gateway.DecodeStoredAnswer(v[1+len(sum):])
			if err != nil {
				return nil, nil, fmt.Errorf("idempotency: %s: %w", rk, err)
			}
			return &a, nil, nil
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, gateway.ErrIdempotencyBusy
		case <-time.After(pause):
		}
		pause = min(2*pause, maxPoll)
	}
}

// Scripts that act on a key only while it holds this request's claim, so a
// holder whose claim expired (and was taken by another) changes nothing.
var (
	storeAnswer = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return false`)
	release = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
	extend = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)
)

// hold keeps a won claim alive while its request runs and returns the
// finish func that stores the answer or releases the key.
func (s *Redis) hold(rk string, sum [32]byte, claim string) func(*gateway.StoredAnswer) {
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(s.o.ClaimTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
				_ = extend.Run(ctx, s.client, []string{rk}, claim, s.o.ClaimTTL.Milliseconds()).Err()
				cancel()
			}
		}
	}()
	var once sync.Once
	return func(a *gateway.StoredAnswer) {
		once.Do(func() {
			close(stop)
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			defer cancel()
			var err error
			if a == nil {
				err = release.Run(ctx, s.client, []string{rk}, claim).Err()
			} else {
				v := make([]byte, 0, 1+len(sum)+a.EncodedLen())
				v = a.AppendEncoded(append(append(v, kindAnswer), sum[:]...))
				err = storeAnswer.Run(ctx, s.client, []string{rk}, claim, v, s.o.TTL.Milliseconds()).Err()
				if errors.Is(err, redis.Nil) {
					err = errors.New("the claim expired before the answer was stored")
				}
			}
			if err != nil {
				// The twins waiting get 409 and retry; a retry may run again.
				s.o.Logger.Warn("idempotency: could not store or release a key in redis", "err", err)
			}
		})
	}
}

// lost switches to the in-process store for retryEvery; found switches
// back. Each logs the change, not every request.
func (s *Redis) lost(err error) {
	s.retryAt.Store(time.Now().Add(retryEvery).UnixNano())
	if s.down.CompareAndSwap(false, true) {
		s.o.Logger.Warn("idempotency: redis unreachable; Idempotency-Key answers are kept per replica until it answers", "err", err)
	}
}

func (s *Redis) found() {
	if s.down.Load() && s.down.CompareAndSwap(true, false) {
		s.o.Logger.Info("idempotency: redis reachable again; Idempotency-Key answers are shared by every replica")
	}
}
