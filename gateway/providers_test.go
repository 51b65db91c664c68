package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/oais/oais/gateway/anthropic"
	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/route"
)

// Recorded-shape mocks of the providers the channel adapters speak: the
// paths, headers, bodies and error bodies as Azure OpenAI sends them (from
// its API reference), answering the mock upstream's deterministic words so
// that one set of assertions fits every provider. Anthropic's is
// mockupstream.Anthropic.

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

// anthropicChannel is a channel to a mock Anthropic Messages API.
func anthropicChannel(t *testing.T, name string, prio int) (*mockChannel, *httptest.Server) {
	t.Helper()
	m := &mockChannel{}
	mock := mockupstream.NewAnthropic(mockupstream.Options{APIKey: channelKey})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.calls.Add(1)
		m.mu.Lock()
		status, after := m.status, m.after
		m.hdrs = append(m.hdrs, r.Header.Clone())
		m.paths = append(m.paths, r.URL)
		m.mu.Unlock()
		if status != 0 {
			r.Header.Set("X-Mock-Status", strconv.Itoa(status))
			if after != "" {
				r.Header.Set("X-Mock-Retry-After", after)
			}
		}
		mock.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	m.srv = srv
	m.ch = &route.Channel{ID: "ch_" + name, Name: name, Type: route.Anthropic, BaseURL: mustURL(t, srv.URL),
		APIKey: channelKey, Priority: prio, Enabled: true, ModelMap: map[string]string{"gpt-4o-mini": "claude-sonnet-4-5"}}
	return m, srv
}

// TestAnthropicAdapter checks the Anthropic channel against the recorded-
// shape Messages mock through the gateway: URL and headers, the answer
// and the stream translated to OpenAI's shape and metered, and Anthropic's
// error bodies mapped to OpenAI's.
func TestAnthropicAdapter(t *testing.T) {
	if _, err := anthropic.Request([]byte(chatBody), "claude"); errors.Is(err, anthropic.ErrUnsupported) {
		t.Skip("needs the Anthropic translator (branch c2)")
	}
	an, _ := anthropicChannel(t, "claude", 1)
	h := channelHarness(t, an)
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			body := chatBody
			if stream {
				body = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello world"}]}`
			}
			res, got := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", body, nil)
			if res.StatusCode != http.StatusOK || res.Header.Get("X-Oais-Channel") != "claude" {
				t.Fatalf("%d %s %v", res.StatusCode, got, res.Header)
			}
			if stream && (!strings.Contains(got, "chat.completion.chunk") || !strings.HasSuffix(got, "data: [DONE]\n\n") || strings.Contains(got, `"usage":{`)) {
				t.Fatalf("stream %s", got)
			}
			if !stream && !strings.Contains(got, `"chat.completion"`) {
				t.Fatalf("answer %s", got)
			}
			if rec := h.rec.next(t); rec.Channel != "claude" || rec.CompletionTokens != mockupstream.DefaultWords || rec.Model != "gpt-4o-mini" {
				t.Fatalf("record %+v", rec)
			}
			an.mu.Lock()
			hdr, u := an.hdrs[len(an.hdrs)-1], an.paths[len(an.paths)-1]
			an.mu.Unlock()
			if u.Path != "/v1/messages" || hdr.Get("X-Api-Key") != channelKey || hdr.Get("Anthropic-Version") != anthropic.Version || hdr.Get("Authorization") != "" {
				t.Fatalf("upstream %s %v", u, hdr)
			}
		})
	}
	t.Run("error body", func(t *testing.T) {
		an.set(http.StatusBadRequest, "", 0)
		defer an.set(0, "", 0)
		res, got := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
		var e struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
			} `json:"error"`
		}
		if res.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(got), &e) != nil || e.Error.Message == "" || e.Error.Type != "invalid_request_error" {
			t.Fatalf("%d %s", res.StatusCode, got)
		}
	})
	t.Run("embeddings are not Anthropic's", func(t *testing.T) {
		res, _ := h.do(t, "chan", http.MethodPost, "/v1/embeddings", `{"model":"gpt-4o-mini","input":"hi"}`, nil)
		if res.Header.Get("X-Oais-Channel") != "" {
			t.Fatalf("an embeddings request reached the Anthropic channel")
		}
	})
	t.Run("529 overloaded moves to the next channel", func(t *testing.T) {
		busy, _ := anthropicChannel(t, "busy", 2)
		busy.set(529, "", 0)
		ok, _ := anthropicChannel(t, "ok", 1)
		h := channelHarness(t, busy, ok)
		res, got := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("X-Oais-Channel") != "ok" || busy.calls.Load() != 1 {
			t.Fatalf("%d %s %v", res.StatusCode, got, res.Header)
		}
	})
}
