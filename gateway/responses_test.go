package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/tokens"
	"github.com/oais/oais/internal/usage"
)

const responsesBody = `{"model":"gpt-4o-mini","instructions":"Be brief.","input":"Hello world"}`

// responsesPrompt is what the mock bills for responsesBody, and what the
// gateway estimates for it.
func responsesPrompt() int64 {
	return int64(tokens.EstimateInput("gpt-4o-mini", []byte(`"Hello world"`), []byte(`"Be brief."`)))
}

// streamPath opens a streamed request to path.
func (h *harness) streamPath(t *testing.T, ctx context.Context, who, path, body string, hdr map[string]string) (*http.Response, *sseReader) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", h.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.secrets[who])
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, &sseReader{bufio.NewReader(resp.Body)}
}

// TestResponsesMetered: /v1/responses is billed with the upstream's own
// counts (input_tokens, output_tokens, not the chat names), plain and
// streamed, and settles the TPM reservation with them.
func TestResponsesMetered(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	t.Run("plain", func(t *testing.T) {
		resp, body := h.do(t, "active", "POST", "/v1/responses", responsesBody, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var r struct {
			Object string
			Usage  struct{ InputTokens, OutputTokens int64 } `json:"usage"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil || r.Object != "response" {
			t.Fatalf("%v %s", err, body)
		}
		rec := h.rec.next(t)
		want := responsesPrompt()
		if rec.Source != usage.SourceUpstream || rec.Endpoint != "/v1/responses" || rec.Stream ||
			rec.PromptTokens != want || rec.CompletionTokens != mockupstream.DefaultWords ||
			rec.CostMicros != want+2*mockupstream.DefaultWords {
			t.Fatalf("record %+v, want prompt %d", rec, want)
		}
		if got := h.lim.value("ws:{ws_1}:tpm"); got != rec.TotalTokens() {
			t.Fatalf("tpm counter %d, want %d", got, rec.TotalTokens())
		}
	})
	t.Run("streamed", func(t *testing.T) {
		before := h.lim.value("ws:{ws_1}:tpm")
		body := `{"model":"gpt-4o-mini","instructions":"Be brief.","input":"Hello world","stream":true}`
		resp, sse := h.streamPath(t, context.Background(), "active", "/v1/responses", body, map[string]string{"X-Mock-Chunks": "5"})
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var text strings.Builder
		var types []string
		for {
			ev, ok := sse.next(t)
			if !ok {
				break
			}
			var e struct {
				Type  string `json:"type"`
				Delta string `json:"delta"`
			}
			if err := json.Unmarshal([]byte(ev), &e); err != nil {
				t.Fatalf("bad event %q", ev)
			}
			types = append(types, e.Type)
			if e.Type == "response.output_text.delta" {
				text.WriteString(e.Delta)
			}
		}
		// Relayed as the upstream sent it: every event, the usage one too.
		if text.String() != mockupstream.Answer(5) || types[len(types)-1] != "response.completed" {
			t.Fatalf("text %q events %v", text.String(), types)
		}
		rec := h.rec.next(t)
		if rec.Source != usage.SourceUpstream || !rec.Stream || rec.PromptTokens != responsesPrompt() || rec.CompletionTokens != 5 {
			t.Fatalf("record %+v", rec)
		}
		if got := h.lim.value("ws:{ws_1}:tpm") - before; got != rec.TotalTokens() {
			t.Fatalf("tpm counter grew %d, want %d", got, rec.TotalTokens())
		}
		// The body reached the upstream as sent: no stream_options.
		h.upMu.Lock()
		last := h.upstream[len(h.upstream)-1]
		h.upMu.Unlock()
		if last.URL.Path != "/v1/responses" {
			t.Fatalf("upstream path %q", last.URL.Path)
		}
	})
	t.Run("streamed without usage is estimated", func(t *testing.T) {
		body := `{"model":"gpt-4o-mini","input":"Hello world","stream":true}`
		_, sse := h.streamPath(t, context.Background(), "active", "/v1/responses", body, map[string]string{"X-Mock-No-Usage": "1", "X-Mock-Chunks": "4"})
		for {
			if _, ok := sse.next(t); !ok {
				break
			}
		}
		rec := h.rec.next(t)
		// The deltas are counted once: not again from the .done events
		// and the final response, which repeat the text.
		if rec.Source != usage.SourceEstimated || rec.EstimateReason != usage.ReasonNoUpstreamUsage || rec.CompletionTokens != 4 {
			t.Fatalf("record %+v", rec)
		}
	})
}

// TestResponsesStreamUsageOnlyFromFinalEvent: a hostile upstream that puts
// a small usage object on an early event and the real one on
// response.completed is billed the real one; one that puts usage on an
// event that is not final is not believed.
func TestResponsesStreamUsageOnlyFromFinalEvent(t *testing.T) {
	m := newSSEMeter(io.NopCloser(strings.NewReader(
		`event: response.created`+"\n"+`data: {"type":"response.created","response":{"usage":{"input_tokens":1,"output_tokens":1}}}`+"\n\n"+
			`event: response.output_text.delta`+"\n"+`data: {"type":"response.output_text.delta","delta":"Hi there"}`+"\n\n"+
			`event: response.output_text.done`+"\n"+`data: {"type":"response.output_text.done","text":"Hi there"}`+"\n\n")), false)
	m.responses = true
	for {
		if _, err := m.Read(make([]byte, 4096)); err != nil {
			break
		}
	}
	if r := m.result(); r.hasUsage || string(r.text) != "Hi there" {
		t.Fatalf("usage believed from a non-final event, or text miscounted: %+v", r)
	}
	m = newSSEMeter(io.NopCloser(strings.NewReader(
		`data: {"type":"response.incomplete","response":{"status":"incomplete","usage":{"input_tokens":7,"input_tokens_details":{"cached_tokens":3},"output_tokens":9}}}`+"\n\n")), false)
	m.responses = true
	for {
		if _, err := m.Read(make([]byte, 4096)); err != nil {
			break
		}
	}
	if r := m.result(); !r.hasUsage || r.usage.PromptTokens != 7 || r.usage.CompletionTokens != 9 || r.usage.cached() != 3 {
		t.Fatalf("usage of response.incomplete: %+v", r)
	}
}

// TestResponsesLimits: reservations count the instructions and the input,
// and max_output_tokens: a prompt hidden in instructions is still counted.
func TestResponsesLimits(t *testing.T) {
	long := strings.Repeat("word ", 1500)
	tests := []struct {
		name, body string
		status     int
	}{
		{"small", `{"model":"gpt-4o-mini","input":"hi","max_output_tokens":300}`, 200},
		{"max_output_tokens over the TPM", `{"model":"gpt-4o-mini","input":"hi","max_output_tokens":2000}`, 429},
		{"default output over the TPM", `{"model":"gpt-4o-mini","input":"hi"}`, 429},
		{"long instructions", `{"model":"gpt-4o-mini","instructions":"` + long + `","input":"hi","max_output_tokens":10}`, 429},
		{"long input items", `{"model":"gpt-4o-mini","input":[{"role":"user","content":[{"type":"input_text","text":"` + long + `"}]}],"max_output_tokens":10}`, 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{extra: limitPrincipals()})
			resp, raw := h.do(t, "tpm1000", "POST", "/v1/responses", tt.body, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, raw)
			}
			if tt.status == 429 && (decodeErr(t, raw).Error.Code != "rate_limit_exceeded" || h.upstreamCalls() != 0) {
				t.Fatalf("%s, %d upstream calls", raw, h.upstreamCalls())
			}
		})
	}
}

// TestResponsesCacheHit: a plain /v1/responses answer is cached like a
// chat completion; a streamed one is not.
func TestResponsesCacheHit(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r1, b1 := h.do(t, "cache", "POST", "/v1/responses", responsesBody, nil)
	first := h.rec.next(t)
	r2, b2 := h.do(t, "cache", "POST", "/v1/responses", responsesBody, nil)
	if r1.StatusCode != 200 || r2.StatusCode != 200 || b1 != b2 || r2.Header.Get("X-Oais-Cache") != "hit" {
		t.Fatalf("%d %d cache=%q", r1.StatusCode, r2.StatusCode, r2.Header.Get("X-Oais-Cache"))
	}
	rec := h.rec.next(t)
	if !rec.CacheHit || rec.Source != usage.SourceCache || rec.PromptTokens != first.PromptTokens || rec.CompletionTokens != first.CompletionTokens || rec.Endpoint != "/v1/responses" {
		t.Fatalf("record %+v", rec)
	}
	// The same body on chat completions is another cache entry.
	if r, _ := h.do(t, "cache", "POST", "/v1/chat/completions", chatBody, nil); r.Header.Get("X-Oais-Cache") != "" {
		t.Fatal("a chat request hit the responses cache")
	}
	h.rec.next(t)
	stream := `{"model":"gpt-4o-mini","input":"Hello world","stream":true}`
	for i := 0; i < 2; i++ {
		resp, sse := h.streamPath(t, context.Background(), "cache", "/v1/responses", stream, nil)
		for {
			if _, ok := sse.next(t); !ok {
				break
			}
		}
		if resp.Header.Get("X-Oais-Cache") != "" {
			t.Fatal("a stream was served from the cache")
		}
		h.rec.next(t)
	}
	if h.upstreamCalls() != 4 {
		t.Fatalf("%d upstream calls, want 4", h.upstreamCalls())
	}
}

// TestResponsesModelAllowList: the key's and the workspace's model lists
// apply to /v1/responses, before anything reaches the upstream.
func TestResponsesModelAllowList(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, tt := range []struct{ who, model string }{{"models", "gpt-4o"}, {"wsmodels", "gpt-4o-mini"}} {
		t.Run(tt.who, func(t *testing.T) {
			resp, raw := h.do(t, tt.who, "POST", "/v1/responses", `{"model":"`+tt.model+`","input":"hi"}`, nil)
			if resp.StatusCode != 403 || decodeErr(t, raw).Error.Code != "model_not_allowed" {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
		})
	}
	if h.upstreamCalls() != 0 {
		t.Fatalf("%d upstream calls", h.upstreamCalls())
	}
	if resp, raw := h.do(t, "models", "POST", "/v1/responses", `{"model":"gpt-4o-mini","input":"hi"}`, nil); resp.StatusCode != 200 {
		t.Fatalf("allowed model: %d %s", resp.StatusCode, raw)
	}
}

// TestResponsesClientDisconnect: a client that leaves mid-stream is billed
// the prompt and the deltas it was sent, as an estimate.
func TestResponsesClientDisconnect(t *testing.T) {
	step := make(chan struct{})
	h := newHarness(t, harnessOpts{mock: mockupstream.Options{BeforeChunk: func(ctx context.Context, i int) error {
		select {
		case <-step:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, sse := h.streamPath(t, ctx, "active", "/v1/responses", `{"model":"gpt-4o-mini","input":"Hello world","stream":true}`,
		map[string]string{"X-Mock-Chunks": "10"})
	for i := 0; i < 4; i++ { // created, in_progress, output_item.added, content_part.added
		if _, ok := sse.next(t); !ok {
			t.Fatal("stream ended early")
		}
	}
	for i := 0; i < 3; i++ {
		send(t, step, struct{}{}, fmt.Sprintf("the mock upstream to send delta %d", i))
		if ev, ok := sse.next(t); !ok || !strings.Contains(ev, "response.output_text.delta") {
			t.Fatalf("event %q", ev)
		}
	}
	cancel()
	rec := h.rec.next(t)
	if rec.Source != usage.SourceEstimated || rec.EstimateReason != usage.ReasonClientDisconnected ||
		rec.CompletionTokens < 3 || rec.PromptTokens != int64(tokens.EstimateInput("gpt-4o-mini", []byte(`"Hello world"`), nil)) || rec.CostMicros <= 0 {
		t.Fatalf("record %+v", rec)
	}
}

// FuzzResponsesSSERelay streams arbitrary upstream bytes on /v1/responses:
// the client gets them byte for byte (nothing is hidden, nothing injected
// into the request), the gateway never panics, and the request is metered
// exactly once.
func FuzzResponsesSSERelay(f *testing.F) {
	for _, s := range []string{
		"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n" +
			"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
		"data: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":1e400}}}\n\n",
		"data: {\"type\":\"response.failed\",\"response\":{\"usage\":[]}}\r\n\r\n",
		"data: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\ndata: [DONE]\n\n",
		"data: {\"type\":\"response.output_text.delta\",\"delta\":\"no blank line",
		"",
	} {
		f.Add([]byte(s))
	}
	rig := newSSERig(f)
	f.Fuzz(func(t *testing.T, stream []byte) {
		rig.mu.Lock()
		rig.stream = stream
		rig.mu.Unlock()
		before := rig.rec.n.Load()
		req, _ := http.NewRequest(http.MethodPost, rig.srv.URL+"/v1/responses",
			strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"input":"hi"}`))
		req.Header.Set("Authorization", "Bearer "+rig.secret)
		resp, err := rig.srv.Client().Do(req)
		if err != nil {
			t.Fatalf("transport error: %v", err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("stream cut: %v", err)
		}
		if resp.StatusCode != http.StatusOK || rig.askedFor.Load() {
			t.Fatalf("status %d, stream_options injected: %v", resp.StatusCode, rig.askedFor.Load())
		}
		if string(got) != string(stream) {
			t.Fatalf("client got %q, upstream sent %q", got, stream)
		}
		// The relay copies the upstream's Content-Length, so the client
		// may have it all before the handler has recorded the usage.
		waitFor(t, "the stream's usage record", func() bool { return rig.rec.n.Load() > before })
		if n := rig.rec.n.Load() - before; n != 1 {
			t.Fatalf("%d usage records for one stream", n)
		}
	})
}

// TestResponsesBackgroundRefused: the attack was `"background": true` on
// /v1/responses. The upstream answers at once with the response queued and
// "usage": null, generates afterwards on the operator's account, and the
// client collects the output later (GET /v1/responses/{id} elsewhere, or
// previous_response_id here): the gateway billed its prompt estimate and
// nothing of the generation, so one field switched metering off. Such a
// request is refused before it reaches the upstream, whatever the shape of
// the body (the scanned one, or one encoding/json decodes).
func TestResponsesBackgroundRefused(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, body := range []string{
		`{"model":"gpt-4o-mini","input":"Hello world","background":true}`,
		`{"model":"gpt-4o-mini","input":"Hello world","stream":true,"background":true}`,
		`{"model":"gpt-4o-mini","background":false,"input":"Hello world","background":true}`,
		// An escaped key goes to encoding/json, and is background to the
		// upstream too: still refused.
		`{"model":"gpt-4o-mini","input":"Hello world","back\u0067round":true}`,
	} {
		resp, raw := h.do(t, "active", "POST", "/v1/responses", body, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(decodeErr(t, raw).Error.Message, "background") {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, raw)
		}
		if rec := h.rec.next(t); rec.Status != http.StatusBadRequest || rec.CostMicros != 0 {
			t.Fatalf("record %+v", rec)
		}
	}
	if n := h.upstreamCalls(); n != 0 {
		t.Fatalf("%d upstream calls, want none", n)
	}
	// background false (or absent) is an ordinary, metered request.
	resp, raw := h.do(t, "active", "POST", "/v1/responses", `{"model":"gpt-4o-mini","input":"Hello world","background":false}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	if rec := h.rec.next(t); rec.Source != usage.SourceUpstream {
		t.Fatalf("record %+v", rec)
	}
}

// TestResponsesUsageIsTopLevel: the attack was a usage object of the
// client's own inside a /v1/responses answer. The answer echoes the
// request's tools (their parameter schemas), text.format's schema and,
// after the usage, its metadata (16 pairs of up to 64 and 512 characters,
// more than the meter's 8 KiB tail window once escaped): a schema with
// "usage":{"input_tokens":1,"output_tokens":1} and a full metadata pushed
// the real usage out of the tail (a long tool description out of the
// head) and had the head's fake billed. Only the
// answer's top-level usage counts, whatever the size of what follows it.
func TestResponsesUsageIsTopLevel(t *testing.T) {
	fake := `{"input_tokens":1,"output_tokens":1,"input_tokens_details":{"cached_tokens":0}}`
	var meta strings.Builder
	for i := range 16 {
		if i > 0 {
			meta.WriteByte(',')
		}
		fmt.Fprintf(&meta, `"k%02d%s":"%s"`, i, strings.Repeat("k", 61), strings.Repeat(`\u0001`, 512))
	}
	body := `{"id":"resp_1","object":"response","status":"completed","instructions":"say \"usage\":{}",` +
		`"output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],` +
		`"text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object","usage":` + fake + `}}},` +
		`"tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":{"usage":` + fake + `}}},` +
		// A long description puts the real usage past the head window.
		`{"type":"function","name":"g","description":"` + strings.Repeat("x", 2*metaWindow) + `"}],` +
		`"usage":{"input_tokens":5000,"input_tokens_details":{"cached_tokens":100},"output_tokens":3000,"output_tokens_details":{"reasoning_tokens":2500},"total_tokens":8000},` +
		`"user":null,"metadata":{` + meta.String() + `}}`
	if !json.Valid([]byte(body)) {
		t.Fatal("the test's answer is not JSON")
	}
	check := func(t *testing.T, r *meterResult) {
		t.Helper()
		if !r.hasUsage || r.usage.PromptTokens != 5000 || r.usage.CompletionTokens != 3000 || r.usage.cached() != 100 {
			t.Fatalf("usage %+v (found %v), want the top-level 5000/3000", r.usage, r.hasUsage)
		}
	}
	t.Run("relayed", func(t *testing.T) {
		m := jsonMeter{src: io.NopCloser(iotest.HalfReader(strings.NewReader(body))), names: &responsesUsage}
		out, err := io.ReadAll(&m)
		if err != nil || string(out) != body {
			t.Fatalf("relay changed the body: %v", err)
		}
		check(t, m.result())
	})
	t.Run("read whole", func(t *testing.T) {
		m := jsonMeter{names: &responsesUsage}
		m.whole([]byte(body))
		check(t, m.result())
	})
	t.Run("one byte at a time", func(t *testing.T) {
		m := jsonMeter{src: io.NopCloser(iotest.OneByteReader(strings.NewReader(body))), names: &responsesUsage}
		_, _ = io.ReadAll(&m)
		check(t, m.result())
	})
	t.Run("no top-level usage is none", func(t *testing.T) {
		noUsage := strings.Replace(body, `"usage":{"input_tokens":5000`, `"usage_":{"input_tokens":5000`, 1)
		m := jsonMeter{src: io.NopCloser(strings.NewReader(noUsage)), names: &responsesUsage}
		_, _ = io.ReadAll(&m)
		if m.result().hasUsage {
			t.Fatalf("usage %+v found in an answer without one", m.result().usage)
		}
	})
}
