package gateway

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	evRole  = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n"
	evWord  = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi \\\"there\\\"\"}}],\"usage\":null}\n\n"
	evUsage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":2}}}\n\n"
	evDone  = "data: [DONE]\n\n"
)

func TestSSEMeter(t *testing.T) {
	stream := evRole + evWord + evUsage + evDone
	tests := []struct {
		name      string
		in        string
		hide      bool
		oneByte   bool
		want      string
		wantUsage bool
	}{
		{name: "pass through", in: stream, want: stream, wantUsage: true},
		{name: "hide usage chunk", in: stream, hide: true, want: evRole + evWord + evDone, wantUsage: true},
		{name: "byte by byte", in: stream, hide: true, oneByte: true, want: evRole + evWord + evDone, wantUsage: true},
		{name: "crlf events", in: strings.ReplaceAll(stream, "\n", "\r\n"), hide: true,
			want: strings.ReplaceAll(evRole+evWord+evDone, "\n", "\r\n"), wantUsage: true},
		{name: "no usage", in: evRole + evWord + evDone, hide: true, want: evRole + evWord + evDone},
		{name: "trailing partial event", in: evRole + "data: {\"choices\"", want: evRole + "data: {\"choices\""},
		{name: "huge event", in: "data: " + strings.Repeat("x", sseMaxEvent+10) + "\n\n" + evUsage, hide: true,
			want: "data: " + strings.Repeat("x", sseMaxEvent+10) + "\n\n", wantUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src io.Reader = strings.NewReader(tt.in)
			if tt.oneByte {
				src = iotest.OneByteReader(src)
			}
			m := newSSEMeter(io.NopCloser(src), tt.hide)
			out, err := io.ReadAll(iotest.HalfReader(m))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Fatalf("relayed %q\nwant    %q", out, tt.want)
			}
			res := m.result()
			if res.hasUsage != tt.wantUsage {
				t.Fatalf("hasUsage %v", res.hasUsage)
			}
			if tt.wantUsage && (res.usage.PromptTokens != 7 || res.usage.CompletionTokens != 3 || res.usage.PromptTokensDetails.CachedTokens != 2) {
				t.Fatalf("usage %+v", res.usage)
			}
			_ = m.Close()
		})
	}
	t.Run("text kept for estimates", func(t *testing.T) {
		m := newSSEMeter(io.NopCloser(strings.NewReader(evRole+evWord+evWord)), false)
		_, _ = io.ReadAll(m)
		if got := string(m.result().text); got != `Hi \"there\"Hi \"there\"` {
			t.Fatalf("text %q", got)
		}
		if n := estimateText("gpt-4o", m.result().text, m.result().textBytes); n <= 0 {
			t.Fatalf("estimate %d", n)
		}
	})
}

func TestJSONMeter(t *testing.T) {
	small := `{"id":"x","choices":[{"message":{"content":"say \"usage\": {}"}}],"usage":{"prompt_tokens":5,"completion_tokens":9}}`
	big := `{"data":[` + strings.Repeat(`0.123456,`, 5000) + `1],"usage":{"prompt_tokens":11,"completion_tokens":0}}`
	head := `{"usage":{"prompt_tokens":4,"completion_tokens":1},"data":"` + strings.Repeat("y", 3*metaWindow) + `"}`
	tests := []struct {
		name             string
		in               string
		prompt, complete int64
		ok               bool
	}{
		{"small", small, 5, 9, true},
		{"usage in tail of a big body", big, 11, 0, true},
		{"usage in head", head, 4, 1, true},
		{"none", `{"id":"x"}`, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newJSONMeter(io.NopCloser(iotest.HalfReader(strings.NewReader(tt.in))))
			out, err := io.ReadAll(m)
			if err != nil || string(out) != tt.in {
				t.Fatalf("relay changed the body: %v", err)
			}
			r := m.result()
			if r.hasUsage != tt.ok || r.usage.PromptTokens != tt.prompt || r.usage.CompletionTokens != tt.complete {
				t.Fatalf("usage %+v %v", r.usage, r.hasUsage)
			}
		})
	}
}
