// Package respcache caches the gateway's non-streaming upstream answers
// per workspace, by exact match of the normalized request: in-process
// (Local, an LRU bounded by bytes) or shared through Redis (Redis).
//
// A cached answer is a gateway.StoredAnswer, replayed as is, usage
// included, so the gateway can meter a hit like the original call; it
// keeps only the Content-Type header, the one the answer's meaning
// depends on.
package respcache

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/oais/oais/gateway"
)

// MaxEntryBytes is the largest body cached; bigger answers are rare, and
// one would evict many small ones.
const MaxEntryBytes = 1 << 20

var (
	_ gateway.Cache = (*Local)(nil)
	_ gateway.Cache = (*Redis)(nil)
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

func check(e gateway.StoredAnswer, ttl time.Duration) error {
	if ttl <= 0 {
		return ErrBadTTL
	}
	if len(e.Body) > MaxEntryBytes {
		return ErrTooLarge
	}
	return nil
}
