package mockupstream_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go"

	"github.com/oais/oais/gateway/anthropic"
	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/tokens"
)

const anthropicKey = "sk-ant-mock"

func anthropicPost(t *testing.T, url, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", anthropicKey)
	req.Header.Set("Anthropic-Version", anthropic.Version)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// chatBody is a chat request translated for the mock, and the prompt
// tokens the mock will count for it.
func chatBody(t *testing.T, stream bool) (body string, prompt int) {
	t.Helper()
	in := `{"model":"gpt-4o","messages":[{"role":"user","content":"Hello world"}],"stream":` + map[bool]string{true: "true", false: "false"}[stream] + `}`
	out, err := anthropic.Request([]byte(in), "claude-mock")
	if err != nil {
		t.Fatal(err)
	}
	var req struct{ Messages json.RawMessage }
	_ = json.Unmarshal(out, &req)
	return string(out), tokens.EstimateJSON("claude-mock", req.Messages)
}

func TestAnthropicVersionMatches(t *testing.T) {
	if mockupstream.AnthropicVersion != anthropic.Version {
		t.Fatalf("mock wants %q, the translator sends %q", mockupstream.AnthropicVersion, anthropic.Version)
	}
}

func TestAnthropicPlain(t *testing.T) {
	srv := httptest.NewServer(mockupstream.NewAnthropic(mockupstream.Options{APIKey: anthropicKey}))
	defer srv.Close()
	body, prompt := chatBody(t, false)
	for _, tc := range []struct {
		name, tool, finish string
		words, completion  int
	}{
		{"text", "", "stop", mockupstream.DefaultWords, mockupstream.DefaultWords},
		{"tool", "get_weather", "tool_calls", 3, 3 + 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := anthropicPost(t, srv.URL, body, map[string]string{"X-Mock-Tool": tc.tool, "X-Mock-Chunks": strconv.Itoa(tc.words)})
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
			out, err := anthropic.Response(raw, "gpt-4o")
			if err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
			var cc openai.ChatCompletion
			if err := json.Unmarshal(out, &cc); err != nil {
				t.Fatal(err)
			}
			m := cc.Choices[0]
			if m.Message.Content != mockupstream.Answer(tc.words) || m.FinishReason != tc.finish ||
				cc.Usage.PromptTokens != int64(prompt) || cc.Usage.CompletionTokens != int64(tc.completion) {
				t.Fatalf("%s", out)
			}
			if tc.tool != "" && (len(m.Message.ToolCalls) != 1 || m.Message.ToolCalls[0].Function.Arguments != `{"location":"Paris"}`) {
				t.Fatalf("tool calls %s", out)
			}
		})
	}
}

func TestAnthropicStream(t *testing.T) {
	srv := httptest.NewServer(mockupstream.NewAnthropic(mockupstream.Options{APIKey: anthropicKey}))
	defer srv.Close()
	body, prompt := chatBody(t, true)
	for _, tc := range []struct {
		name, tool string
		cut        bool
	}{
		{"text", "", false},
		{"tool", "lookup", false},
		{"cut", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"X-Mock-Tool": tc.tool, "X-Mock-Chunks": "4"}
			if tc.cut {
				hdr["X-Mock-Cut-After"] = "2"
			}
			resp := anthropicPost(t, srv.URL, body, hdr)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			s := anthropic.Stream{Model: "gpt-4o", IncludeUsage: true}
			var out []byte
			var name []byte
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				line := sc.Bytes()
				switch {
				case strings.HasPrefix(string(line), "event: "):
					name = append(name[:0], line[len("event: "):]...)
				case strings.HasPrefix(string(line), "data: "):
					var err error
					if out, err = s.Event(out, name, line[len("data: "):]); err != nil {
						t.Fatal(err)
					}
				}
			}
			done := strings.HasSuffix(string(out), "data: [DONE]\n\n")
			if tc.cut {
				if done || sc.Err() == nil {
					t.Fatalf("a cut stream ended cleanly: %v\n%s", sc.Err(), out)
				}
				return
			}
			if !done {
				t.Fatalf("no [DONE]:\n%s", out)
			}
			var acc openai.ChatCompletionAccumulator
			var usage openai.CompletionUsage
			for _, ev := range strings.Split(strings.TrimSuffix(string(out), "data: [DONE]\n\n"), "\n\n") {
				if ev == "" {
					continue
				}
				var ch openai.ChatCompletionChunk
				if err := json.Unmarshal([]byte(strings.TrimPrefix(ev, "data: ")), &ch); err != nil {
					t.Fatal(err)
				}
				acc.AddChunk(ch)
				if len(ch.Choices) == 0 {
					usage = ch.Usage
				}
			}
			want := 4
			if tc.tool != "" {
				want += 5
				if c := acc.Choices[0].Message.ToolCalls; len(c) != 1 || c[0].Function.Name != tc.tool || c[0].Function.Arguments != `{"location": "Paris"}` {
					t.Fatalf("tool calls %+v", c)
				}
			}
			if acc.Choices[0].Message.Content != mockupstream.Answer(4) || usage.PromptTokens != int64(prompt) || usage.CompletionTokens != int64(want) {
				t.Fatalf("content %q usage %+v", acc.Choices[0].Message.Content, usage)
			}
		})
	}
}

// TestAnthropicErrors: the mock refuses like Anthropic, in its error
// shape, and the translator maps each to what a gateway client sees.
func TestAnthropicErrors(t *testing.T) {
	srv := httptest.NewServer(mockupstream.NewAnthropic(mockupstream.Options{APIKey: anthropicKey}))
	defer srv.Close()
	body, _ := chatBody(t, false)
	for _, tc := range []struct {
		name             string
		hdr              map[string]string
		body             string
		status, clientSt int
		typ              string
	}{
		{"wrong key", map[string]string{"X-Api-Key": "sk-ant-other"}, body, 401, 502, "authentication_error"},
		{"bearer instead of x-api-key", map[string]string{"X-Api-Key": "", "Authorization": "Bearer " + anthropicKey}, body, 401, 502, "authentication_error"},
		{"no version", map[string]string{"Anthropic-Version": ""}, body, 400, 400, "invalid_request_error"},
		{"no max_tokens", nil, `{"model":"c","messages":[{"role":"user","content":"x"}]}`, 400, 400, "invalid_request_error"},
		{"rate limited", map[string]string{"X-Mock-Status": "429", "X-Mock-Retry-After": "3"}, body, 429, 429, "rate_limit_error"},
		{"overloaded", map[string]string{"X-Mock-Status": "529"}, body, 529, 503, "overloaded_error"},
		{"api error", map[string]string{"X-Mock-Status": "500"}, body, 500, 500, "api_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := anthropicPost(t, srv.URL, tc.body, tc.hdr)
			raw, _ := io.ReadAll(resp.Body)
			var e struct {
				Type  string
				Error struct{ Type, Message string }
			}
			if err := json.Unmarshal(raw, &e); err != nil || resp.StatusCode != tc.status || e.Type != "error" || e.Error.Type != tc.typ {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
			if ra := tc.hdr["X-Mock-Retry-After"]; ra != "" && resp.Header.Get("Retry-After") != ra {
				t.Fatalf("retry-after %q", resp.Header.Get("Retry-After"))
			}
			if st, _ := anthropic.Error(resp.StatusCode, raw); st != tc.clientSt {
				t.Fatalf("client status %d, want %d", st, tc.clientSt)
			}
		})
	}
}
