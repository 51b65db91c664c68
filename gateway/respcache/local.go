package respcache

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/oais/oais/gateway"
)

// localMaxShards bounds Local's lock striping; each shard is its own LRU
// with an equal share of the byte budget.
const localMaxShards = 16

// entryOverhead approximates the bytes an entry costs besides its key,
// body and content type (list element, map slot, header map).
const entryOverhead = 256

// Local is an in-process gateway.Cache: LRUs bounded by bytes, striped so
// concurrent requests rarely share a lock.
type Local struct {
	now    func() time.Time
	seed   maphash.Seed
	shards []localShard
}

type localShard struct {
	mu    sync.Mutex
	lru   *simplelru.LRU[string, *localEntry]
	bytes int64
	max   int64
}

type localEntry struct {
	e       gateway.StoredAnswer
	expires time.Time
	size    int64
}

// NewLocal returns a cache holding at most about maxBytes of entries.
func NewLocal(maxBytes int64) *Local {
	// Fewer shards for a small budget, so a shard's share still holds
	// several of the largest entries.
	n := localMaxShards
	for n > 1 && maxBytes/int64(n) < 4*MaxEntryBytes {
		n /= 2
	}
	c := &Local{now: time.Now, seed: maphash.MakeSeed(), shards: make([]localShard, n)}
	for i := range c.shards {
		s := &c.shards[i]
		s.max = maxBytes / int64(n)
		// Bytes bound the LRU, not its entry count.
		s.lru, _ = simplelru.NewLRU(math.MaxInt, func(_ string, le *localEntry) { s.bytes -= le.size })
	}
	return c
}

// Get implements gateway.Cache.
func (c *Local) Get(_ context.Context, key string) (gateway.StoredAnswer, bool, error) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	le, ok := s.lru.Get(key)
	if !ok {
		return gateway.StoredAnswer{}, false, nil
	}
	if !c.now().Before(le.expires) {
		s.lru.Remove(key)
		return gateway.StoredAnswer{}, false, nil
	}
	return le.e, true, nil
}

// Set implements gateway.Cache. It copies the body, so the caller may reuse its
// buffer.
func (c *Local) Set(_ context.Context, key string, e gateway.StoredAnswer, ttl time.Duration) error {
	if err := check(e, ttl); err != nil {
		return err
	}
	ct := e.ContentType
	e.Body = append([]byte(nil), e.Body...)
	le := &localEntry{
		e:       e,
		expires: c.now().Add(ttl),
		size:    int64(len(key)+len(e.Body)+len(ct)) + entryOverhead,
	}
	s := c.shard(key)
	if le.size > s.max {
		return ErrTooLarge
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lru.Remove(key) // its bytes leave through the eviction callback
	s.lru.Add(key, le)
	s.bytes += le.size
	for s.bytes > s.max {
		s.lru.RemoveOldest()
	}
	return nil
}

func (c *Local) shard(key string) *localShard {
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}
