package route

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/oais/oais/gateway/anthropic"
)

// TestSSETranslatorSplits feeds recorded Anthropic streams to the
// translator whole, a byte at a time, and with CRLF line ends, without a
// final blank line: every way gives the same OpenAI events, ending in
// [DONE].
func TestSSETranslatorSplits(t *testing.T) {
	for _, name := range []string{"text.sse", "tool_use.sse", "thinking_cache.sse"} {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile("../anthropic/testdata/streams/" + name)
			if err != nil {
				t.Fatal(err)
			}
			run := func(r io.Reader) string {
				t.Helper()
				tr := &sseTranslator{src: io.NopCloser(r), s: anthropic.Stream{Model: "gpt-4o", IncludeUsage: true}}
				out, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				return string(out)
			}
			whole := run(bytes.NewReader(src))
			if !strings.HasSuffix(whole, "data: [DONE]\n\n") || !strings.Contains(whole, `"usage":{`) {
				t.Fatalf("translated stream %s", whole)
			}
			tests := map[string]io.Reader{
				"byte by byte":       iotest.OneByteReader(bytes.NewReader(src)),
				"CRLF":               bytes.NewReader(bytes.ReplaceAll(src, []byte("\n"), []byte("\r\n"))),
				"no last blank line": bytes.NewReader(bytes.TrimRight(src, "\n")),
			}
			for how, r := range tests {
				if got := run(r); got != whole {
					t.Errorf("%s: %s\nwant %s", how, got, whole)
				}
			}
		})
	}
}

func TestSetModel(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"model":"a","messages":[]}`, `{"model":"b","messages":[]}`},
		{`{ "messages":[{"model":"x"}], "model" : "a" }`, `{ "messages":[{"model":"x"}], "model" : "b" }`},
		{`{"mod\u0065l":"a"}`, `{"mod\u0065l":"b"}`},
		{`{"model":"a","model":"c"}`, `{"model":"b","model":"b"}`},
		{`{"other":1}`, `{"other":1}`},
	}
	for _, tt := range tests {
		if got := string(SetModel([]byte(tt.in), "b")); got != tt.want {
			t.Errorf("SetModel(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestPinned(t *testing.T) {
	tests := []struct {
		name, path, body string
		want             bool
	}{
		{"previous_response_id", "/responses", `{"model":"gpt-4o","previous_response_id":"resp_1","input":"hi"}`, true},
		{"escaped key", "/responses", `{"previous_response_id\u0000":"x","previous_respons\u0065_id":"resp_1"}`, true},
		{"conversation", "/responses", `{"conversation":{"id":"conv_1"},"input":"hi"}`, true},
		{"null", "/responses", `{"previous_response_id":null,"input":"hi"}`, false},
		{"nested, not top-level", "/responses", `{"input":[{"previous_response_id":"resp_1"}]}`, false},
		{"absent", "/responses", `{"model":"gpt-4o","input":"hi"}`, false},
		{"chat completions are never pinned", "/chat/completions", `{"previous_response_id":"resp_1"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Pinned(tt.path, []byte(tt.body)); got != tt.want {
				t.Fatalf("Pinned(%s, %s) = %v, want %v", tt.path, tt.body, got, tt.want)
			}
		})
	}
}
