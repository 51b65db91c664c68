package spool

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/oais/oais/internal/usage"
)

// appendRecord appends the JSON encoding of r to b. The output is byte for byte
// what encoding/json.Marshal produces for a usage.Record (a test and a fuzz
// target hold it to that), so any JSON reader can decode a spool; it exists
// because Marshal allocates on every call and Append is on the request path.
// Keep it in step with the fields of usage.Record: TestAppendRecordMatchesMarshal
// fails when a field is added there and not here.
func appendRecord(b []byte, r *usage.Record) ([]byte, error) {
	b = append(b, `{"request_id":`...)
	b = appendString(b, r.RequestID)
	b = append(b, `,"workspace_id":`...)
	b = appendString(b, r.WorkspaceID)
	b = append(b, `,"key_id":`...)
	b = appendString(b, r.KeyID)
	b = append(b, `,"model":`...)
	b = appendString(b, r.Model)
	b = append(b, `,"endpoint":`...)
	b = appendString(b, r.Endpoint)
	if r.Stream {
		b = append(b, `,"stream":true`...)
	}
	b = append(b, `,"prompt_tokens":`...)
	b = strconv.AppendInt(b, r.PromptTokens, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, r.CompletionTokens, 10)
	if r.CachedTokens != 0 {
		b = append(b, `,"cached_tokens":`...)
		b = strconv.AppendInt(b, r.CachedTokens, 10)
	}
	b = append(b, `,"cost_micros":`...)
	b = strconv.AppendInt(b, r.CostMicros, 10)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	if r.ErrorCode != "" {
		b = append(b, `,"error_code":`...)
		b = appendString(b, r.ErrorCode)
	}
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendInt(b, r.LatencyMillis, 10)
	if r.CacheHit {
		b = append(b, `,"cache_hit":true`...)
	}
	b = append(b, `,"source":`...)
	b = appendString(b, string(r.Source))
	if r.EstimateReason != "" {
		b = append(b, `,"estimate_reason":`...)
		b = appendString(b, r.EstimateReason)
	}
	if r.ClientIP != "" {
		b = append(b, `,"client_ip":`...)
		b = appendString(b, r.ClientIP)
	}
	if r.Channel != "" {
		b = append(b, `,"channel":`...)
		b = appendString(b, r.Channel)
	}
	b = append(b, `,"time":"`...)
	var err error
	if b, err = appendTime(b, r.Time); err != nil {
		return b, err
	}
	b = append(b, `"}`...)
	return b, nil
}

var errBadTime = errors.New("time cannot be encoded as RFC 3339")

// appendTime mirrors time.Time.MarshalJSON, including its refusal of years
// outside [0,9999] and of zone offsets of a day or more, which RFC 3339 cannot
// express and which encoding/json could then not read back.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	n0 := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	if len(b)-n0 < len("2006-01-02T15:04:05Z") || b[n0+len("2006")] != '-' {
		return b, errBadTime
	}
	if b[len(b)-1] != 'Z' {
		c := b[len(b)-len("Z07:00")]
		h := 10*int(b[len(b)-len("07:00")]-'0') + int(b[len(b)-len("7:00")]-'0')
		if ('0' <= c && c <= '9') || h >= 24 {
			return b, errBadTime
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString is encoding/json's string encoder with HTML escaping, which is
// Marshal's default: invalid UTF-8 becomes U+FFFD and U+2028/U+2029 are escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
