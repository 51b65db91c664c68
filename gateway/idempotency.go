package gateway

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// IdempotencyStore remembers answers by Idempotency-Key, so a client that
// retries after a lost connection gets the first answer instead of a
// second, billed one. The in-process store is NewIdempotencyStore; the
// one replicas share is gateway/idempotency's Redis.
type IdempotencyStore interface {
	// Begin claims key for a request whose body hashes to sum. It returns
	// either an answer to replay, or a finish func the caller must call
	// once with the answer to keep (nil: keep nothing, release the key).
	// A key held with another sum fails with ErrIdempotencyReused; a key
	// whose first request failed while this one waited, with
	// ErrIdempotencyBusy.
	Begin(ctx context.Context, key string, sum [32]byte) (replay *StoredAnswer, finish func(*StoredAnswer), err error)
}

// Bounds of the in-process IdempotencyStore (Config.IdempotencyMaxBytes and
// IdempotencyMaxEntries). An answer may be as large as MaxCaptureBytes, and
// each is kept for IdempotencyTTL: without a bound, distinct keys would
// hold memory for a day each.
const (
	DefaultIdempotencyMaxBytes   = 64 << 20
	DefaultIdempotencyMaxEntries = 100_000
)

const (
	idemShards = 64
	// idemEntryOverhead is what an entry costs besides its key and answer
	// bytes (the entry, its map slot, the StoredAnswer), counted against
	// the byte bound so that many tiny answers are bounded too.
	idemEntryOverhead = 256
)

type idemEntry struct {
	key     string
	sum     [32]byte
	done    chan struct{} // closed when the first request finished
	answer  *StoredAnswer // set before done is closed; nil: released
	expires time.Time
	size    int64
	seq     uint64 // order in which answers were kept: eviction goes by it
	// prev and next link the shard's kept answers, oldest first.
	prev, next *idemEntry
}

type idemShard struct {
	mu sync.Mutex
	m  map[string]*idemEntry
	// oldest and newest are the ends of the list of kept answers: in the
	// order they were kept, which with one TTL is the order they expire.
	oldest, newest *idemEntry
}

// MemoryIdempotency is the in-process IdempotencyStore. It keeps at most
// maxBytes (keys, answers and overhead) and maxEntries answers, evicting
// the oldest first; requests still running hold only a small claim each
// and are never evicted.
type MemoryIdempotency struct {
	ttl        time.Duration
	maxBytes   int64
	maxEntries int64
	now        func() time.Time
	seed       maphash.Seed
	shards     [idemShards]idemShard

	bytes   atomic.Int64 // kept answers' sizes
	entries atomic.Int64 // kept answers
	seq     atomic.Uint64
	onWait  func() // test hook: a twin starts waiting for the first
}

var _ IdempotencyStore = (*MemoryIdempotency)(nil)

// NewIdempotencyStore returns an in-process store keeping answers for ttl,
// at most maxBytes and maxEntries of them (0 takes the defaults).
func NewIdempotencyStore(ttl time.Duration, maxBytes, maxEntries int64, now func() time.Time) *MemoryIdempotency {
	if now == nil {
		now = time.Now
	}
	if maxBytes <= 0 {
		maxBytes = DefaultIdempotencyMaxBytes
	}
	if maxEntries <= 0 {
		maxEntries = DefaultIdempotencyMaxEntries
	}
	s := &MemoryIdempotency{ttl: ttl, maxBytes: maxBytes, maxEntries: maxEntries, now: now, seed: maphash.MakeSeed()}
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
	s.dropExpiredLocked(sh, now)
	e := sh.m[key]
	if e == nil {
		e = &idemEntry{key: key, sum: sum, done: make(chan struct{})}
		sh.m[key] = e
		sh.mu.Unlock()
		var once sync.Once
		return nil, func(a *StoredAnswer) { once.Do(func() { s.finish(sh, e, a) }) }, nil
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

func (s *MemoryIdempotency) finish(sh *idemShard, e *idemEntry, a *StoredAnswer) {
	var size int64
	if a != nil {
		size = int64(len(e.key)+len(a.ContentType)+len(a.Body)) + idemEntryOverhead
	}
	sh.mu.Lock()
	// Twins already waiting get the answer either way; one too large for
	// the whole store is not kept for later retries.
	e.answer = a
	if a == nil || size > s.maxBytes {
		if sh.m[e.key] == e {
			delete(sh.m, e.key)
		}
	} else {
		e.expires, e.size, e.seq = s.now().Add(s.ttl), size, s.seq.Add(1)
		e.prev = sh.newest
		if sh.newest != nil {
			sh.newest.next = e
		} else {
			sh.oldest = e
		}
		sh.newest = e
		s.bytes.Add(size)
		s.entries.Add(1)
	}
	sh.mu.Unlock()
	close(e.done)
	s.evict(e)
}

// evict drops the oldest kept answers until the store is within its
// bounds, never keep (the answer just kept). Finding the oldest looks at
// each shard's oldest, one short lock at a time, and only when the store
// is full.
func (s *MemoryIdempotency) evict(keep *idemEntry) {
	for s.bytes.Load() > s.maxBytes || s.entries.Load() > s.maxEntries {
		var victim *idemEntry
		var in *idemShard
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			// An entry's seq is fixed before it is listed, so it may be read
			// after the lock is gone.
			if e := sh.oldest; e != nil && e != keep && (victim == nil || e.seq < victim.seq) {
				victim, in = e, sh
			}
			sh.mu.Unlock()
		}
		if victim == nil {
			return
		}
		in.mu.Lock()
		if in.oldest == victim { // else another finish took it; look again
			s.removeLocked(in, victim)
		}
		in.mu.Unlock()
	}
}

// dropExpiredLocked drops sh's expired answers: the oldest ones.
func (s *MemoryIdempotency) dropExpiredLocked(sh *idemShard, now time.Time) {
	for sh.oldest != nil && now.After(sh.oldest.expires) {
		s.removeLocked(sh, sh.oldest)
	}
}

// removeLocked drops a kept answer.
func (s *MemoryIdempotency) removeLocked(sh *idemShard, e *idemEntry) {
	if sh.m[e.key] == e {
		delete(sh.m, e.key)
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.oldest = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		sh.newest = e.prev
	}
	e.prev, e.next = nil, nil
	s.bytes.Add(-e.size)
	s.entries.Add(-1)
}
