package gateway

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/oais/oais/gateway/tokens"
)

// checkScan fails if scanRequest accepts body but reads it differently
// from json.Unmarshal into apiRequest plus tokens.Estimate.
func checkScan(t *testing.T, body string) {
	t.Helper()
	if !json.Valid([]byte(body)) {
		return
	}
	var want apiRequest
	werr := json.Unmarshal([]byte(body), &want)
	var got apiRequest
	var prompt int64
	if !scanRequest([]byte(body), &got, true, &prompt) {
		return // falls back to encoding/json
	}
	if werr != nil {
		t.Fatalf("%s: scan accepted what Unmarshal refuses (%v)", body, werr)
	}
	if wp := int64(tokens.Estimate(want.Model, want.Messages)); wp != prompt {
		t.Fatalf("%s: prompt %d, want %d", body, prompt, wp)
	}
	want.Messages = nil
	if string(want.Prompt) == "" {
		want.Prompt = nil
	}
	if string(want.Input) == "" {
		want.Input = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", body, got, want)
	}
}

var scanSeeds = []string{
	chatBody,
	`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello world"}]}`,
	`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
	`{"model":"gpt-4o-mini","stream":true,"stream_options":null,"messages":null}`,
	`{"model":"gpt-4o-mini","stream_options":{"include_usage":false,"x":[1,{"a":"}"}]}}`,
	`{"model":"gpt-4o","max_tokens":12,"max_completion_tokens":null,"n":3,"messages":[{"role":"system","name":"bob","content":"a\nb \u00e9 \"q\""},{"role":"user","content":null}]}`,
	`{"Model":"x","messages":[]}`,
	`{"model":"x","model":"y"}`,
	`{"model":5}`,
	`{"model":"x","stream":"yes"}`,
	`{"model":"x","max_tokens":1.5}`,
	`{"model":"x","max_tokens":1e3}`,
	`{"model":"x","messages":"hi"}`,
	`{"model":"x","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
	`{"model":"x","messages":[{"role":"user","content":"hi","tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}]}`,
	`{"model":"x","messages":[{"ROLE":"user","content":"hi"}]}`,
	`{"model":"x","messages":[{"role":"user","content":"a","content":null}]}`,
	`{"model":"x","messages":[{}, {"role":"user","extra":{"content":"no"},"content":"yes"}]}`,
	`{"model":"x","messages":[null]}`,
	`{"model":"x","messages":[{"role":5}]}`,
	`{"model":"x","prompt":["a","b"],"input":null}`,
	`{"model":"caf\u00e9 \xff","messages":[{"role":"user","content":"\xff\xfe"}]}`,
	` { "model" : "x" , "stream" : false , "messages" : [ { "role" : "user" , "content" : "hi" } ] } `,
	`[]`, `null`, `{}`, `"x"`,
}

func TestScanRequestMatchesUnmarshal(t *testing.T) {
	tokens.Warm()
	for _, s := range scanSeeds {
		checkScan(t, s)
	}
	// The common shapes must take the fast path.
	for _, s := range scanSeeds[:6] {
		var q apiRequest
		var p int64
		if !scanRequest([]byte(s), &q, true, &p) {
			t.Errorf("%s: not scanned", s)
		}
	}
}

func FuzzScanRequest(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) { checkScan(t, body) })
}

// BenchmarkParseRequest compares the scan of a chat body with decoding it
// through encoding/json (the fallback, and the former only path).
func BenchmarkParseRequest(b *testing.B) {
	tokens.Warm()
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one word."}]}`)
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var q apiRequest
			var p int64
			if !json.Valid(body) || !scanRequest(body, &q, true, &p) {
				b.Fatal("not scanned")
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var q apiRequest
			if json.Unmarshal(body, &q) != nil {
				b.Fatal("bad")
			}
			_ = tokens.Estimate(q.Model, q.Messages)
		}
	})
}
