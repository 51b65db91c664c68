package spool

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/oais/oais/internal/usage"
)

// fullRecord sets every field of usage.Record to a non-zero value by
// reflection, so that a field added to Record and forgotten in appendRecord
// shows up as a difference from encoding/json.
func fullRecord(t *testing.T) usage.Record {
	t.Helper()
	var r usage.Record
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(time.Date(2026, 2, 3, 4, 5, 6, 789, time.FixedZone("", -7*3600))))
		case f.Kind() == reflect.String:
			f.SetString("v-" + v.Type().Field(i).Name)
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.CanInt():
			f.SetInt(int64(1000 + i))
		default:
			t.Fatalf("usage.Record.%s has kind %s, which appendRecord does not encode", v.Type().Field(i).Name, f.Kind())
		}
	}
	return r
}

func TestAppendRecordMatchesMarshal(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  func(t *testing.T) usage.Record
	}{
		{name: "every field set", rec: fullRecord},
		{name: "zero record", rec: func(*testing.T) usage.Record { return usage.Record{} }},
		{name: "typical", rec: func(*testing.T) usage.Record { return testRecord(7) }},
		{name: "escapes", rec: func(*testing.T) usage.Record {
			return usage.Record{
				RequestID: "q\"uote\\back\nnl\r\t\b\f\x00\x1f",
				Model:     "<html>&amp;</html>",
				KeyID:     "line\u2028para\u2029end",
				ClientIP:  "bad\xffutf8\xc3",
				Endpoint:  "ünïcödé 😀",
				Time:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 5*3600+1800)),
			}
		}},
		{name: "negative numbers", rec: func(*testing.T) usage.Record {
			return usage.Record{PromptTokens: -1, CompletionTokens: -1 << 63, Status: -500, CachedTokens: 1<<63 - 1}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.rec(t)
			want, err := json.Marshal(&rec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendRecord(nil, &rec)
			if err != nil {
				t.Fatalf("appendRecord: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("appendRecord differs from json.Marshal\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestAppendRecordRefusesWhatMarshalRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		time time.Time
	}{
		{name: "year 10000", time: time.Date(10_000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "year -1", time: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "offset of a day", time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := usage.Record{Time: tc.time}
			if _, err := json.Marshal(&rec); err == nil {
				t.Fatalf("json.Marshal accepts %v; the case is wrong", tc.time)
			}
			if _, err := appendRecord(nil, &rec); !errors.Is(err, errBadTime) {
				t.Errorf("appendRecord: %v, want errBadTime", err)
			}
		})
	}
}

// FuzzAppendRecord holds appendRecord to json.Marshal on arbitrary strings,
// numbers and times.
func FuzzAppendRecord(f *testing.F) {
	f.Add("req-1", "gpt-4o", "203.0.113.7", int64(10), int64(1767225600), int64(0))
	f.Add("q\"\\\n\x00<>&\u2028", "\xff\xfe", "ü", int64(-1), int64(-62135596800), int64(-3600))
	f.Fuzz(func(t *testing.T, id, model, ip string, tokens, unix, offset int64) {
		rec := usage.Record{
			RequestID: id, Model: model, ClientIP: ip, EstimateReason: model, ErrorCode: ip,
			PromptTokens: tokens, CachedTokens: -tokens,
			Time: time.Unix(unix, tokens).In(time.FixedZone("", int(offset%(48*3600)))),
		}
		want, werr := json.Marshal(&rec)
		got, gerr := appendRecord(nil, &rec)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("json.Marshal error %v, appendRecord error %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("appendRecord differs from json.Marshal\n got: %s\nwant: %s", got, want)
		}
	})
}
