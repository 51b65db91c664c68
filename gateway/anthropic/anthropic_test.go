package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go"
)

// The golden files under testdata/golden are written by the translation
// when OAIS_UPDATE_GOLDEN=1 and compared with it otherwise (STYLE rule 16).
// The inputs beside them are recorded shapes of Anthropic's documented
// answers and streams.

const fixedNow = 1700000000

func TestMain(m *testing.M) {
	now = func() int64 { return fixedNow }
	os.Exit(m.Run())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if os.Getenv("OAIS_UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with OAIS_UPDATE_GOLDEN=1)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func fixtures(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", dir, err)
	}
	return files
}

func TestRequestGolden(t *testing.T) {
	for _, f := range fixtures(t, "requests") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Request(body, "claude-upstream")
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(out) {
				t.Fatalf("invalid JSON: %s", out)
			}
			golden(t, "requests/"+filepath.Base(f), append(out, '\n'))
		})
	}
}

// decode turns a translated request into a generic value for the table.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return m
}

func TestRequest(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		check func(t *testing.T, m map[string]any)
	}{
		{"default max_tokens", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, func(t *testing.T, m map[string]any) {
			if m["max_tokens"] != float64(DefaultMaxTokens) || m["model"] != "claude-upstream" {
				t.Fatalf("%v", m)
			}
			if _, ok := m["stream"]; ok {
				t.Fatalf("stream set: %v", m)
			}
		}},
		{"max_completion_tokens wins over max_tokens", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":9,"max_completion_tokens":7}`, func(t *testing.T, m map[string]any) {
			if m["max_tokens"] != float64(7) {
				t.Fatalf("%v", m)
			}
		}},
		{"max_tokens", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":9}`, func(t *testing.T, m map[string]any) {
			if m["max_tokens"] != float64(9) {
				t.Fatalf("%v", m)
			}
		}},
		{"system and developer become the system prompt", `{"messages":[{"role":"system","content":"a"},{"role":"user","content":"hi"},{"role":"developer","content":"b"}]}`, func(t *testing.T, m map[string]any) {
			sys := m["system"].([]any)
			if len(sys) != 2 || sys[0].(map[string]any)["text"] != "a" || sys[1].(map[string]any)["text"] != "b" {
				t.Fatalf("%v", m["system"])
			}
			if msgs := m["messages"].([]any); len(msgs) != 1 {
				t.Fatalf("%v", msgs)
			}
		}},
		{"consecutive turns merge, tool results first", `{"messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"},{"role":"user","content":"more"}]}`, func(t *testing.T, m map[string]any) {
			msgs := m["messages"].([]any)
			if len(msgs) != 3 {
				t.Fatalf("%v", msgs)
			}
			last := msgs[2].(map[string]any)
			blocks := last["content"].([]any)
			if last["role"] != "user" || len(blocks) != 2 || blocks[0].(map[string]any)["type"] != "tool_result" || blocks[0].(map[string]any)["tool_use_id"] != "c1" {
				t.Fatalf("%v", last)
			}
			use := msgs[1].(map[string]any)["content"].([]any)[0].(map[string]any)
			if use["type"] != "tool_use" || use["name"] != "f" || use["id"] != "c1" {
				t.Fatalf("%v", use)
			}
		}},
		{"images", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,AAAA"}},{"type":"image_url","image_url":{"url":"https://x.test/a.png"}}]}]}`, func(t *testing.T, m map[string]any) {
			blocks := m["messages"].([]any)[0].(map[string]any)["content"].([]any)
			b64 := blocks[0].(map[string]any)["source"].(map[string]any)
			url := blocks[1].(map[string]any)["source"].(map[string]any)
			if b64["type"] != "base64" || b64["media_type"] != "image/jpeg" || b64["data"] != "AAAA" || url["type"] != "url" || url["url"] != "https://x.test/a.png" {
				t.Fatalf("%v", blocks)
			}
		}},
		{"tool_choice none", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","parallel_tool_calls":false}`, func(t *testing.T, m map[string]any) {
			tc := m["tool_choice"].(map[string]any)
			if tc["type"] != "none" || tc["disable_parallel_tool_use"] != nil {
				t.Fatalf("%v", tc)
			}
			schema := m["tools"].([]any)[0].(map[string]any)["input_schema"].(map[string]any)
			if schema["type"] != "object" {
				t.Fatalf("%v", schema)
			}
		}},
		{"parallel_tool_calls false", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"parallel_tool_calls":false}`, func(t *testing.T, m map[string]any) {
			tc := m["tool_choice"].(map[string]any)
			if tc["type"] != "auto" || tc["disable_parallel_tool_use"] != true {
				t.Fatalf("%v", tc)
			}
		}},
		{"empty text parts dropped", `{"messages":[{"role":"user","content":[{"type":"text","text":""},{"type":"text","text":"x"}]},{"role":"assistant","content":[{"type":"text","text":""}]}]}`, func(t *testing.T, m map[string]any) {
			msgs := m["messages"].([]any)
			if len(msgs) != 1 || len(msgs[0].(map[string]any)["content"].([]any)) != 1 {
				t.Fatalf("%v", msgs)
			}
		}},
		{"stop string", `{"messages":[{"role":"user","content":"hi"}],"stop":"x","stream":true}`, func(t *testing.T, m map[string]any) {
			if s := m["stop_sequences"].([]any); len(s) != 1 || s[0] != "x" || m["stream"] != true {
				t.Fatalf("%v", m)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Request([]byte(c.body), "claude-upstream")
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, decode(t, out))
		})
	}
}

// TestRequestRefuses: what the Messages API cannot carry is refused with
// a message that names the field, never dropped silently.
func TestRequestRefuses(t *testing.T) {
	const user = `"messages":[{"role":"user","content":"hi"}]`
	cases := []struct{ name, body, says string }{
		{"n > 1", `{` + user + `,"n":2}`, "n > 1"},
		{"logprobs", `{` + user + `,"logprobs":true}`, "logprobs"},
		{"top_logprobs", `{` + user + `,"top_logprobs":3}`, "logprobs"},
		{"logit_bias", `{` + user + `,"logit_bias":{"50256":-100}}`, "logit_bias"},
		{"presence_penalty", `{` + user + `,"presence_penalty":0.5}`, "presence_penalty"},
		{"frequency_penalty", `{` + user + `,"frequency_penalty":0.5}`, "frequency_penalty"},
		{"temperature above 1", `{` + user + `,"temperature":1.5}`, "temperature"},
		{"json response format", `{` + user + `,"response_format":{"type":"json_object"}}`, "response_format"},
		{"audio", `{` + user + `,"modalities":["text","audio"],"audio":{"voice":"alloy"}}`, "audio"},
		{"legacy functions", `{` + user + `,"functions":[{"name":"f"}]}`, "functions"},
		{"function role", `{"messages":[{"role":"function","name":"f","content":"x"}]}`, "role function"},
		{"unknown role", `{"messages":[{"role":"robot","content":"x"}]}`, "robot"},
		{"audio part", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`, "input_audio"},
		{"file image URL", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]}`, "image_url"},
		{"data URL without base64", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`, "base64"},
		{"tool arguments not an object", `{"messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"[1"}}]}]}`, "JSON object"},
		{"tool message without id", `{"messages":[{"role":"tool","content":"x"}]}`, "tool_call_id"},
		{"non-function tool", `{` + user + `,"tools":[{"type":"web_search"}]}`, "web_search"},
		{"bad tool_choice", `{` + user + `,"tool_choice":"sometimes"}`, "tool_choice"},
		{"no messages", `{"messages":[{"role":"system","content":"x"}]}`, "at least one"},
		{"zero max_tokens", `{` + user + `,"max_tokens":0}`, "max_tokens"},
		{"empty user message", `{"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, "needs content"},
		{"not JSON", `{"messages":`, "not a valid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Request([]byte(c.body), "m")
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %v, want ErrUnsupported saying %q", err, c.says)
			}
		})
	}
}

func TestResponseGolden(t *testing.T) {
	for _, f := range fixtures(t, "responses") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Response(body, "gpt-4o")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "responses/"+filepath.Base(f), append(out, '\n'))
		})
	}
}

// TestResponse reads the translated answers the way the official SDK does.
func TestResponse(t *testing.T) {
	cases := []struct {
		file                  string
		content, finish       string
		prompt, compl, cached int64
		tools                 []string // name=arguments
	}{
		{"text.json", "Hi! My name is Claude.", "stop", 2095, 503, 0, nil},
		{"tool_use.json", "I'll check the current weather in San Francisco for you.", "tool_calls", 384, 79, 0,
			[]string{`get_weather={"location":"San Francisco, CA","unit":"celsius"}`}},
		{"cache_stop_sequence.json", "1, 2, 3", "stop", 21 + 188086, 393, 0, nil},
		{"tool_only.json", "", "tool_calls", 150, 20, 100,
			[]string{`lookup={}`, `search={"q":"a \"quoted\" <term>"}`}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "responses", c.file))
			if err != nil {
				t.Fatal(err)
			}
			out, err := Response(body, "gpt-4o")
			if err != nil {
				t.Fatal(err)
			}
			var cc openai.ChatCompletion
			if err := json.Unmarshal(out, &cc); err != nil {
				t.Fatal(err)
			}
			ch := cc.Choices[0]
			if cc.Object != "chat.completion" || cc.Model != "gpt-4o" || cc.Created != fixedNow || !strings.HasPrefix(cc.ID, "msg_") {
				t.Fatalf("head %s", out)
			}
			if ch.Message.Content != c.content || ch.FinishReason != c.finish {
				t.Fatalf("message %s", out)
			}
			u := cc.Usage
			if u.PromptTokens != c.prompt || u.CompletionTokens != c.compl || u.TotalTokens != c.prompt+c.compl || u.PromptTokensDetails.CachedTokens != c.cached {
				t.Fatalf("usage %s", out)
			}
			var tools []string
			for _, tc := range ch.Message.ToolCalls {
				tools = append(tools, tc.Function.Name+"="+tc.Function.Arguments)
			}
			if strings.Join(tools, "|") != strings.Join(c.tools, "|") {
				t.Fatalf("tool calls %q, want %q", tools, c.tools)
			}
		})
	}
	t.Run("not a message", func(t *testing.T) {
		if _, err := Response([]byte(`{"type":"error","error":{"type":"api_error","message":"x"}}`), "m"); err == nil {
			t.Fatal("an error body translated as an answer")
		}
	})
}

func TestFinishReason(t *testing.T) {
	for in, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
		"refusal": "content_filter", "pause_turn": "stop", "": "stop", "model_context_window_exceeded": "length",
	} {
		if got := FinishReason(in); got != want {
			t.Errorf("FinishReason(%q) = %q, want %q", in, got, want)
		}
	}
}

type sse struct{ name, data []byte }

// readSSE splits a recorded stream into its events.
func readSSE(t *testing.T, path string) []sse {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []sse
	for _, ev := range strings.Split(string(raw), "\n\n") {
		var e sse
		for _, line := range strings.Split(ev, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				e.name = []byte(v)
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				e.data = []byte(v)
			}
		}
		if e.data != nil {
			out = append(out, e)
		}
	}
	return out
}

func translate(t *testing.T, events []sse, s *Stream) []byte {
	t.Helper()
	var out []byte
	for _, e := range events {
		var err error
		if out, err = s.Event(out, e.name, e.data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// chunks parses the translated stream as the SDK would: every event is a
// data line; it returns the JSON payloads and whether [DONE] ended it.
func chunks(t *testing.T, out []byte) (payloads [][]byte, done bool) {
	t.Helper()
	for _, ev := range strings.SplitAfter(string(out), "\n\n") {
		if ev == "" {
			continue
		}
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || !strings.HasSuffix(data, "\n\n") {
			t.Fatalf("not an SSE data event: %q", ev)
		}
		data = strings.TrimSuffix(data, "\n\n")
		if done {
			t.Fatalf("event after [DONE]: %q", data)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		if !json.Valid([]byte(data)) {
			t.Fatalf("invalid JSON: %s", data)
		}
		payloads = append(payloads, []byte(data))
	}
	return payloads, done
}

func TestStreamGolden(t *testing.T) {
	for _, f := range fixtures(t, "streams") {
		for _, usage := range []bool{false, true} {
			name := strings.TrimSuffix(filepath.Base(f), ".sse")
			if usage {
				name += "_usage"
			}
			t.Run(name, func(t *testing.T) {
				s := Stream{Model: "gpt-4o", IncludeUsage: usage}
				golden(t, "streams/"+name+".txt", translate(t, readSSE(t, f), &s))
			})
		}
	}
}

// TestStream accumulates the translated streams with the official SDK's
// accumulator: what a client of the gateway ends up with.
func TestStream(t *testing.T) {
	cases := []struct {
		file                  string
		content, finish       string
		prompt, compl, cached int64
		tools                 []string
	}{
		{"text.sse", "Hello!", "stop", 25, 15, 0, nil},
		{"tool_use.sse", "Okay,  let's check the weather for San Francisco, CA:", "tool_calls", 472, 89, 0,
			[]string{`toolu_01T1x1fJ34qAmk2tNTrN7Up6 get_weather={"location": "San Francisco, CA", "unit": "fahrenheit"}`}},
		{"thinking_cache.sse", "The greatest common divisor of 1071 and 462 is **21**.\n\n\"Euclid\" <said> é \u2028", "length", 2060, 64, 2048, nil},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			s := Stream{Model: "gpt-4o", IncludeUsage: true}
			payloads, done := chunks(t, translate(t, readSSE(t, filepath.Join("testdata", "streams", c.file)), &s))
			if !done {
				t.Fatal("no [DONE]")
			}
			var acc openai.ChatCompletionAccumulator
			for _, p := range payloads {
				var ch openai.ChatCompletionChunk
				if err := json.Unmarshal(p, &ch); err != nil {
					t.Fatal(err)
				}
				if ch.Model != "gpt-4o" || ch.Object != "chat.completion.chunk" || !strings.HasPrefix(ch.ID, "msg_") {
					t.Fatalf("chunk head %s", p)
				}
				if !acc.AddChunk(ch) {
					t.Fatalf("the accumulator refused %s", p)
				}
			}
			ch := acc.Choices[0]
			if ch.Message.Content != c.content || ch.FinishReason != c.finish {
				t.Fatalf("content %q finish %q", ch.Message.Content, ch.FinishReason)
			}
			var tools []string
			for _, tc := range ch.Message.ToolCalls {
				tools = append(tools, tc.ID+" "+tc.Function.Name+"="+tc.Function.Arguments)
			}
			if strings.Join(tools, "|") != strings.Join(c.tools, "|") {
				t.Fatalf("tool calls %q, want %q", tools, c.tools)
			}
			// The usage chunk is last, with no choices (OpenAI's shape).
			var last openai.ChatCompletionChunk
			_ = json.Unmarshal(payloads[len(payloads)-1], &last)
			if len(last.Choices) != 0 || last.Usage.PromptTokens != c.prompt || last.Usage.CompletionTokens != c.compl || last.Usage.PromptTokensDetails.CachedTokens != c.cached {
				t.Fatalf("usage chunk %s", payloads[len(payloads)-1])
			}
			u, ok := s.Usage()
			if !ok || u.PromptTokens() != c.prompt || u.OutputTokens != c.compl {
				t.Fatalf("Usage() = %+v %v", u, ok)
			}
		})
	}
	t.Run("no usage chunk unless asked", func(t *testing.T) {
		s := Stream{Model: "gpt-4o"}
		payloads, done := chunks(t, translate(t, readSSE(t, filepath.Join("testdata", "streams", "text.sse")), &s))
		if !done || bytes.Contains(bytes.Join(payloads, nil), []byte(`"usage"`)) {
			t.Fatalf("%s", bytes.Join(payloads, []byte("\n")))
		}
	})
	t.Run("events without names", func(t *testing.T) {
		events := readSSE(t, filepath.Join("testdata", "streams", "text.sse"))
		for i := range events {
			events[i].name = nil
		}
		s := Stream{Model: "gpt-4o", IncludeUsage: true}
		named := Stream{Model: "gpt-4o", IncludeUsage: true}
		if a, b := translate(t, events, &s), translate(t, readSSE(t, filepath.Join("testdata", "streams", "text.sse")), &named); !bytes.Equal(a, b) {
			t.Fatalf("by type:\n%s\nby name:\n%s", a, b)
		}
	})
}

// TestStreamError: a mid-stream error event reaches the client as an
// OpenAI error event (which the SDK raises), never as a clean [DONE].
func TestStreamError(t *testing.T) {
	s := Stream{Model: "gpt-4o", IncludeUsage: true}
	out := translate(t, readSSE(t, filepath.Join("testdata", "streams", "error.sse")), &s)
	payloads, done := chunks(t, out)
	if done {
		t.Fatal("[DONE] after an error")
	}
	var e struct {
		Error struct{ Message, Type, Code string }
	}
	if err := json.Unmarshal(payloads[len(payloads)-1], &e); err != nil || e.Error.Code != "upstream_overloaded" || e.Error.Message != "Overloaded" {
		t.Fatalf("last event %s", payloads[len(payloads)-1])
	}
	// Nothing after the end.
	if more, _ := s.Event(nil, []byte("message_stop"), []byte(`{"type":"message_stop"}`)); len(more) != 0 {
		t.Fatalf("events after the error: %s", more)
	}
}

// TestError is the one mapping of Anthropic's error answers (STYLE rule 11).
func TestError(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		body       string
		wantStatus int
		wantType   string
		wantCode   string
		wantMsg    string // a substring
	}{
		{"invalid request", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate"},"request_id":"req_1"}`, 400, "invalid_request_error", "invalid_request_error", "roles must alternate"},
		{"channel key refused", 401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, 502, "upstream_error", "upstream_auth_failed", "administrator"},
		{"channel forbidden", 403, `{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}`, 502, "upstream_error", "upstream_auth_failed", "permission_error"},
		{"channel out of credit", 402, `{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low."}}`, 502, "upstream_error", "upstream_auth_failed", "billing_error"},
		{"not found", 404, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}`, 404, "invalid_request_error", "not_found", "claude-nope"},
		{"too large", 413, `{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}`, 413, "invalid_request_error", "request_too_large", "maximum"},
		{"rate limited", 429, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`, 429, "rate_limit_error", "rate_limit_exceeded", "per-minute"},
		{"api error", 500, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, 500, "server_error", "upstream_error", "Internal server error"},
		{"overloaded", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, 503, "server_error", "upstream_overloaded", "Overloaded"},
		{"timeout", 504, `{"type":"error","error":{"type":"timeout_error","message":"Request timed out"}}`, 504, "server_error", "upstream_timeout", "timed out"},
		{"html from a proxy", 502, `<html>Bad Gateway</html>`, 502, "server_error", "upstream_error", "502 Bad Gateway"},
		{"empty 529", 529, ``, 503, "server_error", "upstream_overloaded", "529"},
		{"empty 401", 401, ``, 502, "upstream_error", "upstream_auth_failed", "administrator"},
		{"quotes in message", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"bad \"x\"\n"}}`, 400, "invalid_request_error", "invalid_request_error", `bad "x"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, body := Error(c.status, []byte(c.body))
			var e struct {
				Error struct {
					Message, Type string
					Code          string
					Param         *string
				}
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if st != c.wantStatus || e.Error.Type != c.wantType || e.Error.Code != c.wantCode || !strings.Contains(e.Error.Message, c.wantMsg) {
				t.Fatalf("got %d %s", st, body)
			}
			if c.wantStatus == http.StatusBadGateway && c.wantCode == "upstream_auth_failed" && strings.Contains(e.Error.Message, "x-api-key") {
				t.Fatalf("the provider's words about the channel's key reached the client: %s", body)
			}
		})
	}
}

// FuzzStreamEvent: whatever an upstream sends, Event never panics, and
// what it writes is whole SSE data events holding valid JSON.
func FuzzStreamEvent(f *testing.F) {
	for _, file := range []string{"text.sse", "tool_use.sse", "thinking_cache.sse", "error.sse"} {
		raw, _ := os.ReadFile(filepath.Join("testdata", "streams", file))
		for _, ev := range strings.Split(string(raw), "\n\n") {
			name, data, _ := strings.Cut(ev, "\ndata: ")
			f.Add(strings.TrimPrefix(name, "event: "), data, true)
		}
	}
	f.Add("content_block_delta", `{"index":99999999999,"delta":{"type":"input_json_delta","partial_json":"\u12"}}`, false)
	f.Add("", `{"type":"message_start","message":{"id":"\"","usage":{"input_tokens":-1}}}`, false)
	f.Fuzz(func(t *testing.T, name, data string, usage bool) {
		s := Stream{Model: "m\"odel", IncludeUsage: usage}
		// Open a tool block first, so that deltas reach the tool path.
		out, _ := s.Event(nil, []byte("content_block_start"), []byte(`{"index":1,"content_block":{"type":"tool_use","id":"t","name":"n"}}`))
		out, _ = s.Event(out, []byte(name), []byte(data))
		out, _ = s.Event(out, []byte(""), []byte(data))
		out, _ = s.Event(out, []byte("message_stop"), []byte(`{"type":"message_stop"}`))
		for _, ev := range strings.SplitAfter(string(out), "\n\n") {
			if ev == "" {
				continue
			}
			d, ok := strings.CutPrefix(ev, "data: ")
			d = strings.TrimSuffix(d, "\n\n")
			if !ok || d != "[DONE]" && !json.Valid([]byte(d)) {
				t.Fatalf("bad event %q from %q %q", ev, name, data)
			}
		}
	})
}

func BenchmarkStreamTextDelta(b *testing.B) {
	s := Stream{Model: "gpt-4o", IncludeUsage: true}
	dst, _ := s.Event(nil, []byte("message_start"), []byte(`{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":25,"output_tokens":1}}}`))
	name := []byte("content_block_delta")
	data := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there, how"}}`)
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = s.Event(dst[:0], name, data)
	}
}
