// Package respcache caches the gateway's non-streaming upstream answers
// per workspace, by exact match of the normalized request: in-process
// (Local, an LRU bounded by bytes) or shared through Redis (Redis).
//
// A cached answer is replayed as is, usage included, so the gateway can
// meter a hit like the original call; entries carry only the
// Content-Type header, the one the answer's meaning depends on.
package respcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxEntryBytes is the largest body cached; bigger answers are rare, and
// one would evict many small ones.
const MaxEntryBytes = 1 << 20

// Entry is one cached upstream answer. An Entry returned by Get may share
// memory with the cache: treat it as read-only.
type Entry struct {
	Status int
	// Header holds only Content-Type; Set drops every other header.
	Header http.Header
	Body   []byte
	Usage  Usage
}

// Usage is the token usage the upstream reported for the cached answer.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
}

// Cache stores answers by Key.
type Cache interface {
	// Get returns the entry under key; ok is false on a miss or expiry.
	Get(ctx context.Context, key string) (e Entry, ok bool, err error)
	// Set stores e under key for ttl (> 0). An entry whose body exceeds
	// MaxEntryBytes is not stored and yields ErrTooLarge, which callers may
	// ignore.
	Set(ctx context.Context, key string, e Entry, ttl time.Duration) error
}

var (
	_ Cache = (*Local)(nil)
	_ Cache = (*Redis)(nil)
)

// ErrTooLarge is returned by Set for an entry too big to cache.
var ErrTooLarge = errors.New("respcache: entry too large to cache")

// ErrBadTTL is returned by Set for a ttl <= 0: an answer cached forever
// would outlive model and price changes.
var ErrBadTTL = errors.New("respcache: ttl must be positive")

// ErrCorrupt is returned by Get for a stored value that does not decode.
var ErrCorrupt = errors.New("respcache: corrupt entry")

// ErrInvalidBody is returned by Normalize for a body that is not one JSON
// object.
var ErrInvalidBody = errors.New("respcache: request body is not a JSON object")

// keyVersion is hashed into every key; bump it when Normalize or the entry
// encoding changes meaning, so old entries are never read.
const keyVersion = "oais-respcache-v1"

// Key names the cache entry for a workspace's request to endpoint (e.g.
// "/v1/chat/completions") with a body already passed through Normalize.
// It is the hex SHA-256 of the three, length-prefixed so no two different
// triples collide by concatenation; the workspace in the hash keeps
// tenants' answers apart.
func Key(workspaceID, endpoint string, normalizedBody []byte) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write([]byte(keyVersion))
	for _, part := range [][]byte{[]byte(workspaceID), []byte(endpoint), normalizedBody} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Normalize canonicalizes a request body so equivalent requests share a
// key: object keys sorted at every level, no insignificant whitespace,
// numbers in one spelling (1.0 and 1 are the same; integers beyond 2^53
// keep their digits). At the top level it drops the fields that don't
// change the answer:
//
//   - "user": an end-user id for the provider's abuse monitoring;
//   - "stream_options": only shapes how a stream reports usage;
//   - "stream" when false: the same as leaving it out.
//
// Everything else, e.g. "temperature", "seed", "n", is kept.
func Normalize(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errors.Join(ErrInvalidBody, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrInvalidBody // trailing data after the object
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, ErrInvalidBody
	}
	delete(obj, "user")
	delete(obj, "stream_options")
	if s, ok := obj["stream"].(bool); ok && !s {
		delete(obj, "stream")
	}
	canonicalNumbers(obj)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// encoding/json writes map keys sorted and no whitespace.
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// canonicalNumbers rewrites every number in v to one spelling.
func canonicalNumbers(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if n, ok := x.(json.Number); ok {
				v[k] = canonicalNumber(n)
			} else {
				canonicalNumbers(x)
			}
		}
	case []any:
		for i, x := range v {
			if n, ok := x.(json.Number); ok {
				v[i] = canonicalNumber(n)
			} else {
				canonicalNumbers(x)
			}
		}
	}
}

func canonicalNumber(n json.Number) json.Number {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		return n // an integer literal is already canonical, at any size
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return n
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
}

// contentType is the one header an entry keeps.
func contentType(h http.Header) string { return h.Get("Content-Type") }

func headerOf(ct string) http.Header {
	if ct == "" {
		return http.Header{}
	}
	return http.Header{"Content-Type": {ct}}
}

func check(e Entry, ttl time.Duration) error {
	if ttl <= 0 {
		return ErrBadTTL
	}
	if len(e.Body) > MaxEntryBytes {
		return ErrTooLarge
	}
	return nil
}
