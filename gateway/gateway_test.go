package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/ratelimit"
	"github.com/oais/oais/gateway/tokens"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/usage"
)

func TestWireError(t *testing.T) {
	denied := &ratelimit.Denied{RetryAfter: 1500 * time.Millisecond}
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		typ    string
	}{
		{"missing or unknown key", ErrInvalidKey, 401, "invalid_api_key", "invalid_request_error"},
		{"malformed key", keys.ErrMalformed, 401, "invalid_api_key", "invalid_request_error"},
		{"key in url", ErrKeyInURL, 401, "invalid_api_key", "invalid_request_error"},
		{"revoked", keys.ErrRevoked, 401, "api_key_revoked", "invalid_request_error"},
		{"expired", keys.ErrExpired, 401, "api_key_expired", "invalid_request_error"},
		{"disabled", keys.ErrDisabled, 401, "api_key_disabled", "invalid_request_error"},
		{"max requests from state", keys.ErrRequestLimit, 429, "key_request_limit_reached", "requests"},
		{"max requests from limiter", &limitError{scopeKeyRequests, &ratelimit.Denied{}}, 429, "key_request_limit_reached", "requests"},
		{"workspace rpm", &limitError{scopeWorkspaceRPM, denied}, 429, "rate_limit_exceeded", "requests"},
		{"workspace tpm", &limitError{scopeWorkspaceTPM, denied}, 429, "rate_limit_exceeded", "tokens"},
		{"key rpm", &limitError{scopeKeyRPM, denied}, 429, "rate_limit_exceeded", "requests"},
		{"key tpm", &limitError{scopeKeyTPM, denied}, 429, "rate_limit_exceeded", "tokens"},
		{"token quota", &limitError{scopeWorkspaceTokens, &ratelimit.Denied{}}, 429, "insufficient_quota", "insufficient_quota"},
		{"spend cap", &limitError{scopeWorkspaceSpend, &ratelimit.Denied{}}, 429, "insufficient_quota", "insufficient_quota"},
		{"model", ErrModelNotAllowed, 403, "model_not_allowed", "invalid_request_error"},
		{"model without a price", &ModelNotPricedError{Model: "llama-3"}, 400, "model_not_priced", "invalid_request_error"},
		{"model without a price, long name", &ModelNotPricedError{Model: strings.Repeat("é", 300)}, 400, "model_not_priced", "invalid_request_error"},
		{"ip", ErrIPNotAllowed, 403, "ip_not_allowed", "invalid_request_error"},
		{"suspended", ErrWorkspaceSuspended, 403, "workspace_suspended", "invalid_request_error"},
		{"inactive", ErrWorkspaceInactive, 403, "workspace_inactive", "invalid_request_error"},
		{"key credit quota", &limitError{scopeKeyCredit, &ratelimit.Denied{}}, 429, "insufficient_quota", "insufficient_quota"},
		{"malformed json", ErrBadRequest, 400, "invalid_request_error", "invalid_request_error"},
		{"missing model", ErrMissingModel, 400, "invalid_request_error", "invalid_request_error"},
		{"too large", ErrTooLarge, 413, "request_too_large", "invalid_request_error"},
		{"slow body", ErrBodyTimeout, 408, "request_timeout", "invalid_request_error"},
		{"upstream down", ErrUpstreamDown, 502, "upstream_unavailable", "server_error"},
		{"workspace upstream address not allowed", ErrUpstreamForbidden, 502, "upstream_unavailable", "server_error"},
		{"upstream timeout", ErrUpstreamTimeout, 504, "upstream_timeout", "server_error"},
		{"unknown route", ErrNotFound, 404, "unknown_url", "invalid_request_error"},
		{"wrong method", ErrMethodNotAllowed, 405, "method_not_allowed", "invalid_request_error"},
		{"idempotency reused", ErrIdempotencyReused, 422, "idempotency_key_reused", "invalid_request_error"},
		{"idempotency busy", ErrIdempotencyBusy, 409, "idempotency_key_in_use", "invalid_request_error"},
		{"unavailable", ErrUnavailable, 503, "service_unavailable", "server_error"},
		{"wrapped", fmt.Errorf("ctx: %w", ErrTooLarge), 413, "request_too_large", "invalid_request_error"},
		{"unknown error hides its cause", errors.New("db password is hunter2"), 500, "internal_error", "server_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := wireError(tt.err)
			if e.status != tt.status || e.code != tt.code || e.typ != tt.typ {
				t.Fatalf("wireError = %d %s %s, want %d %s %s", e.status, e.code, e.typ, tt.status, tt.code, tt.typ)
			}
			if strings.Contains(e.message, "hunter2") {
				t.Fatal("internal detail leaked")
			}
			var body struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    string  `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(e.appendBody(nil), &body); err != nil {
				t.Fatal(err)
			}
			if body.Error.Code != tt.code || body.Error.Param != nil || body.Error.Message == "" {
				t.Fatalf("body = %+v", body)
			}
			if tt.code == "invalid_api_key" && body.Error.Message != "Invalid authentication token" {
				t.Fatalf("message %q", body.Error.Message)
			}
			if tt.code == "rate_limit_exceeded" && e.retryAfter <= 0 {
				t.Fatal("no Retry-After for a windowed limit")
			}
		})
	}
}

type errBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    string  `json:"code"`
	} `json:"error"`
}

func decodeErr(t *testing.T, body string) errBody {
	t.Helper()
	var e errBody
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an OpenAI error: %q", body)
	}
	return e
}

// TestContractErrors drives every CONTRACT §3 refusal through the real
// handler. A refusal of a known key leaves one usage record with its error
// code and no usage; the others (no key, a malformed or unknown one, an
// unknown route, a method checked before the key) leave none and are
// counted in oais_gateway_unattributed_refusals_total.
func TestContractErrors(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: Config{MaxBodyBytes: 4096}})
	chat := "/v1/chat/completions"
	tests := []struct {
		name       string
		who        string
		auth       string // raw Authorization header, overrides who
		method     string
		path       string
		body       string
		hdr        map[string]string
		status     int
		code       string
		retryAfter bool
	}{
		{name: "no key", method: "POST", path: chat, body: chatBody, status: 401, code: "invalid_api_key"},
		{name: "malformed key", auth: "Bearer sk-oais-nope", method: "POST", path: chat, body: chatBody, status: 401, code: "invalid_api_key"},
		{name: "basic auth", auth: "Basic Zm9vOmJhcg==", method: "POST", path: chat, body: chatBody, status: 401, code: "invalid_api_key"},
		{name: "unknown key", auth: "Bearer " + mustSecret(t), method: "POST", path: chat, body: chatBody, status: 401, code: "invalid_api_key"},
		{name: "key in query", method: "POST", path: chat + "?api_key=" + h.secrets["active"], body: chatBody, status: 401, code: "invalid_api_key"},
		{name: "key in query with header too", who: "active", method: "POST", path: chat + "?key=" + h.secrets["active"], body: chatBody, status: 401, code: "invalid_api_key"},
		{name: "revoked", who: "revoked", method: "POST", path: chat, body: chatBody, status: 401, code: "api_key_revoked"},
		{name: "expired", who: "expired", method: "POST", path: chat, body: chatBody, status: 401, code: "api_key_expired"},
		{name: "disabled", who: "disabled", method: "POST", path: chat, body: chatBody, status: 401, code: "api_key_disabled"},
		{name: "max requests reached", who: "spent", method: "POST", path: chat, body: chatBody, status: 429, code: "key_request_limit_reached"},
		{name: "suspended", who: "suspended", method: "POST", path: chat, body: chatBody, status: 403, code: "workspace_suspended"},
		{name: "ip not allowed", who: "ip", method: "POST", path: chat, body: chatBody, status: 403, code: "ip_not_allowed"},
		{name: "model not allowed", who: "models", method: "POST", path: chat, body: `{"model":"gpt-4o","messages":[]}`, status: 403, code: "model_not_allowed"},
		{name: "model not in workspace", who: "wsmodels", method: "POST", path: chat, body: chatBody, status: 403, code: "model_not_allowed"},
		{name: "malformed json", who: "active", method: "POST", path: chat, body: `{"model":`, status: 400, code: "invalid_request_error"},
		{name: "missing model", who: "active", method: "POST", path: chat, body: `{"messages":[]}`, status: 400, code: "invalid_request_error"},
		{name: "body too large", who: "active", method: "POST", path: chat, body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("a", 5000) + `"}]}`, status: 413, code: "request_too_large"},
		{name: "token quota", who: "quota", method: "POST", path: chat, body: chatBody, status: 429, code: "insufficient_quota"},
		{name: "spend cap", who: "spend", method: "POST", path: chat, body: chatBody, status: 429, code: "insufficient_quota"},
		{name: "workspace tpm", who: "tpm", method: "POST", path: chat, body: chatBody, status: 429, code: "rate_limit_exceeded", retryAfter: true},
		{name: "unknown v1 route", who: "active", method: "POST", path: "/v1/files", body: chatBody, status: 404, code: "unknown_url"},
		{name: "unknown route unauthenticated", method: "GET", path: "/v1/assistants", status: 404, code: "unknown_url"},
		{name: "wrong method", who: "active", method: "GET", path: chat, status: 405, code: "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			if tt.auth != "" {
				hdr["Authorization"] = tt.auth
			}
			calls := h.upstreamCalls()
			recs := h.rec.count()
			resp, body := h.do(t, tt.who, tt.method, tt.path, tt.body, hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if e := decodeErr(t, body); e.Error.Code != tt.code || e.Error.Param != nil {
				t.Fatalf("error %+v, want code %s", e.Error, tt.code)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Fatal("no x-request-id")
			}
			if got := resp.Header.Get("Retry-After") != ""; got != tt.retryAfter {
				t.Fatalf("Retry-After present = %v, want %v", got, tt.retryAfter)
			}
			if h.upstreamCalls() != calls {
				t.Fatal("a refused request reached the upstream")
			}
			// A known key refused with 401 is recorded too (the first time
			// in a minute: TestAuthFailuresRecordedOncePerMinute).
			knownKey := tt.who == "revoked" || tt.who == "expired" || tt.who == "disabled"
			attributed := tt.who != "" && tt.auth == "" && (tt.status != 401 || knownKey) && tt.status != 404 && tt.status != 405
			switch n := h.rec.count() - recs; {
			case attributed && n == 1:
				h.rec.mu.Lock()
				rec := h.rec.recs[len(h.rec.recs)-1]
				h.rec.mu.Unlock()
				checkErrorRecord(t, rec, tt.status, tt.code)
			case attributed:
				t.Fatalf("%d usage records, want 1 error record", n)
			case n != 0:
				t.Fatalf("a refusal without a usable key made %d usage records", n)
			}
		})
	}
	if errs, answered := h.rec.errorRecords(); answered != 0 || len(errs) != 14 {
		t.Fatalf("refusals made %d answered and %d error records, want 0 and 14", answered, len(errs))
	}
	// no key, malformed, Basic, unknown, key in the query twice
	_, metrics := h.do(t, "", "GET", "/metrics", "", nil)
	for _, line := range []string{
		`oais_gateway_unattributed_refusals_total{code="invalid_api_key"} 6`,
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

func mustSecret(t *testing.T) string {
	t.Helper()
	s, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return s.Reveal()
}

func TestChatAndLimitHeaders(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	resp, body := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, map[string]string{"X-Request-Id": "client-42"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for k, want := range map[string]string{
		"X-Request-Id":                   "client-42",
		"X-Ratelimit-Limit-Requests":     "1000",
		"X-Ratelimit-Remaining-Requests": "999",
		"X-Ratelimit-Reset-Requests":     "1m0s",
		"X-Ratelimit-Limit-Tokens":       "1000000",
		"X-Ratelimit-Reset-Tokens":       "1m0s",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := resp.Header.Values("X-Request-Id"); len(got) != 1 {
		t.Errorf("x-request-id values %q", got)
	}
	rec := h.rec.next(t)
	wantPrompt := int64(tokens.EstimateJSON("gpt-4o-mini", []byte(`[{"role":"user","content":"Hello world"}]`)))
	if rec.Source != usage.SourceUpstream || rec.PromptTokens != wantPrompt || rec.CompletionTokens != mockupstream.DefaultWords ||
		rec.CostMicros != wantPrompt+2*mockupstream.DefaultWords || rec.KeyID != "key_active" || rec.WorkspaceID != "ws_1" ||
		rec.Endpoint != "/v1/chat/completions" || rec.Status != 200 || rec.RequestID == "client-42" || rec.RequestID == "" {
		t.Fatalf("record %+v", rec)
	}
	// Settled with the real tokens, not the estimate.
	if got := h.lim.value("ws:{ws_1}:tpm"); got != rec.TotalTokens() {
		t.Fatalf("tpm counter %d, want %d", got, rec.TotalTokens())
	}
	// The upstream saw the upstream key, never the client's.
	h.upMu.Lock()
	auth := h.upstream[0].Header.Get("Authorization")
	h.upMu.Unlock()
	if auth != "Bearer "+upstreamKey {
		t.Fatalf("upstream Authorization %q", auth)
	}

	t.Run("rate limited carries headers", func(t *testing.T) {
		r1, _ := h.do(t, "rpm1", "POST", "/v1/chat/completions", chatBody, nil)
		if r1.StatusCode != 200 {
			t.Fatalf("first: %d", r1.StatusCode)
		}
		h.rec.next(t)
		r2, body := h.do(t, "rpm1", "POST", "/v1/chat/completions", chatBody, nil)
		if r2.StatusCode != 429 || decodeErr(t, body).Error.Code != "rate_limit_exceeded" {
			t.Fatalf("second: %d %s", r2.StatusCode, body)
		}
		if r2.Header.Get("Retry-After") != "2" || r2.Header.Get("X-Ratelimit-Remaining-Requests") != "0" || r2.Header.Get("X-Ratelimit-Limit-Requests") != "1" {
			t.Fatalf("headers %v", r2.Header)
		}
	})
	t.Run("key rpm", func(t *testing.T) {
		h.do(t, "keyrpm", "POST", "/v1/chat/completions", chatBody, nil)
		h.rec.next(t)
		r, body := h.do(t, "keyrpm", "POST", "/v1/chat/completions", chatBody, nil)
		if r.StatusCode != 429 || decodeErr(t, body).Error.Code != "rate_limit_exceeded" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%d %s", r.StatusCode, body)
		}
	})
	t.Run("max requests counted by the limiter", func(t *testing.T) {
		r, _ := h.do(t, "budget", "POST", "/v1/chat/completions", chatBody, nil)
		if r.StatusCode != 200 {
			t.Fatalf("first: %d", r.StatusCode)
		}
		h.rec.next(t)
		r, body := h.do(t, "budget", "POST", "/v1/chat/completions", chatBody, nil)
		if r.StatusCode != 429 || decodeErr(t, body).Error.Code != "key_request_limit_reached" {
			t.Fatalf("second: %d %s", r.StatusCode, body)
		}
	})
}

func TestOtherEndpoints(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tests := []struct {
		name, path, body string
		wantPrompt       int64
		wantCompletion   int64
	}{
		{"completions", "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"Hello world"}`, 2, mockupstream.DefaultWords},
		{"embeddings", "/v1/embeddings", `{"model":"text-embedding-3-small","input":"Hello world"}`, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do(t, "active", "POST", tt.path, tt.body, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			rec := h.rec.next(t)
			if rec.PromptTokens != tt.wantPrompt || rec.CompletionTokens != tt.wantCompletion || rec.Endpoint != tt.path {
				t.Fatalf("record %+v", rec)
			}
		})
	}
}

// sseReader reads SSE events one at a time.
type sseReader struct{ r *bufio.Reader }

func (s *sseReader) next(t *testing.T) (string, bool) {
	t.Helper()
	var data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", false
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if data != "" {
				return data, true
			}
			continue
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			data = d
		}
	}
}

func (h *harness) stream(t *testing.T, ctx context.Context, who, body string, hdr map[string]string) (*http.Response, *sseReader) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", h.srv.URL+"/v1/chat/completions", strings.NewReader(body))
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

func TestStreamPassthroughEventByEvent(t *testing.T) {
	step := make(chan struct{})
	h := newHarness(t, harnessOpts{mock: mockupstream.Options{BeforeChunk: func(ctx context.Context, _ int) error {
		select {
		case <-step:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}})
	resp, sse := h.stream(t, context.Background(), "active", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"X-Mock-Chunks": "3"})
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if ev, ok := sse.next(t); !ok || !strings.Contains(ev, `"role":"assistant"`) {
		t.Fatalf("first event %q", ev)
	}
	for i := 0; i < 3; i++ {
		// Chunk i is produced only after this send, and must arrive
		// before chunk i+1 may be produced: nothing is buffered.
		send(t, step, struct{}{}, fmt.Sprintf("the mock upstream to ask for content chunk %d", i))
		ev, ok := sse.next(t)
		if !ok || !strings.Contains(ev, `"content":"`+mockupstream.Word(i)+`"`) {
			t.Fatalf("event %d = %q", i, ev)
		}
	}
	var rest []string
	for {
		ev, ok := sse.next(t)
		if !ok {
			break
		}
		rest = append(rest, ev)
	}
	// finish chunk, [DONE]; the usage chunk the gateway asked for is hidden.
	if len(rest) != 2 || rest[1] != "[DONE]" || strings.Contains(rest[0], `"usage":{`) {
		t.Fatalf("tail %q", rest)
	}
	rec := h.rec.next(t)
	if rec.Source != usage.SourceUpstream || rec.CompletionTokens != 3 || !rec.Stream {
		t.Fatalf("record %+v", rec)
	}
}

func TestStreamUsage(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tests := []struct {
		name       string
		body       string
		hdr        map[string]string
		wantChunk  bool // the client sees the usage chunk
		wantSource usage.Source
		wantReason string
	}{
		{name: "client asked for usage", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			wantChunk: true, wantSource: usage.SourceUpstream},
		{name: "client did not ask", body: `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			wantSource: usage.SourceUpstream},
		{name: "client said no", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"hi"}]}`,
			wantSource: usage.SourceUpstream},
		{name: "upstream sends none", body: `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			hdr: map[string]string{"X-Mock-No-Usage": "1"}, wantSource: usage.SourceEstimated, wantReason: "no_upstream_usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, sse := h.stream(t, context.Background(), "active", tt.body, tt.hdr)
			var text strings.Builder
			sawUsage := false
			for {
				ev, ok := sse.next(t)
				if !ok {
					break
				}
				if ev == "[DONE]" {
					continue
				}
				var c struct {
					Choices []struct {
						Delta struct{ Content string } `json:"delta"`
					} `json:"choices"`
					Usage *struct{ CompletionTokens int64 } `json:"usage"`
				}
				if err := json.Unmarshal([]byte(ev), &c); err != nil {
					t.Fatalf("bad chunk %q", ev)
				}
				for _, ch := range c.Choices {
					text.WriteString(ch.Delta.Content)
				}
				sawUsage = sawUsage || c.Usage != nil
			}
			if text.String() != mockupstream.Answer(mockupstream.DefaultWords) {
				t.Fatalf("text %q", text.String())
			}
			if sawUsage != tt.wantChunk {
				t.Fatalf("usage chunk seen = %v, want %v", sawUsage, tt.wantChunk)
			}
			rec := h.rec.next(t)
			if rec.Source != tt.wantSource || rec.EstimateReason != tt.wantReason || rec.CompletionTokens <= 0 || rec.PromptTokens <= 0 {
				t.Fatalf("record %+v", rec)
			}
			if tt.wantSource == usage.SourceUpstream && rec.CompletionTokens != mockupstream.DefaultWords {
				t.Fatalf("completion tokens %d", rec.CompletionTokens)
			}
		})
	}
}

func TestStreamClientDisconnectBilledAsEstimate(t *testing.T) {
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
	_, sse := h.stream(t, ctx, "active", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"X-Mock-Chunks": "10"})
	sse.next(t) // role chunk
	for i := 0; i < 2; i++ {
		send(t, step, struct{}{}, fmt.Sprintf("the mock upstream to ask for content chunk %d", i))
		if _, ok := sse.next(t); !ok {
			t.Fatal("stream ended early")
		}
	}
	cancel()
	rec := h.rec.next(t)
	if rec.Source != usage.SourceEstimated || rec.EstimateReason != "client_disconnected" || rec.CompletionTokens < 2 || rec.PromptTokens <= 0 || rec.CostMicros <= 0 {
		t.Fatalf("record %+v", rec)
	}
}

func TestUpstreamCutStream(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, sse := h.stream(t, context.Background(), "active", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"X-Mock-Cut-After": "3"})
	n := 0
	for {
		if _, ok := sse.next(t); !ok {
			break
		}
		n++
	}
	if n != 4 {
		t.Fatalf("client saw %d events, want role + 3", n)
	}
	rec := h.rec.next(t)
	if rec.Source != usage.SourceEstimated || rec.EstimateReason != "no_upstream_usage" || rec.CompletionTokens != 3 {
		t.Fatalf("record %+v", rec)
	}
}

func TestUpstreamErrorsPassThroughUnbilled(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, st := range []int{500, 429, 400} {
		t.Run(fmt.Sprint(st), func(t *testing.T) {
			resp, body := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, map[string]string{"X-Mock-Status": fmt.Sprint(st)})
			if resp.StatusCode != st || !strings.Contains(body, "The mock upstream was asked to fail") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	errs, answered := h.rec.errorRecords()
	if answered != 0 || len(errs) != 3 {
		t.Fatalf("%d answered and %d error records for upstream errors, want 0 and 3", answered, len(errs))
	}
	for i, st := range []int{500, 429, 400} {
		checkErrorRecord(t, errs[i], st, usage.ErrorCodeUpstream)
	}
	// The reservation is settled just after the answer is written, so the
	// client can read the body first: wait (bounded) for the settlement.
	deadline := time.Now().Add(5 * time.Second)
	for h.lim.value("ws:{ws_1}:tpm") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("tpm counter %d after unbilled errors", h.lim.value("ws:{ws_1}:tpm"))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestUpstreamUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h := newHarness(t, harnessOpts{upstreamURL: "http://" + addr + "/v1"})
	resp, body := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, nil)
	if resp.StatusCode != 502 || decodeErr(t, body).Error.Code != "upstream_unavailable" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	errs, answered := h.rec.errorRecords()
	if answered != 0 || len(errs) != 1 {
		t.Fatalf("%d answered and %d error records for an unreachable upstream, want 0 and 1", answered, len(errs))
	}
	checkErrorRecord(t, errs[0], 502, "upstream_unavailable")
}

func TestUpstreamTimeout(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, harnessOpts{
		cfg: Config{UpstreamHeaderTimeout: 50 * time.Millisecond},
		// Never answer: only the gateway's timeout can end the request.
		mock: mockupstream.Options{OnRequest: func(r *http.Request) { <-release }},
	})
	t.Cleanup(func() { close(release) }) // runs before the harness closes the mock
	resp, body := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, nil)
	if resp.StatusCode != 504 || decodeErr(t, body).Error.Code != "upstream_timeout" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestNonStreamWithoutUsageIsEstimated(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	resp, _ := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, map[string]string{"X-Mock-No-Usage": "1"})
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	rec := h.rec.next(t)
	if rec.Source != usage.SourceEstimated || rec.EstimateReason != "no_upstream_usage" || rec.PromptTokens <= 0 {
		t.Fatalf("record %+v", rec)
	}
}

func TestIdempotency(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	idem := map[string]string{"Idempotency-Key": "abc-1"}
	r1, b1 := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, idem)
	r2, b2 := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, idem)
	if r1.StatusCode != 200 || r2.StatusCode != 200 || b1 != b2 || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("%d %d %q %q", r1.StatusCode, r2.StatusCode, b1, b2)
	}
	if h.upstreamCalls() != 1 {
		t.Fatalf("%d upstream calls", h.upstreamCalls())
	}
	h.rec.next(t)
	if n := h.rec.count(); n != 1 {
		t.Fatalf("%d records", n)
	}
	r3, b3 := h.do(t, "active", "POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[]}`, idem)
	if r3.StatusCode != 422 || decodeErr(t, b3).Error.Code != "idempotency_key_reused" {
		t.Fatalf("%d %s", r3.StatusCode, b3)
	}
	// Keys are per API key: another key may use the same value.
	r4, _ := h.do(t, "models", "POST", "/v1/chat/completions", chatBody, idem)
	if r4.StatusCode != 200 {
		t.Fatal(r4.StatusCode)
	}
}

func TestIdempotencyStoreConcurrent(t *testing.T) {
	s := NewIdempotencyStore(time.Hour, 0, 0, nil)
	waiting := make(chan struct{}, 1)
	s.onWait = func() { waiting <- struct{}{} }
	sum := [32]byte{1}
	tests := []struct {
		name   string
		answer *StoredAnswer
		want   error
	}{
		{name: "waiter gets the answer", answer: &StoredAnswer{Status: 200, Body: []byte("x")}},
		{name: "waiter of a failed first gets 409", want: ErrIdempotencyBusy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, finish, err := s.Begin(context.Background(), tt.name, sum)
			if err != nil || finish == nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			var got *StoredAnswer
			go func() {
				a, _, err := s.Begin(context.Background(), tt.name, sum)
				got = a
				done <- err
			}()
			// The twin is waiting: finishing now must wake it.
			recv(t, waiting, "the second Begin to wait for the first")
			finish(tt.answer)
			if err := recv(t, done, "the waiting Begin to return after finish"); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if tt.answer != nil && got != tt.answer {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestModelsFiltered(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tests := []struct {
		who  string
		want []string
	}{
		{"models", []string{"gpt-4o-mini", "text-embedding-3-small"}},
		{"wsmodels", []string{"gpt-4o"}},
		{"active", mockupstream.DefaultModels},
	}
	for _, tt := range tests {
		t.Run(tt.who, func(t *testing.T) {
			resp, body := h.do(t, tt.who, "GET", "/v1/models", "", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			var list struct {
				Data []struct{ ID string } `json:"data"`
			}
			if err := json.Unmarshal([]byte(body), &list); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range list.Data {
				got = append(got, m.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("models %v, want %v", got, tt.want)
			}
		})
	}
	if resp, _ := h.do(t, "", "GET", "/v1/models", "", nil); resp.StatusCode != 401 {
		t.Fatalf("unauthenticated models: %d", resp.StatusCode)
	}
}

func TestCacheHit(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r1, b1 := h.do(t, "cache", "POST", "/v1/chat/completions", chatBody, nil)
	first := h.rec.next(t)
	r2, b2 := h.do(t, "cache", "POST", "/v1/chat/completions", chatBody, nil)
	if r1.StatusCode != 200 || r2.StatusCode != 200 || b1 != b2 || r2.Header.Get("X-Oais-Cache") != "hit" || r1.Header.Get("X-Oais-Cache") != "" {
		t.Fatalf("%d %d cache=%q", r1.StatusCode, r2.StatusCode, r2.Header.Get("X-Oais-Cache"))
	}
	rec := h.rec.next(t)
	if !rec.CacheHit || rec.Source != usage.SourceCache || rec.PromptTokens != first.PromptTokens || rec.CompletionTokens != first.CompletionTokens {
		t.Fatalf("record %+v", rec)
	}
	if h.upstreamCalls() != 1 {
		t.Fatalf("%d upstream calls", h.upstreamCalls())
	}
}

func TestSpoolFullRefuses(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.rec.mu.Lock()
	h.rec.full = true
	h.rec.mu.Unlock()
	resp, body := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, nil)
	if resp.StatusCode != 503 || decodeErr(t, body).Error.Code != "service_unavailable" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestOpsEndpoints(t *testing.T) {
	ready := errors.New("warming")
	h := newHarness(t, harnessOpts{cfg: Config{Ready: func(context.Context) error { return ready }}})
	h.do(t, "active", "POST", "/v1/chat/completions", chatBody, nil)
	h.rec.next(t)
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/healthz", 200, "ok"},
		{"/readyz", 503, "not ready"},
		{"/metrics", 200, `oais_gateway_requests_total{model="gpt-4o-mini",status="200",workspace="ws_1"} 1`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := h.do(t, "", "GET", tt.path, "", nil)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) || resp.Header.Get("X-Request-Id") == "" {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if strings.Contains(body, "key_active") {
				t.Fatal("key id in metrics")
			}
		})
	}
}

func TestHashSecret(t *testing.T) {
	for i := 0; i < 10; i++ {
		s := mustSecret(t)
		if hashSecret(s) != keys.HashOf(s) {
			t.Fatalf("hashSecret and keys.HashOf disagree on %s", keys.Mask(s))
		}
	}
}

func TestWithStreamUsage(t *testing.T) {
	tests := []struct {
		name, in string
		absent   bool
		want     string
		asked    bool
	}{
		{name: "spliced", in: ` {"model":"m","stream":true}`, absent: true, want: ` {"stream_options":{"include_usage":true},"model":"m","stream":true}`},
		{name: "asked plainly, left alone", in: `{"model":"m","stream_options":{"include_usage":true}}`, want: `{"model":"m","stream_options":{"include_usage":true}}`, asked: true},
		{name: "other members kept", in: `{"model":"m", "stream_options" : {"include_obfuscation":false} }`,
			want: `{"stream_options":{"include_usage":true,"include_obfuscation":false},"model":"m"}`},
		{name: "null replaced", in: `{"model":"m","stream_options":null}`, want: `{"stream_options":{"include_usage":true},"model":"m"}`},
		{name: "false replaced", in: `{"stream_options":false,"model":"m"}`, want: `{"stream_options":{"include_usage":true},"model":"m"}`},
		{name: "duplicates dropped, last object's members kept", in: `{"stream_options":{"a":1,"include_usage":true},"model":"m","stream_options":{"include_usage":false,"b":2,"b":3,"include_usage":true}}`,
			want: `{"stream_options":{"include_usage":true,"b":3},"model":"m"}`, asked: true},
		{name: "escaped and case-folded twins dropped", in: `{"stream\u005foptions":{"include_usage":true,"Include_Usage":false,"include\u005fusage":true}}`,
			want: `{"stream_options":{"include_usage":true}}`, asked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, asked, err := withStreamUsage([]byte(tt.in), tt.absent)
			if err != nil || string(got) != tt.want || asked != tt.asked {
				t.Fatalf("got %s asked=%v, %v; want %s asked=%v", got, asked, err, tt.want, tt.asked)
			}
		})
	}
	t.Run("asking plainly costs no allocation", func(t *testing.T) {
		body := []byte(`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
		if n := testing.AllocsPerRun(100, func() { _, _, _ = withStreamUsage(body, false) }); n != 0 {
			t.Fatalf("%v allocations", n)
		}
	})
}

func TestClientIP(t *testing.T) {
	g := &Gateway{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	tests := []struct {
		name, remote, xff, want string
	}{
		{"direct", "1.2.3.4:5", "9.9.9.9", "1.2.3.4"},
		{"trusted proxy", "10.0.0.1:5", "9.9.9.9", "9.9.9.9"},
		{"chain of proxies", "10.0.0.1:5", "9.9.9.9, 10.0.0.2", "9.9.9.9"},
		{"spoofed left entry ignored", "10.0.0.1:5", "6.6.6.6, 9.9.9.9", "9.9.9.9"},
		{"garbage stops the walk", "10.0.0.1:5", "nope", "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			r.Header.Set("X-Forwarded-For", tt.xff)
			if got := g.clientIP(r).String(); got != tt.want {
				t.Fatalf("clientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestDrainFailsReadiness: once the binary starts draining, /readyz says
// so at once, while the API keeps answering the requests that still come.
func TestDrainFailsReadiness(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	get := func(path string) int {
		w := httptest.NewRecorder()
		h.gw.Handler().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Code
	}
	if c := get("/readyz"); c != 200 {
		t.Fatalf("/readyz before the drain = %d", c)
	}
	h.gw.Drain()
	if c := get("/readyz"); c != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining = %d, want 503", c)
	}
	if c := get("/healthz"); c != 200 {
		t.Fatalf("/healthz while draining = %d, want 200 (the process is alive)", c)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero is valid", Config{}, ""},
		{"bad url", Config{UpstreamBaseURL: "ftp://x"}, "OAIS_UPSTREAM_BASE_URL"},
		{"credentials in url", Config{UpstreamBaseURL: "https://u:p@x/v1"}, "OAIS_UPSTREAM_BASE_URL"},
		{"negative", Config{MaxBodyBytes: -1}, "MaxBodyBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
	c := Config{UpstreamAPIKey: "sk-very-secret"}
	if s := fmt.Sprint(c) + c.LogValue().String(); strings.Contains(s, "very-secret") {
		t.Fatalf("secret printed: %s", s)
	}
}

func TestDefaultMockUpstream(t *testing.T) {
	s := mustSecret(t)
	dir := StaticDirectory{keys.HashOf(s): testPrincipals()["active"]}
	g := New(Config{Logger: slog.New(slog.DiscardHandler)}, Deps{Directory: dir, Limiter: newFakeLimiter(), Recorder: newFakeRecorder()})
	defer g.Close()
	req, _ := http.NewRequest("POST", "/v1/chat/completions", strings.NewReader(chatBody))
	req.Header.Set("Authorization", "Bearer "+s)
	w := httptest.NewRecorder()
	g.Handler().ServeHTTP(w, req)
	if w.Code != 200 || !strings.Contains(w.Body.String(), mockupstream.Answer(mockupstream.DefaultWords)) {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
}

// TestReusedCallsStayApart runs many plain and streamed requests at once,
// so that per-request state is reused from the pool while others are in
// flight, and checks that nothing of one request leaks into another: each
// answer carries its own request id and model, each record its own model
// and mode, and the limiter's token counter ends at what the records say.
func TestReusedCallsStayApart(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const workers, each = 8, 25
	type kind struct {
		model  string
		stream bool
	}
	kinds := []kind{{"gpt-4o-mini", false}, {"gpt-4o", false}, {"gpt-4o-mini", true}, {"gpt-4o", true}}
	want := map[kind]int{}
	var wg sync.WaitGroup
	for w := range workers {
		k := kinds[w%len(kinds)]
		want[k] += each
		wg.Go(func() {
			for i := range each {
				body := fmt.Sprintf(`{"model":%q,"stream":%t,"messages":[{"role":"user","content":"hi"}]}`, k.model, k.stream)
				id := fmt.Sprintf("client-%d-%d", w, i)
				req, _ := http.NewRequest("POST", h.srv.URL+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+h.secrets["active"])
				req.Header.Set("X-Request-Id", id)
				resp, err := h.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != id || !strings.Contains(string(b), k.model) {
					t.Errorf("request %s (%v): status %d, id %q, body %.80q", id, k, resp.StatusCode, resp.Header.Get("X-Request-Id"), b)
				}
			}
		})
	}
	wait(t, &wg, "the clients' requests")
	recs := make([]*usage.Record, workers*each) // fewer than recorderSignals
	for i := range recs {
		recs[i] = h.rec.next(t)
	}
	got := map[kind]int{}
	var tokens int64
	for _, r := range recs {
		got[kind{r.Model, r.Stream}]++
		tokens += r.PromptTokens + r.CompletionTokens
	}
	if !maps.Equal(got, want) {
		t.Fatalf("records by model and mode: %v, want %v", got, want)
	}
	_ = h.gw.Close() // settlements done
	if v := h.lim.value("ws:{ws_1}:tpm"); v != tokens {
		t.Fatalf("tpm counter %d, want the records' %d tokens", v, tokens)
	}
}

// TestSetLimitHeaders pins the x-ratelimit-* values, which share storage,
// for each combination of request and token limits.
func TestSetLimitHeaders(t *testing.T) {
	req := ratelimit.State{Limit: 1000, Remaining: 998, Reset: 1500 * time.Millisecond}
	tok := ratelimit.State{Limit: 50000, Remaining: -3, Reset: time.Minute}
	none := ratelimit.State{}
	cases := []struct {
		name   string
		states []ratelimit.State
		want   [6]string // limit, remaining, reset: requests, then tokens
	}{
		{"both", []ratelimit.State{req, tok}, [6]string{"1000", "998", "1.5s", "50000", "0", "1m0s"}},
		{"tokens only", []ratelimit.State{none, tok}, [6]string{unlimitedHeader, unlimitedHeader, "0s", "50000", "0", "1m0s"}},
		{"requests only", []ratelimit.State{req, none}, [6]string{"1000", "998", "1.5s", unlimitedHeader, unlimitedHeader, "0s"}},
		{"none", []ratelimit.State{none, none}, [6]string{unlimitedHeader, unlimitedHeader, "0s", unlimitedHeader, unlimitedHeader, "0s"}},
	}
	names := [6]string{"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests",
		"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"}
	g := &Gateway{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &call{}
			c.add(scopeWorkspaceRPM, "r", 1, time.Minute, 1)
			c.add(scopeWorkspaceTPM, "t", 1, time.Minute, 1)
			h := http.Header{}
			g.setLimitHeaders(h, tc.states, c)
			for i, k := range names {
				if got := h.Values(k); len(got) != 1 || got[0] != tc.want[i] {
					t.Errorf("%s = %q, want %q", k, got, tc.want[i])
				}
			}
		})
	}
}

// TestIdempotencyStoreBounded is the attack on the in-process store's
// memory: many distinct keys, each with an answer kept for a day. Bytes
// and entries stay within their bounds after every answer, the oldest
// answers go first, the newest still replay, and expired ones are dropped.
func TestIdempotencyStoreBounded(t *testing.T) {
	sum := [32]byte{7}
	tests := []struct {
		name                 string
		maxBytes, maxEntries int64
		body                 int // answer bytes
		keys                 int
	}{
		{name: "bytes bound", maxBytes: 64 << 10, body: 4 << 10, keys: 200},
		{name: "entries bound", maxEntries: 10, body: 10, keys: 200},
		{name: "answer larger than the store", maxBytes: 4 << 10, body: 8 << 10, keys: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := time.Unix(1_700_000_000, 0)
			s := NewIdempotencyStore(time.Hour, tt.maxBytes, tt.maxEntries, func() time.Time { return clock })
			key := func(i int) string { return fmt.Sprintf("key_1\x00k-%04d", i) }
			for i := range tt.keys {
				_, finish, err := s.Begin(context.Background(), key(i), sum)
				if err != nil || finish == nil {
					t.Fatalf("key %d: %v", i, err)
				}
				finish(&StoredAnswer{Status: 200, Body: make([]byte, tt.body)})
				if b, n := s.bytes.Load(), s.entries.Load(); b > s.maxBytes || n > s.maxEntries {
					t.Fatalf("after %d answers: %d bytes (max %d), %d entries (max %d)", i+1, b, s.maxBytes, n, s.maxEntries)
				}
			}
			kept := s.entries.Load()
			t.Logf("%d answers of %d bytes: %d kept, %d bytes", tt.keys, tt.body, kept, s.bytes.Load())
			replays := func(i int) bool {
				a, finish, err := s.Begin(context.Background(), key(i), sum)
				if err != nil {
					t.Fatal(err)
				}
				if finish != nil {
					finish(nil)
				}
				return a != nil
			}
			if int64(tt.body) > s.maxBytes {
				if kept != 0 || replays(0) {
					t.Fatalf("an answer larger than the store was kept")
				}
				return
			}
			if kept == 0 || !replays(tt.keys-1) || replays(0) {
				t.Fatalf("kept %d: the newest must replay and the oldest be gone", kept)
			}
			clock = clock.Add(2 * time.Hour)
			if replays(tt.keys - 1) {
				t.Fatal("an expired answer replayed")
			}
			// Expired answers go as their shard is used; touching every
			// key's shard empties the store.
			for i := range tt.keys {
				replays(i)
			}
			if b, n := s.bytes.Load(), s.entries.Load(); b != 0 || n != 0 {
				t.Fatalf("after expiry: %d bytes, %d entries", b, n)
			}
		})
	}
}
