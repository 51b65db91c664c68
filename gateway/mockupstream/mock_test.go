package mockupstream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oais/oais/gateway/tokens"
)

func post(t *testing.T, url, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

type usageJSON struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello world"}]}`

func TestChatCompletion(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	tests := []struct {
		name      string
		hdr       map[string]string
		words     int
		wantUsage bool
	}{
		{name: "default", words: DefaultWords, wantUsage: true},
		{name: "three words", hdr: map[string]string{"X-Mock-Chunks": "3"}, words: 3, wantUsage: true},
		{name: "no usage", hdr: map[string]string{"X-Mock-No-Usage": "1"}, words: DefaultWords},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, srv.URL+"/v1/chat/completions", chatBody, tt.hdr)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var got struct {
				Object  string `json:"object"`
				Choices []struct {
					Message struct{ Content string } `json:"message"`
				} `json:"choices"`
				Usage *usageJSON `json:"usage"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got.Object != "chat.completion" || len(got.Choices) != 1 || got.Choices[0].Message.Content != Answer(tt.words) {
				t.Fatalf("unexpected answer %+v", got)
			}
			if !tt.wantUsage {
				if got.Usage != nil {
					t.Fatalf("usage present: %+v", got.Usage)
				}
				return
			}
			want := usageJSON{PromptTokens: tokens.EstimateJSON("gpt-4o-mini", []byte(`[{"role":"user","content":"Hello world"}]`)), CompletionTokens: tt.words}
			want.TotalTokens = want.PromptTokens + want.CompletionTokens
			if got.Usage == nil || *got.Usage != want {
				t.Fatalf("usage = %+v, want %+v", got.Usage, want)
			}
		})
	}
}

// readEvents returns the data payloads of an SSE stream.
func readEvents(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, line)
		}
	}
	return out
}

func TestChatStream(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	tests := []struct {
		name       string
		body       string
		hdr        map[string]string
		wantEvents int // including [DONE]
		wantUsage  bool
	}{
		{name: "without usage", body: `{"model":"m","stream":true,"messages":[]}`, hdr: map[string]string{"X-Mock-Chunks": "2"}, wantEvents: 1 + 2 + 1 + 1},
		{name: "with usage", body: `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, hdr: map[string]string{"X-Mock-Chunks": "2"}, wantEvents: 1 + 2 + 1 + 1 + 1, wantUsage: true},
		{name: "usage asked but knob off", body: `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, hdr: map[string]string{"X-Mock-Chunks": "2", "X-Mock-No-Usage": "1"}, wantEvents: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, srv.URL+"/chat/completions", tt.body, tt.hdr)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("content type %q", ct)
			}
			ev := readEvents(t, resp.Body)
			if len(ev) != tt.wantEvents || ev[len(ev)-1] != "[DONE]" {
				t.Fatalf("events = %q", ev)
			}
			var text strings.Builder
			for _, e := range ev[:len(ev)-1] {
				var c struct {
					Choices []struct {
						Delta struct{ Content string } `json:"delta"`
					} `json:"choices"`
					Usage *usageJSON `json:"usage"`
				}
				if err := json.Unmarshal([]byte(e), &c); err != nil {
					t.Fatalf("chunk %q: %v", e, err)
				}
				for _, ch := range c.Choices {
					text.WriteString(ch.Delta.Content)
				}
				if c.Usage != nil && (len(c.Choices) != 0 || c.Usage.CompletionTokens != 2) {
					t.Fatalf("bad usage chunk %q", e)
				}
			}
			if text.String() != Answer(2) {
				t.Fatalf("streamed %q, want %q", text.String(), Answer(2))
			}
			if got := strings.Contains(ev[len(ev)-2], `"usage":{`); got != tt.wantUsage {
				t.Fatalf("usage chunk present = %v, want %v", got, tt.wantUsage)
			}
		})
	}
}

func TestStreamKnobs(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		hdr  map[string]string
		want int // data events before the cut
	}{
		{name: "cut after", hdr: map[string]string{"X-Mock-Cut-After": "2"}, want: 3},
		{name: "before chunk error", opts: Options{BeforeChunk: func(_ context.Context, i int) error {
			if i == 1 {
				return errors.New("die")
			}
			return nil
		}}, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(New(tt.opts))
			defer srv.Close()
			resp := post(t, srv.URL+"/chat/completions", `{"model":"m","stream":true,"messages":[]}`, tt.hdr)
			ev := readEvents(t, resp.Body)
			if len(ev) != tt.want {
				t.Fatalf("events = %q, want %d", ev, tt.want)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	srv := httptest.NewServer(New(Options{APIKey: "up-secret"}))
	defer srv.Close()
	auth := map[string]string{"Authorization": "Bearer up-secret"}
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		hdr        map[string]string
		wantStatus int
		wantIn     string
	}{
		{name: "models", method: http.MethodGet, path: "/v1/models", hdr: auth, wantStatus: 200, wantIn: `"id":"gpt-4o-mini"`},
		{name: "completions", method: http.MethodPost, path: "/completions", body: `{"model":"gpt-3.5-turbo-instruct","prompt":"Hello world"}`, hdr: auth, wantStatus: 200, wantIn: `"text":"This is a deterministic answer from the oais"`},
		{name: "embeddings", method: http.MethodPost, path: "/embeddings", body: `{"model":"text-embedding-3-small","input":["a","b"]}`, hdr: auth, wantStatus: 200, wantIn: `"index":1`},
		{name: "status knob", method: http.MethodPost, path: "/chat/completions", body: chatBody, hdr: map[string]string{"Authorization": "Bearer up-secret", "X-Mock-Status": "429"}, wantStatus: 429, wantIn: `"code":"rate_limit_exceeded"`},
		{name: "wrong key", method: http.MethodPost, path: "/chat/completions", body: chatBody, hdr: map[string]string{"Authorization": "Bearer nope"}, wantStatus: 401, wantIn: `invalid_api_key`},
		{name: "unknown", method: http.MethodPost, path: "/v1/nope", body: `{}`, hdr: auth, wantStatus: 404},
		{name: "bad json", method: http.MethodPost, path: "/chat/completions", body: `{`, hdr: auth, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(b), tt.wantIn) {
				t.Fatalf("got %d %s", resp.StatusCode, b)
			}
			if !json.Valid(b) {
				t.Fatalf("invalid JSON: %s", b)
			}
		})
	}
}

func TestInProcess(t *testing.T) {
	p := StartInProcess(New(Options{}))
	defer p.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: p.DialContext}}
	resp, err := client.Post(BaseURL+"/chat/completions", "application/json", strings.NewReader(chatBody))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func BenchmarkChat(b *testing.B) {
	s := New(Options{})
	tokens.Warm()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody))
		s.ServeHTTP(httptest.NewRecorder(), req)
	}
}
