package gateway

// Cases of the streaming billing policy (docs/billing.md) that the other
// gateway tests do not pin down: what exactly an estimate counts, that it
// never bills nothing for work the upstream did, and that cached answers
// are free.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/tokens"
	"github.com/oais/oais/internal/usage"
)

const streamBody = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`

// deltaText returns the content of a chat chunk's deltas.
func deltaText(t *testing.T, ev string) string {
	t.Helper()
	var c struct {
		Choices []struct {
			Delta struct{ Content string } `json:"delta"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(ev), &c); err != nil {
		t.Fatalf("bad chunk %q", ev)
	}
	var b strings.Builder
	for _, ch := range c.Choices {
		b.WriteString(ch.Delta.Content)
	}
	return b.String()
}

func TestBillingPolicy(t *testing.T) {
	t.Run("client disconnect bills exactly the relayed delta text", func(t *testing.T) {
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
		_, sse := h.stream(t, ctx, "active", streamBody, map[string]string{"X-Mock-Chunks": "50"})
		sse.next(t) // role chunk
		var relayed strings.Builder
		for i := 0; i < 5; i++ {
			send(t, step, struct{}{}, fmt.Sprintf("the mock upstream to ask for content chunk %d", i))
			ev, ok := sse.next(t)
			if !ok {
				t.Fatal("stream ended early")
			}
			relayed.WriteString(deltaText(t, ev))
		}
		cancel()
		rec := h.rec.next(t)
		want := int64(tokens.CountTextFor("gpt-4o-mini", relayed.String()))
		if rec.Source != usage.SourceEstimated || rec.EstimateReason != "client_disconnected" || rec.CompletionTokens != want {
			t.Fatalf("record %+v; want %d completion tokens estimated from %q", rec, want, relayed.String())
		}
		if rec.CostMicros != rec.PromptTokens+2*rec.CompletionTokens || rec.CostMicros <= 0 {
			t.Fatalf("cost %d for %+v", rec.CostMicros, rec)
		}
	})

	t.Run("client disconnect before any output still bills the prompt", func(t *testing.T) {
		started := make(chan struct{})
		h := newHarness(t, harnessOpts{mock: mockupstream.Options{OnRequest: func(r *http.Request) {
			// Read the prompt (only then does net/http notice a closed
			// connection), then work on it until the gateway hangs up.
			_, _ = io.Copy(io.Discard, r.Body)
			close(started)
			select {
			case <-r.Context().Done():
			case <-time.After(waitBound): // else the mock's Close would wait forever
				t.Error("the gateway kept the upstream request open after its client left")
			}
		}}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-started:
				cancel()
			case <-t.Context().Done(): // the request never reached the mock
			}
		}()
		req, _ := http.NewRequestWithContext(ctx, "POST", h.srv.URL+"/v1/chat/completions", strings.NewReader(streamBody))
		req.Header.Set("Authorization", "Bearer "+h.secrets["active"])
		if resp, err := h.srv.Client().Do(req); err == nil {
			resp.Body.Close()
		}
		rec := h.rec.next(t)
		if rec.Source != usage.SourceEstimated || rec.EstimateReason != "client_disconnected" ||
			rec.PromptTokens <= 0 || rec.CompletionTokens != 0 || rec.CostMicros != rec.PromptTokens {
			t.Fatalf("record %+v: want the prompt billed, nothing else", rec)
		}
	})

	t.Run("an error event mid-stream is not counted as output", func(t *testing.T) {
		words := []string{"Alpha", " beta", " gamma"}
		errText := strings.Repeat("upstream overloaded, please retry later ", 50)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`+"\n\n")
			for _, wd := range words {
				fmt.Fprintf(w, `data: {"choices":[{"index":0,"delta":{"content":%q}}]}`+"\n\n", wd)
			}
			fmt.Fprintf(w, `data: {"error":{"message":%q,"type":"server_error"}}`+"\n\n", errText)
		}))
		t.Cleanup(up.Close)
		h := newHarness(t, harnessOpts{upstreamURL: up.URL + "/v1"})
		_, sse := h.stream(t, context.Background(), "active", streamBody, nil)
		for {
			if _, ok := sse.next(t); !ok {
				break
			}
		}
		rec := h.rec.next(t)
		want := int64(tokens.CountTextFor("gpt-4o-mini", strings.Join(words, "")))
		if rec.Source != usage.SourceEstimated || rec.EstimateReason != "no_upstream_usage" || rec.CompletionTokens != want {
			t.Fatalf("record %+v; want %d completion tokens (the deltas only, not the error text)", rec, want)
		}
	})

	t.Run("a cached answer is counted, not charged", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		h.do(t, "cache", "POST", "/v1/chat/completions", chatBody, nil)
		first := h.rec.next(t)
		resp, _ := h.do(t, "cache", "POST", "/v1/chat/completions", chatBody, nil)
		rec := h.rec.next(t)
		if resp.Header.Get("X-Oais-Cache") != "hit" || first.CostMicros <= 0 ||
			rec.Source != usage.SourceCache || rec.CostMicros != 0 || rec.TotalTokens() != first.TotalTokens() {
			t.Fatalf("first %+v\ncached %+v", first, rec)
		}
	})
}
