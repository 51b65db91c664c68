package respcache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Cache shared by gateway replicas: one string per entry at
// prefix+key, expiring through SET's own TTL.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a cache on client whose keys all start with prefix.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Get implements Cache.
func (c *Redis) Get(ctx context.Context, key string) (Entry, bool, error) {
	b, err := c.client.Get(ctx, c.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("respcache: redis get: %w", err)
	}
	e, err := decode(b)
	if err != nil {
		return Entry{}, false, err
	}
	return e, true, nil
}

// Set implements Cache.
func (c *Redis) Set(ctx context.Context, key string, e Entry, ttl time.Duration) error {
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
func encode(e Entry) []byte {
	ct := contentType(e.Header)
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+len(ct)+len(e.Body))
	b = append(b, encodingVersion)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = binary.AppendUvarint(b, uint64(e.Usage.PromptTokens))
	b = binary.AppendUvarint(b, uint64(e.Usage.CompletionTokens))
	b = binary.AppendUvarint(b, uint64(len(ct)))
	b = append(b, ct...)
	return append(b, e.Body...)
}

func decode(b []byte) (Entry, error) {
	if len(b) == 0 || b[0] != encodingVersion {
		return Entry{}, ErrCorrupt
	}
	b = b[1:]
	var fields [4]uint64
	for i := range fields {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return Entry{}, ErrCorrupt
		}
		fields[i], b = v, b[n:]
	}
	ctLen := fields[3]
	if ctLen > uint64(len(b)) {
		return Entry{}, ErrCorrupt
	}
	return Entry{
		Status: int(fields[0]),
		Header: headerOf(string(b[:ctLen])),
		Body:   b[ctLen:],
		Usage:  Usage{PromptTokens: int64(fields[1]), CompletionTokens: int64(fields[2])},
	}, nil
}
