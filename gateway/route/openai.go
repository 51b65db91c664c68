package route

import (
	"net/http"
	"net/url"
)

// openAIAdapter is any OpenAI-compatible API (OpenAI, vLLM, Together,
// Groq, OpenRouter…): base URL + path, "Authorization: Bearer". The
// answer is already OpenAI's.
type openAIAdapter struct{}

func (openAIAdapter) Request(ch *Channel, path string, h http.Header, body []byte, model string) (*url.URL, []byte, error) {
	if ch.APIKey != "" {
		h["Authorization"] = []string{"Bearer " + ch.APIKey}
	}
	return baseJoin(ch.BaseURL, path), SetModel(body, model), nil
}

func (openAIAdapter) Response(*http.Response, string, bool) error { return nil }
