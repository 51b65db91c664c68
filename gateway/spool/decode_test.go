package spool

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/oais/oais/internal/usage"
)

// sameRecord compares two records field by field, times by instant and
// offset (a decoded zone is a new *time.Location each time).
func sameRecord(a, b usage.Record) bool {
	_, oa := a.Time.Zone()
	_, ob := b.Time.Zone()
	if !a.Time.Equal(b.Time) || oa != ob {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// TestDecodeRecord: what appendRecord writes comes back whole through the
// fast path when its strings need no escapes, and through json.Unmarshal
// (decodeRecord declines) when they do.
func TestDecodeRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  usage.Record
		fast bool
	}{
		{"every field set", fullRecord(t), true},
		{"zero record", usage.Record{}, true},
		{"typical", testRecord(7), true},
		{"extremes", usage.Record{PromptTokens: -1 << 63, CompletionTokens: 1<<63 - 1, Status: -500, CachedTokens: -1,
			Model: "ünïcödé 😀", Time: time.Date(2026, 1, 1, 0, 0, 0, 1, time.FixedZone("", 5*3600+1800))}, true},
		{"escapes", usage.Record{RequestID: "q\"uote", Model: "<b>", KeyID: "a\u2028b", ClientIP: "bad\xff"}, false},
		{"refusal", usage.Record{RequestID: "r", Status: 429, ErrorCode: "rate_limit_exceeded", Source: usage.SourceNone,
			Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, true},
		{"escaped error code", usage.Record{ErrorCode: "a\"b"}, false},
		{"channel", usage.Record{RequestID: "c", Status: 200, Channel: "azure-east", Source: usage.SourceUpstream}, true},
		{"escaped channel", usage.Record{Channel: "a\\b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload, err := appendRecord(nil, &tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			var want, got usage.Record
			if err := json.Unmarshal(payload, &want); err != nil {
				t.Fatal(err)
			}
			if fast := decodeRecord(payload, &got); fast != tc.fast {
				t.Fatalf("decodeRecord took the payload: %v, want %v (%s)", fast, tc.fast, payload)
			}
			if tc.fast && !sameRecord(got, want) {
				t.Errorf("decodeRecord\n got: %+v\nwant: %+v", got, want)
			}
		})
	}
}

// FuzzDecodeRecord holds decodeRecord to json.Unmarshal: whatever it
// accepts, json.Unmarshal accepts too and reads the same record. Seeds are
// appendRecord's output, so the fuzzer mutates real payloads.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range []usage.Record{testRecord(1), {}, {Status: 403, ErrorCode: "model_not_allowed", Source: usage.SourceNone}, {Channel: "openai-1", ClientIP: "::1"}, {Stream: true, CacheHit: true, CachedTokens: 3, EstimateReason: "x", ClientIP: "::1",
		PromptTokens: -9, Time: time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("", -3600))}} {
		b, err := appendRecord(nil, &r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"request_id":"a","workspace_id":"b","key_id":"c","model":"d","endpoint":"e","prompt_tokens":01,"completion_tokens":0,"cost_micros":0,"status":0,"latency_ms":0,"source":"s","time":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want usage.Record
		if !decodeRecord(b, &got) {
			return
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("decodeRecord accepted what json.Unmarshal refuses (%v): %q", err, b)
		}
		if !sameRecord(got, want) {
			t.Fatalf("decodeRecord differs from json.Unmarshal on %q\n got: %+v\nwant: %+v", b, got, want)
		}
	})
}

func BenchmarkDecodeRecord(b *testing.B) {
	r := testRecord(7)
	payload, err := appendRecord(nil, &r)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		var got usage.Record
		for b.Loop() {
			if !decodeRecord(payload, &got) {
				b.Fatal("declined")
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var got usage.Record
			if err := json.Unmarshal(payload, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}
