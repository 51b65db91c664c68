package spool

import (
	"bytes"
	"unicode/utf8"

	"github.com/oais/oais/internal/usage"
)

// decodeRecord reads into r a payload as appendRecord writes it, without
// encoding/json's reflection: the fields in appendRecord's order, strings
// without escapes, integers without exponents. It reports false for
// anything else (an escaped string, another field order, a spool written
// by another version) and the caller falls back to json.Unmarshal, so it
// only has to agree with json.Unmarshal on what it accepts:
// FuzzDecodeRecord holds it to that. Shipping decodes every record it
// sends, and json.Unmarshal was most of the spool's share of the
// gateway's CPU.
func decodeRecord(b []byte, r *usage.Record) bool {
	*r = usage.Record{}
	d := decoder{b: b}
	var source string
	ok := d.lit(`{"request_id":`) && d.str(&r.RequestID) &&
		d.lit(`,"workspace_id":`) && d.str(&r.WorkspaceID) &&
		d.lit(`,"key_id":`) && d.str(&r.KeyID) &&
		d.lit(`,"model":`) && d.str(&r.Model) &&
		d.lit(`,"endpoint":`) && d.str(&r.Endpoint)
	r.Stream = ok && d.lit(`,"stream":true`)
	ok = ok && d.lit(`,"prompt_tokens":`) && d.int(&r.PromptTokens) &&
		d.lit(`,"completion_tokens":`) && d.int(&r.CompletionTokens) &&
		(!d.lit(`,"cached_tokens":`) || d.int(&r.CachedTokens)) &&
		d.lit(`,"cost_micros":`) && d.int(&r.CostMicros)
	var status int64
	ok = ok && d.lit(`,"status":`) && d.int(&status) &&
		(!d.lit(`,"error_code":`) || d.str(&r.ErrorCode)) &&
		d.lit(`,"latency_ms":`) && d.int(&r.LatencyMillis)
	r.Status = int(status)
	r.CacheHit = ok && d.lit(`,"cache_hit":true`)
	ok = ok && d.lit(`,"source":`) && d.str(&source) &&
		(!d.lit(`,"estimate_reason":`) || d.str(&r.EstimateReason)) &&
		(!d.lit(`,"client_ip":`) || d.str(&r.ClientIP)) &&
		(!d.lit(`,"channel":`) || d.str(&r.Channel)) &&
		d.lit(`,"time":`)
	r.Source = usage.Source(source)
	if !ok {
		return false
	}
	raw, ok := d.quoted()
	if !ok || r.Time.UnmarshalText(raw) != nil {
		return false
	}
	return d.lit("}") && d.i == len(d.b)
}

type decoder struct {
	b []byte
	i int
}

// lit consumes s if the input continues with it.
func (d *decoder) lit(s string) bool {
	if !bytes.HasPrefix(d.b[d.i:], []byte(s)) {
		return false
	}
	d.i += len(s)
	return true
}

// quoted consumes a JSON string that needs no unescaping and returns its
// contents: no backslash, no control character, valid UTF-8.
func (d *decoder) quoted() ([]byte, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			s := d.b[start:j]
			if !utf8.Valid(s) {
				return nil, false
			}
			d.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

func (d *decoder) str(dst *string) bool {
	s, ok := d.quoted()
	if ok {
		*dst = string(s)
	}
	return ok
}

// int consumes an integer as JSON writes one (no leading zeros, no
// fraction or exponent) that fits an int64.
func (d *decoder) int(dst *int64) bool {
	j := d.i
	neg := j < len(d.b) && d.b[j] == '-'
	if neg {
		j++
	}
	start := j
	var u uint64
	for ; j < len(d.b) && '0' <= d.b[j] && d.b[j] <= '9'; j++ {
		if u > (1<<64-1)/10 {
			return false
		}
		u = u*10 + uint64(d.b[j]-'0')
		if u > 1<<63 {
			return false
		}
	}
	n := j - start
	if n == 0 || (n > 1 && d.b[start] == '0') || (!neg && u == 1<<63) {
		return false
	}
	if j < len(d.b) && (d.b[j] == '.' || d.b[j] == 'e' || d.b[j] == 'E') {
		return false
	}
	if neg {
		*dst = -int64(u-1) - 1 // -(1<<63) without overflow
	} else {
		*dst = int64(u)
	}
	d.i = j
	return true
}
