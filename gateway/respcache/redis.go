package respcache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oais/oais/gateway"
)

// Redis is a gateway.Cache shared by gateway replicas: one string per entry at
// prefix+key, expiring through SET's own TTL.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a cache on client whose keys all start with prefix.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Get implements gateway.Cache.
func (c *Redis) Get(ctx context.Context, key string) (gateway.StoredAnswer, bool, error) {
	b, err := c.client.Get(ctx, c.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return gateway.StoredAnswer{}, false, nil
	}
	if err != nil {
		return gateway.StoredAnswer{}, false, fmt.Errorf("respcache: redis get: %w", err)
	}
	e, err := gateway.DecodeStoredAnswer(b)
	if err != nil {
		return gateway.StoredAnswer{}, false, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return e, true, nil
}

// Set implements gateway.Cache.
func (c *Redis) Set(ctx context.Context, key string, e gateway.StoredAnswer, ttl time.Duration) error {
	if err := check(e, ttl); err != nil {
		return err
	}
	// go-redis sends EX for whole seconds and PX otherwise.
	if err := c.client.Set(ctx, c.prefix+key, e.AppendEncoded(make([]byte, 0, e.EncodedLen())), ttl).Err(); err != nil {
		return fmt.Errorf("respcache: redis set: %w", err)
	}
	return nil
}
