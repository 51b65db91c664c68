package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/internal/usage"
)

// TestOpenAISDK checks the gateway from the official Go SDK's side: plain
// and streamed chat, and each refusal surfacing as the SDK's *openai.Error
// with the CONTRACT status and code.
func TestOpenAISDK(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	client := func(who string) openai.Client {
		return openai.NewClient(
			option.WithBaseURL(h.srv.URL+"/v1/"),
			option.WithAPIKey(h.secrets[who]),
			option.WithMaxRetries(0), // a retried 429 would hide the mapping
			option.WithHTTPClient(h.srv.Client()),
		)
	}
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello world")},
	}
	ctx := context.Background()

	t.Run("plain", func(t *testing.T) {
		c := client("active")
		res, err := c.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if res.Choices[0].Message.Content != mockupstream.Answer(mockupstream.DefaultWords) || res.Usage.CompletionTokens != mockupstream.DefaultWords {
			t.Fatalf("answer %+v", res)
		}
		h.rec.next(t)
		// The SDK's own headers reach the upstream; its key does not.
		h.upMu.Lock()
		up := h.upstream[len(h.upstream)-1].Header
		h.upMu.Unlock()
		if up.Get("X-Stainless-Lang") != "go" || !strings.HasPrefix(up.Get("User-Agent"), "OpenAI/Go") || up.Get("Authorization") != "Bearer "+upstreamKey {
			t.Fatalf("upstream headers %v", up)
		}
	})
	t.Run("streaming", func(t *testing.T) {
		c := client("active")
		s := c.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for s.Next() {
			acc.AddChunk(s.Current())
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.Choices[0].Message.Content != mockupstream.Answer(mockupstream.DefaultWords) {
			t.Fatalf("streamed %q", acc.Choices[0].Message.Content)
		}
		if rec := h.rec.next(t); rec.Source != usage.SourceUpstream || rec.CompletionTokens != mockupstream.DefaultWords {
			t.Fatalf("record %+v", rec)
		}
	})

	tests := []struct {
		who    string
		model  string
		status int
		code   string
	}{
		{"revoked", "gpt-4o-mini", http.StatusUnauthorized, "api_key_revoked"},
		{"expired", "gpt-4o-mini", http.StatusUnauthorized, "api_key_expired"},
		{"disabled", "gpt-4o-mini", http.StatusUnauthorized, "api_key_disabled"},
		{"spent", "gpt-4o-mini", http.StatusTooManyRequests, "key_request_limit_reached"},
		{"tpm", "gpt-4o-mini", http.StatusTooManyRequests, "rate_limit_exceeded"},
		{"quota", "gpt-4o-mini", http.StatusTooManyRequests, "insufficient_quota"},
		{"models", "gpt-4o", http.StatusForbidden, "model_not_allowed"},
		{"ip", "gpt-4o-mini", http.StatusForbidden, "ip_not_allowed"},
		{"suspended", "gpt-4o-mini", http.StatusForbidden, "workspace_suspended"},
	}
	for _, tt := range tests {
		t.Run(tt.code+"/"+tt.who, func(t *testing.T) {
			p := params
			p.Model = tt.model
			c := client(tt.who)
			_, err := c.Chat.Completions.New(ctx, p)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %T %v", err, err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Code != tt.code {
				t.Fatalf("got %d %s, want %d %s", apiErr.StatusCode, apiErr.Code, tt.status, tt.code)
			}
		})
	}
	t.Run("invalid_api_key", func(t *testing.T) {
		c := openai.NewClient(option.WithBaseURL(h.srv.URL+"/v1/"), option.WithAPIKey("sk-oais-wrong"), option.WithMaxRetries(0))
		_, err := c.Chat.Completions.New(ctx, params)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "invalid_api_key" || apiErr.Message != "Invalid authentication token" {
			t.Fatalf("%v", err)
		}
	})
}
