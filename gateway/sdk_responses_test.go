package gateway

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/openai/openai-go/responses"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/internal/usage"
)

// TestOpenAISDKResponses checks /v1/responses from the official Go SDK's
// side: client.Responses.New and NewStreaming, each metered exactly, and a
// refusal surfacing as the SDK's *openai.Error with the CONTRACT code.
func TestOpenAISDKResponses(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	client := func(who string) openai.Client {
		return openai.NewClient(
			option.WithBaseURL(h.srv.URL+"/v1/"),
			option.WithAPIKey(h.secrets[who]),
			option.WithMaxRetries(0),
			option.WithHTTPClient(h.srv.Client()),
		)
	}
	params := responses.ResponseNewParams{
		Model:        "gpt-4o-mini",
		Instructions: openai.String("Be brief."),
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("Hello world")},
	}
	ctx := context.Background()

	t.Run("plain", func(t *testing.T) {
		c := client("active")
		res, err := c.Responses.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if res.OutputText() != mockupstream.Answer(mockupstream.DefaultWords) || res.Usage.OutputTokens != mockupstream.DefaultWords {
			t.Fatalf("answer %+v", res)
		}
		rec := h.rec.next(t)
		if rec.Source != usage.SourceUpstream || rec.Endpoint != "/v1/responses" || rec.PromptTokens != res.Usage.InputTokens ||
			rec.PromptTokens != responsesPrompt() || rec.CompletionTokens != res.Usage.OutputTokens {
			t.Fatalf("record %+v", rec)
		}
	})
	t.Run("streaming", func(t *testing.T) {
		c := client("active")
		s := c.Responses.NewStreaming(ctx, params)
		var text string
		var final *responses.Response
		for s.Next() {
			ev := s.Current()
			switch ev.Type {
			case "response.output_text.delta":
				text += ev.Delta.OfString
			case "response.completed":
				r := ev.Response
				final = &r
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if text != mockupstream.Answer(mockupstream.DefaultWords) || final == nil || final.OutputText() != text {
			t.Fatalf("streamed %q, final %+v", text, final)
		}
		rec := h.rec.next(t)
		if rec.Source != usage.SourceUpstream || !rec.Stream || rec.PromptTokens != final.Usage.InputTokens || rec.CompletionTokens != final.Usage.OutputTokens {
			t.Fatalf("record %+v", rec)
		}
	})
	t.Run("model_not_allowed", func(t *testing.T) {
		p := params
		p.Model = "gpt-4o"
		c := client("models")
		_, err := c.Responses.New(ctx, p)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || apiErr.Code != "model_not_allowed" {
			t.Fatalf("%v", err)
		}
	})
}
