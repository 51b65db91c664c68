package gateway

import (
	"context"
	"hash/maphash"
	"net/http"
	"sync"
	"time"
)

// StoredAnswer is an answer kept to be served again: by the response cache
// (Cache) to an identical request, and to an Idempotency-Key retry
// (IdempotencyStore). One returned by a store may share its memory: treat
// it as read-only.
type StoredAnswer struct {
	Status      int
	ContentType string
	Body        []byte
	// PromptTokens and CompletionTokens are the answer's usage when it was
	// made; a cache hit records them again (at no cost).
	PromptTokens     int64
	CompletionTokens int64
}

// IdempotencyStore remembers answers by Idempotency-Key, so a client that
// retries after a lost connection gets the first answer instead of a
// second, billed one. The in-process store is NewIdempotencyStore; a
// shared one (Redis) can take its place.
type IdempotencyStore interface {
	// Begin claims key for a request whose body hashes to sum. It returns
	// either an answer to replay, or a finish func the caller must call
	// once with the answer to keep (nil: keep nothing, release the key).
	// A key held with another sum fails with ErrIdempotencyReused; a key
	// whose first request failed while this one waited, with
	// ErrIdempotencyBusy.
	Begin(ctx context.Context, key string, sum [32]byte) (replay *StoredAnswer, finish func(*StoredAnswer), err error)
}

const (
	idemShards = 64
	// idemSweepEvery: each shard drops expired entries on every this-many
	// inserts, so memory follows the TTL without a background goroutine.
	idemSweepEvery = 256
)

type idemEntry struct {
	sum     [32]byte
	done    chan struct{} // closed when the first request finished
	answer  *StoredAnswer // set before done is closed; nil: released
	expires time.Time
}

type idemShard struct {
	mu      sync.Mutex
	m       map[string]*idemEntry
	inserts int
}

// MemoryIdempotency is the in-process IdempotencyStore.
type MemoryIdempotency struct {
	ttl    time.Duration
	now    func() time.Time
	seed   maphash.Seed
	shards [idemShards]idemShard
	onWait func() // test hook: a twin starts waiting for the first
}

var _ IdempotencyStore = (*MemoryIdempotency)(nil)

// NewIdempotencyStore returns an in-process store keeping answers for ttl.
func NewIdempotencyStore(ttl time.Duration, now func() time.Time) *MemoryIdempotency {
	if now == nil {
		now = time.Now
	}
	s := &MemoryIdempotency{ttl: ttl, now: now, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*idemEntry)
	}
	return s
}

// Begin implements IdempotencyStore.
func (s *MemoryIdempotency) Begin(ctx context.Context, key string, sum [32]byte) (*StoredAnswer, func(*StoredAnswer), error) {
	sh := &s.shards[maphash.String(s.seed, key)%idemShards]
	now := s.now()
	sh.mu.Lock()
	e := sh.m[key]
	if e != nil && !e.expires.IsZero() && now.After(e.expires) {
		delete(sh.m, key)
		e = nil
	}
	if e == nil {
		e = &idemEntry{sum: sum, done: make(chan struct{})}
		sh.m[key] = e
		sh.inserts++
		if sh.inserts%idemSweepEvery == 0 {
			for k, old := range sh.m {
				if !old.expires.IsZero() && now.After(old.expires) {
					delete(sh.m, k)
				}
			}
		}
		sh.mu.Unlock()
		var once sync.Once
		return nil, func(a *StoredAnswer) { once.Do(func() { s.finish(sh, key, e, a) }) }, nil
	}
	sh.mu.Unlock()
	if e.sum != sum {
		return nil, nil, ErrIdempotencyReused
	}
	if s.onWait != nil {
		s.onWait()
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return nil, nil, errClientGone
	}
	if e.answer == nil {
		return nil, nil, ErrIdempotencyBusy
	}
	return e.answer, nil, nil
}

func (s *MemoryIdempotency) finish(sh *idemShard, key string, e *idemEntry, a *StoredAnswer) {
	sh.mu.Lock()
	if a == nil {
		if sh.m[key] == e {
			delete(sh.m, key)
		}
	} else {
		e.answer = a
		e.expires = s.now().Add(s.ttl)
	}
	sh.mu.Unlock()
	close(e.done)
}

// replay writes a stored answer.
func (a *StoredAnswer) writeTo(w http.ResponseWriter) {
	h := w.Header()
	if a.ContentType != "" {
		h.Set("Content-Type", a.ContentType)
	}
	h.Set("Idempotent-Replayed", "true")
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}
