package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/oais/oais/internal/usage"
)

// lastKeyUpstream is a hostile-by-accident upstream: it reads a request the
// way vLLM and most Python servers do, the last of two equal keys winning
// (encoding/json does the same; it also matches keys case-insensitively,
// as some servers do), and sends a stream's usage chunk only when what it
// parsed asks for it. Its answers have 5 visible words and 105 completion
// tokens, 100 of them reasoning: a gateway that estimates from the text
// bills 5.
type lastKeyUpstream struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newLastKeyUpstream(t *testing.T) *lastKeyUpstream {
	t.Helper()
	u := &lastKeyUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

const (
	hiddenUsage = `"usage":{"prompt_tokens":7,"completion_tokens":105,"total_tokens":112,"completion_tokens_details":{"reasoning_tokens":100}}`
	fiveWords   = "one two three four five"
)

func (u *lastKeyUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.bodies = append(u.bodies, body)
	u.mu.Unlock()
	var exact map[string]any // keys as written, last wins
	var folded struct {      // keys matched case-insensitively, last wins
		Stream        bool `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if json.Unmarshal(body, &exact) != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error","param":null,"code":null}}`, 400)
		return
	}
	_ = json.Unmarshal(body, &folded) // a non-object stream_options is no request for usage
	so, _ := exact["stream_options"].(map[string]any)
	include := so["include_usage"] == true && folded.StreamOptions != nil && folded.StreamOptions.IncludeUsage
	chat := strings.HasSuffix(r.URL.Path, "/chat/completions")
	if exact["stream"] != true {
		w.Header().Set("Content-Type", "application/json")
		if chat {
			fmt.Fprintf(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],%s}`, fiveWords, hiddenUsage)
		} else {
			fmt.Fprintf(w, `{"id":"x","object":"text_completion","choices":[{"index":0,"text":%q,"finish_reason":"stop"}],%s}`, fiveWords, hiddenUsage)
		}
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for _, word := range strings.Fields(fiveWords) {
		if chat {
			fmt.Fprintf(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", word+" ")
		} else {
			fmt.Fprintf(w, "data: {\"id\":\"x\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":%q}]}\n\n", word+" ")
		}
	}
	if include {
		fmt.Fprintf(w, "data: {\"id\":\"x\",\"choices\":[],%s}\n\n", hiddenUsage)
	}
	io.WriteString(w, "data: [DONE]\n\n")
}

func (u *lastKeyUpstream) last() []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.bodies[len(u.bodies)-1]
}

// topLevelKeys counts the top-level keys of body by their decoded name.
func topLevelKeys(t *testing.T, body []byte) map[string]int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("upstream body not an object: %s", body)
	}
	n := map[string]int{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		n[k.(string)]++
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// TestClientCannotSwitchOffUpstreamUsage: whatever a client puts in (or
// next to) stream_options, the upstream sees exactly one stream_options
// asking for usage, so the ledger gets the upstream's 105 completion tokens
// (reasoning included), never an estimate of the 5 visible words.
func TestClientCannotSwitchOffUpstreamUsage(t *testing.T) {
	up := newLastKeyUpstream(t)
	h := newHarness(t, harnessOpts{upstreamURL: up.URL + "/v1"})
	const msgs = `"messages":[{"role":"user","content":"think hard"}]`
	tests := []struct {
		name, path, body string
		stream           bool
		asked            bool              // the client asked for the usage chunk, so it sees it
		keep             map[string]string // stream_options members the upstream must still get
	}{
		{name: "absent", body: `{"model":"gpt-4o-mini","stream":true,` + msgs + `}`, stream: true},
		{name: "null", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":null,` + msgs + `}`, stream: true},
		{name: "false", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":false,` + msgs + `}`, stream: true},
		{name: "a number", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":5,` + msgs + `}`, stream: true},
		{name: "an array", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":[{"include_usage":true}],` + msgs + `}`, stream: true},
		{name: "include_usage false", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":false},` + msgs + `}`, stream: true},
		{name: "include_usage a string", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":"yes"},` + msgs + `}`, stream: true},
		{name: "other members kept", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":false},` + msgs + `}`,
			stream: true, keep: map[string]string{"include_obfuscation": "false"}},
		{name: "duplicate key, last one off", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},` + msgs + `,"stream_options":{"include_usage":false}}`, stream: true},
		{name: "duplicate key, last one null", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"stream_options":null,` + msgs + `}`, stream: true},
		{name: "escaped duplicate key", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"stream\u005foptions":null,` + msgs + `}`, stream: true},
		{name: "duplicate member, last one off", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true,"include_usage":false},` + msgs + `}`, stream: true},
		{name: "escaped duplicate member", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true,"include\u005fusage":false},` + msgs + `}`, stream: true},
		{name: "case-folded duplicate member", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true,"INCLUDE_USAGE":false},` + msgs + `}`, stream: true},
		{name: "client asked", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},` + msgs + `}`, stream: true, asked: true},
		{name: "client asked, with obfuscation", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true,"include_obfuscation":true},` + msgs + `}`,
			stream: true, asked: true, keep: map[string]string{"include_obfuscation": "true"}},
		{name: "not streamed, null", body: `{"model":"gpt-4o-mini","stream_options":null,` + msgs + `}`},
		{name: "not streamed, false", body: `{"model":"gpt-4o-mini","stream":false,"stream_options":{"include_usage":false},` + msgs + `}`},
		{name: "completions, null", path: "/v1/completions", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":null,"prompt":"think hard"}`, stream: true},
		{name: "completions, false", path: "/v1/completions", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":false,"prompt":"think hard"}`, stream: true},
		{name: "completions, duplicate key", path: "/v1/completions", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"stream_options":{"include_usage":false},"prompt":"think hard"}`, stream: true},
		{name: "completions, not streamed", path: "/v1/completions", body: `{"model":"gpt-4o-mini","stream_options":false,"prompt":"think hard"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/v1/chat/completions"
			}
			resp, body := h.do(t, "active", "POST", path, tt.body, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			rec := h.rec.next(t)
			if rec.CompletionTokens != 105 || rec.Source != usage.SourceUpstream {
				t.Fatalf("billed %d completion tokens (%s, %s), want the upstream's 105", rec.CompletionTokens, rec.Source, rec.EstimateReason)
			}
			sent := up.last()
			if !tt.stream {
				return
			}
			if n := topLevelKeys(t, sent)["stream_options"]; n != 1 {
				t.Fatalf("upstream got %d stream_options keys: %s", n, sent)
			}
			var got struct {
				StreamOptions map[string]json.RawMessage `json:"stream_options"`
			}
			if err := json.Unmarshal(sent, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"include_usage": "true"}
			for k, v := range tt.keep {
				want[k] = v
			}
			if len(got.StreamOptions) != len(want) {
				t.Fatalf("upstream stream_options %s, want %v", sent, want)
			}
			for k, v := range want {
				if string(got.StreamOptions[k]) != v {
					t.Fatalf("upstream stream_options %s, want %v", sent, want)
				}
			}
			if saw := strings.Contains(body, `"usage"`); saw != tt.asked {
				t.Fatalf("client saw the usage chunk: %v, want %v: %s", saw, tt.asked, body)
			}
		})
	}
}

// FuzzWithStreamUsage: for any object body, the rewritten one is valid
// JSON with exactly one stream_options (no twin by escape or case) whose
// include_usage every last-key-wins parser reads as true, and every other
// top-level key as often as the client sent it.
func FuzzWithStreamUsage(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add(s)
	}
	f.Add(`{"stream_options":{"include_usage":true},"stream\u005foptions":null}`)
	f.Add(`{"stream_options":{"include_usage":true,"INCLUDE_USAGE":false,"x":1,"x":2}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var q apiRequest
		if !json.Valid([]byte(body)) || !strings.HasPrefix(strings.TrimLeft(body, " \t\r\n"), "{") ||
			json.Unmarshal([]byte(body), &q) != nil || caseFoldedField([]byte(body)) {
			return // refused before a rewrite
		}
		out, _, err := withStreamUsage([]byte(body), q.StreamOptions == nil)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if !json.Valid(out) {
			t.Fatalf("%s -> invalid %s", body, out)
		}
		in, got := topLevelKeys(t, []byte(body)), topLevelKeys(t, out)
		for k, n := range got {
			if strings.EqualFold(k, "stream_options") {
				if k != "stream_options" || n != 1 {
					t.Fatalf("%s -> %s: %d × %q", body, out, n, k)
				}
			} else if in[k] != n {
				t.Fatalf("%s -> %s: %q %d times, sent %d", body, out, k, n, in[k])
			}
		}
		var exact struct {
			StreamOptions map[string]any `json:"stream_options"`
		}
		var folded struct {
			StreamOptions struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		if json.Unmarshal(out, &exact) != nil || json.Unmarshal(out, &folded) != nil ||
			exact.StreamOptions["include_usage"] != true || !folded.StreamOptions.IncludeUsage {
			t.Fatalf("%s -> %s: usage not asked for", body, out)
		}
	})
}
