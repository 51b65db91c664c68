package mockupstream_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/openai/openai-go/responses"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/tokens"
)

// TestResponses reads the mock's Responses API answers with the official
// SDK, plain and streamed: the shapes are the SDK's own.
func TestResponses(t *testing.T) {
	srv := httptest.NewServer(mockupstream.New(mockupstream.Options{}))
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	params := responses.ResponseNewParams{
		Model:        "gpt-4o-mini",
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("Hello world")},
		Instructions: openai.String("Be brief."),
	}
	want := int64(tokens.EstimateInput("gpt-4o-mini", []byte(`"Hello world"`), []byte(`"Be brief."`)))
	ctx := context.Background()

	t.Run("plain", func(t *testing.T) {
		res, err := client.Responses.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if res.OutputText() != mockupstream.Answer(mockupstream.DefaultWords) || res.Status != "completed" ||
			res.Usage.InputTokens != want || res.Usage.OutputTokens != mockupstream.DefaultWords {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("streaming", func(t *testing.T) {
		s := client.Responses.NewStreaming(ctx, params, option.WithHeader("X-Mock-Chunks", "3"))
		var text string
		var names []string
		var done *responses.Response
		for s.Next() {
			ev := s.Current()
			names = append(names, ev.Type)
			switch ev.Type {
			case "response.output_text.delta":
				text += ev.Delta.OfString
			case "response.completed":
				r := ev.Response
				done = &r
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if text != mockupstream.Answer(3) || done == nil || done.OutputText() != text ||
			done.Usage.InputTokens != want || done.Usage.OutputTokens != 3 {
			t.Fatalf("text %q events %v final %+v", text, names, done)
		}
		if names[0] != "response.created" || names[len(names)-1] != "response.completed" || len(names) != 8+3 {
			t.Fatalf("events %v", names)
		}
	})
}
