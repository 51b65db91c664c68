package gateway

import (
	"context"
	"testing"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/route"
	"github.com/oais/oais/internal/usage"
)

// TestChannelSDK is the chat-completion contract of TestOpenAISDK through
// each channel type: the official SDK gets the same answer, plain and
// streamed, whichever provider served it.
func TestChannelSDK(t *testing.T) {
	openaiCh := newMockChannel(t, "openai", 1, 1)
	azSrv := newAzureMock(t, "my-gpt4o", nil)
	azureCh := &mockChannel{ch: &route.Channel{ID: "ch_az", Name: "azure", Type: route.Azure, BaseURL: mustURL(t, azSrv.URL),
		APIKey: channelKey, ModelMap: map[string]string{"gpt-4o-mini": "my-gpt4o"}, Enabled: true}}
	anthropicCh, _ := anthropicChannel(t, "anthropic", 1)
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello world")},
	}
	ctx := context.Background()
	for _, m := range []*mockChannel{openaiCh, azureCh, anthropicCh} {
		t.Run(string(m.ch.Type), func(t *testing.T) {
			h := channelHarness(t, m)
			client := openai.NewClient(
				option.WithBaseURL(h.srv.URL+"/v1/"),
				option.WithAPIKey(h.secrets["chan"]),
				option.WithMaxRetries(0),
				option.WithHTTPClient(h.srv.Client()),
			)
			t.Run("plain", func(t *testing.T) {
				res, err := client.Chat.Completions.New(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				if res.Choices[0].Message.Content != mockupstream.Answer(mockupstream.DefaultWords) || res.Usage.CompletionTokens != mockupstream.DefaultWords {
					t.Fatalf("answer %+v", res)
				}
				if rec := h.rec.next(t); rec.Source != usage.SourceUpstream || rec.Channel != m.ch.Name {
					t.Fatalf("record %+v", rec)
				}
			})
			t.Run("streaming", func(t *testing.T) {
				s := client.Chat.Completions.NewStreaming(ctx, params)
				var acc openai.ChatCompletionAccumulator
				for s.Next() {
					acc.AddChunk(s.Current())
				}
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				if acc.Choices[0].Message.Content != mockupstream.Answer(mockupstream.DefaultWords) || acc.Choices[0].FinishReason != "stop" {
					t.Fatalf("streamed %+v", acc.Choices[0])
				}
				if rec := h.rec.next(t); rec.Source != usage.SourceUpstream || rec.CompletionTokens != mockupstream.DefaultWords || rec.Channel != m.ch.Name {
					t.Fatalf("record %+v", rec)
				}
			})
		})
	}
}
