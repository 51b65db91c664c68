package respcache

import (
	"context"
	"encoding/binary"
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
	e, err := decode(b)
	if err != nil {
		return gateway.StoredAnswer{}, false, err
	}
	return e, true, nil
}

// Set implements gateway.Cache.
func (c *Redis) Set(ctx context.Context, key string, e gateway.StoredAnswer, ttl time.Duration) error {
	if err := check(e, ttl); err != nil {
		return err
	}
	// go-redis sends EX for whole seconds and PX otherwise.
	if err := c.client.Set(ctx, c.prefix+key, encode(e), ttl).Err(); err != nil {
		return fmt.Errorf("respcache: redis set: %w", err)
	}
	return nil
}

// encodingVersion leads every stored value, so a format change reads old
// values as corrupt (a miss) rather than as garbage.
const encodingVersion = 1

// encode lays an entry out as: version byte, uvarint status, prompt and
// completion tokens, content-type length and bytes, then the raw body.
// Only lengths delimit fields, so any body bytes are safe.
func encode(e gateway.StoredAnswer) []byte {
	ct := e.ContentType
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+len(ct)+len(e.Body))
	b = append(b, encodingVersion)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = binary.AppendUvarint(b, uint64(e.PromptTokens))
	b = binary.AppendUvarint(b, uint64(e.CompletionTokens))
	b = binary.AppendUvarint(b, uint64(len(ct)))
	b = append(b, ct...)
	return append(b, e.Body...)
}

func decode(b []byte) (gateway.StoredAnswer, error) {
	if len(b) == 0 || b[0] != encodingVersion {
		return gateway.StoredAnswer{}, ErrCorrupt
	}
	b = b[1:]
	var fields [4]uint64
	for i := range fields {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return gateway.StoredAnswer{}, ErrCorrupt
		}
		fields[i], b = v, b[n:]
	}
	ctLen := fields[3]
	if ctLen > uint64(len(b)) {
		return gateway.StoredAnswer{}, ErrCorrupt
	}
	return gateway.StoredAnswer{
		Status:           int(fields[0]),
		ContentType:      string(b[:ctLen]),
		Body:             b[ctLen:],
		PromptTokens:     int64(fields[1]),
		CompletionTokens: int64(fields[2]),
	}, nil
}
