package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/route"
)

// Recorded-shape mocks of the providers the channel adapters speak: the
// paths, headers, bodies and error bodies as Azure OpenAI and Anthropic
// send them (from their API references), answering the mock upstream's
// deterministic words so that one set of assertions fits every provider.

const azureAPIVersion = "2024-10-21"

// newAzureMock is an Azure OpenAI resource with one deployment, dep: it
// checks the deployment URL, api-version and api-key, answers Azure's
// own error bodies otherwise, and serves through the OpenAI mock (Azure's
// answers are OpenAI's).
func newAzureMock(t *testing.T, dep string, seen func(*http.Request)) *httptest.Server {
	t.Helper()
	mock := mockupstream.New(mockupstream.Options{APIKey: channelKey})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			seen(r)
		}
		azErr := func(status int, code, msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, code, msg)
		}
		switch {
		case r.Header.Get("Api-Key") != channelKey:
			azErr(http.StatusUnauthorized, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.")
			return
		case r.URL.Query().Get("api-version") == "":
			azErr(http.StatusNotFound, "404", "Resource not found")
			return
		case r.URL.Path != "/openai/deployments/"+dep+"/chat/completions":
			azErr(http.StatusNotFound, "DeploymentNotFound", "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.")
			return
		case r.Header.Get("Authorization") != "":
			azErr(http.StatusBadRequest, "400", "an Authorization header must not reach Azure with api-key")
			return
		}
		r.URL.Path = "/v1/chat/completions"
		r.Header.Set("Authorization", "Bearer "+channelKey)
		mock.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// newAnthropicMock is Anthropic's Messages API answering the mock's words:
// plain and streamed (message_start … message_stop, with ping and usage
// in message_delta), and its error bodies ({"type":"error",…}).
func newAnthropicMock(t *testing.T, failStatus int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errBody := func(status int, typ, msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"type":"error","error":{"type":%q,"message":%q}}`, typ, msg)
		}
		switch {
		case r.URL.Path != "/v1/messages" || r.Method != http.MethodPost:
			errBody(http.StatusNotFound, "not_found_error", "Not found")
			return
		case r.Header.Get("X-Api-Key") != channelKey:
			errBody(http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
			return
		case r.Header.Get("Anthropic-Version") == "":
			errBody(http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
			return
		case failStatus == http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "30")
			errBody(failStatus, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
			return
		case failStatus == 529:
			errBody(failStatus, "overloaded_error", "Overloaded")
			return
		}
		var req struct {
			Model     string `json:"model"`
			MaxTokens int    `json:"max_tokens"`
			Stream    bool   `json:"stream"`
			Messages  []struct {
				Role string `json:"role"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model == "" || req.MaxTokens <= 0 || len(req.Messages) == 0 {
			errBody(http.StatusBadRequest, "invalid_request_error", "messages: field required")
			return
		}
		const in = 12
		words := mockupstream.DefaultWords
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":%q}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":%d,"output_tokens":%d}}`,
				req.Model, mockupstream.Answer(words), in, words)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		f := w.(http.Flusher)
		ev := func(name, data string) {
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
			f.Flush()
		}
		ev("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":%q,"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":%d,"output_tokens":1}}}`, req.Model, in))
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		ev("ping", `{"type": "ping"}`)
		for i := 0; i < words; i++ {
			ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%q}}`, mockupstream.Word(i)))
		}
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
		ev("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":%d}}`, words))
		ev("message_stop", `{"type":"message_stop"}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestAzureAdapter checks the Azure channel against its mock through the
// gateway: the deployment URL, api-version, api-key, and Azure's error
// bodies passed through as they are (they are OpenAI-shaped).
func TestAzureAdapter(t *testing.T) {
	var seen []*http.Request
	srv := newAzureMock(t, "my-gpt4o", func(r *http.Request) { seen = append(seen, r.Clone(r.Context())) })
	az := &mockChannel{ch: &route.Channel{ID: "ch_az", Name: "azure", Type: route.Azure, BaseURL: mustURL(t, srv.URL),
		APIKey: channelKey, ModelMap: map[string]string{"gpt-4o-mini": "my-gpt4o"}, Enabled: true}}
	h := channelHarness(t, az)
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			body := chatBody
			if stream {
				body = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello world"}]}`
			}
			res, got := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", body, nil)
			if res.StatusCode != http.StatusOK || res.Header.Get("X-Oais-Channel") != "azure" {
				t.Fatalf("%d %s %v", res.StatusCode, got, res.Header)
			}
			if stream && (!strings.Contains(got, "data: [DONE]") || strings.Contains(got, `"usage":{`)) {
				t.Fatalf("stream %s", got)
			}
			if rec := h.rec.next(t); rec.Channel != "azure" || rec.CompletionTokens != mockupstream.DefaultWords {
				t.Fatalf("record %+v", rec)
			}
			r := seen[len(seen)-1]
			if r.URL.Query().Get("api-version") != route.DefaultAzureAPIVersion {
				t.Fatalf("api-version %q", r.URL.RawQuery)
			}
		})
	}
	t.Run("error body", func(t *testing.T) {
		// gpt-4o-mini is no deployment of the resource.
		unmapped := &mockChannel{ch: &route.Channel{ID: "ch_az2", Name: "azure", Type: route.Azure, BaseURL: mustURL(t, srv.URL),
			APIKey: channelKey, Enabled: true}}
		h := channelHarness(t, unmapped)
		res, got := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
		if res.StatusCode != http.StatusNotFound || !strings.Contains(got, "DeploymentNotFound") {
			t.Fatalf("%d %s", res.StatusCode, got)
		}
	})
}
