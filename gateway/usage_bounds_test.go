package gateway

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oais/oais/internal/prices"
	"github.com/oais/oais/internal/pricing"
	"github.com/oais/oais/internal/usage"
)

// hostileUpstream answers chat completions, plain or streamed, with a fixed
// text and whatever usage object it is told to report.
type hostileUpstream struct {
	srv   *httptest.Server
	usage atomic.Value // string: the raw usage object
}

const hostileText = "Hello there, general. This answer is short and honest."

func newHostileUpstream(t *testing.T) *hostileUpstream {
	t.Helper()
	u := &hostileUpstream{}
	u.usage.Store(`{"prompt_tokens":1,"completion_tokens":1}`)
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		usage := u.usage.Load().(string)
		if bytes.Contains(body, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, `data: {"choices":[{"index":0,"delta":{"content":"`+hostileText+`"}}]}`+"\n\n")
			_, _ = io.WriteString(w, `data: {"choices":[],"usage":`+usage+`}`+"\n\n")
			_, _ = io.WriteString(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"`+
			hostileText+`"},"finish_reason":"stop"}],"usage":`+usage+`}`)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// lockedBuffer is a log sink for a test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestImplausibleUpstreamUsage is the attack of a hostile upstream (a
// workspace's own, set by any of its admins): usage counts of 9e18, the
// largest int64, negatives, 1e30 and non-integers. They wrapped the
// workspace's totals negative and saturated its cost. Each request is
// still recorded exactly once, with the usage the gateway can vouch for
// (its own count of the prompt, an estimate of the text it relayed), and
// flagged: estimate reason, a metric, a warning at most once a minute per
// workspace.
func TestImplausibleUpstreamUsage(t *testing.T) {
	up := newHostileUpstream(t)
	logs := &lockedBuffer{}
	var now atomic.Int64
	now.Store(time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	h := newHarness(t, harnessOpts{upstreamURL: up.srv.URL + "/v1", cfg: Config{
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Now:    func() time.Time { return time.Unix(0, now.Load()).UTC() },
	}})
	hostile := []struct{ name, usage string }{
		{"prompt 9e18", `{"prompt_tokens":9e18,"completion_tokens":5}`},
		{"prompt max int64", `{"prompt_tokens":9223372036854775807,"completion_tokens":5}`},
		{"prompt negative", `{"prompt_tokens":-5,"completion_tokens":5}`},
		{"both 1e30", `{"prompt_tokens":1e30,"completion_tokens":1e30}`},
		{"prompt a fraction", `{"prompt_tokens":12.5,"completion_tokens":5}`},
		{"prompt a string", `{"prompt_tokens":"12","completion_tokens":5}`},
		{"completion past the ceiling", `{"prompt_tokens":5,"completion_tokens":10000001}`},
		{"completion max int64", `{"prompt_tokens":5,"completion_tokens":9223372036854775807}`},
		{"cached past the ceiling", `{"prompt_tokens":5,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":99999999999}}`},
		{"cached negative", `{"prompt_tokens":5,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":-1}}`},
	}
	sent := 0
	for _, tc := range hostile {
		for _, stream := range []bool{false, true} {
			name := tc.name
			body := chatBody
			if stream {
				name += ", stream"
				body = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello world"}]}`
			}
			t.Run(name, func(t *testing.T) {
				up.usage.Store(tc.usage)
				resp, got := h.do(t, "active", "POST", "/v1/chat/completions", body, nil)
				sent++
				if resp.StatusCode != 200 || !strings.Contains(got, "Hello there, general.") {
					t.Fatalf("%d %s: the answer itself must still pass", resp.StatusCode, got)
				}
				rec := h.rec.next(t)
				if rec.Source != usage.SourceEstimated || rec.EstimateReason != "implausible_upstream_usage" {
					t.Fatalf("record source %q reason %q; want estimated, implausible_upstream_usage", rec.Source, rec.EstimateReason)
				}
				if rec.PromptTokens <= 0 || rec.PromptTokens > 100 {
					t.Fatalf("prompt tokens %d; want the gateway's own count of a two-word prompt", rec.PromptTokens)
				}
				if rec.CompletionTokens <= 0 || rec.CompletionTokens > 100 {
					t.Fatalf("completion tokens %d; want an estimate of the relayed text", rec.CompletionTokens)
				}
				if rec.CachedTokens != 0 {
					t.Fatalf("cached tokens %d; an upstream that lies about usage gets no cache discount", rec.CachedTokens)
				}
				if want := rec.PromptTokens + 2*rec.CompletionTokens; rec.CostMicros != want {
					t.Fatalf("cost %d, want %d", rec.CostMicros, want)
				}
				settled := h.lim.settles[len(h.lim.settles)-1]
				for _, v := range settled {
					if v < 0 || v > 2*usage.MaxTokens {
						t.Fatalf("counters settled with %v", settled)
					}
				}
			})
		}
	}
	// The control: a sane report is taken as it is.
	up.usage.Store(`{"prompt_tokens":7,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":2}}`)
	if resp, _ := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, nil); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	if rec := h.rec.next(t); rec.Source != usage.SourceUpstream || rec.PromptTokens != 7 || rec.CompletionTokens != 3 || rec.CachedTokens != 2 {
		t.Fatalf("sane usage recorded as %+v", rec)
	}
	if h.rec.count() != sent+1 {
		t.Fatalf("%d records for %d requests", h.rec.count(), sent+1)
	}

	metric := func() string {
		_, m := h.do(t, "", "GET", "/metrics", "", nil)
		for _, line := range strings.Split(m, "\n") {
			if strings.HasPrefix(line, "oais_gateway_implausible_usage_total{") {
				return line
			}
		}
		return ""
	}
	if got, want := metric(), `oais_gateway_implausible_usage_total{workspace="ws_1"} `; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, " "+itoa(sent)) {
		t.Fatalf("metric line %q; want %s%d", got, want, sent)
	}
	warnings := func() int { return strings.Count(logs.String(), "implausible upstream usage") }
	if n := warnings(); n != 1 {
		t.Fatalf("%d warnings in one minute for one workspace, want 1:\n%s", n, logs)
	}
	// A minute later the next one is logged again.
	now.Add(int64(time.Minute))
	up.usage.Store(`{"prompt_tokens":-1,"completion_tokens":1}`)
	if resp, _ := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, nil); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	h.rec.next(t)
	if n := warnings(); n != 2 {
		t.Fatalf("%d warnings after a minute, want 2", n)
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// TestUnpricedModelRefused: a model the price table does not list is
// refused before anything is reserved or sent upstream, with an
// OpenAI-shaped 400 that names it, unless the site set a price for
// unpriced models; a listed one is reserved and billed at its own price,
// never a prefix's.
func TestUnpricedModelRefused(t *testing.T) {
	site := pricing.Price{InputMicrosPerMTok: 3_000_000, CachedInputMicrosPerMTok: 3_000_000, OutputMicrosPerMTok: 9_000_000}
	tests := []struct {
		name     string
		unpriced *pricing.Price
		model    string
		status   int
		price    pricing.Price // what the record is billed at
	}{
		{name: "unknown model", model: "llama-3-70b", status: 400},
		{name: "unlisted snapshot", model: "gpt-4o-mini-2099-01-01", status: 400},
		{name: "listed model", model: "gpt-4o-mini", status: 200, price: pricing.Price{InputMicrosPerMTok: 150_000, CachedInputMicrosPerMTok: 75_000, OutputMicrosPerMTok: 600_000}},
		{name: "pro model at its own price", model: "O3-PRO", status: 200, price: pricing.Price{InputMicrosPerMTok: 20_000_000, CachedInputMicrosPerMTok: 20_000_000, OutputMicrosPerMTok: 80_000_000}},
		{name: "unknown model at the site's price", unpriced: &site, model: "llama-3-70b", status: 200, price: site},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{pricer: prices.NewLive(pricing.Defaults(), tt.unpriced)})
			body := `{"model":"` + tt.model + `","messages":[{"role":"user","content":"Hello world"}]}`
			resp, got := h.do(t, "active", "POST", "/v1/chat/completions", body, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, got, tt.status)
			}
			if tt.status != 200 {
				e := decodeErr(t, got)
				if e.Error.Code != "model_not_priced" || e.Error.Type != "invalid_request_error" ||
					!strings.Contains(e.Error.Message, tt.model) || !strings.Contains(e.Error.Message, "ask your admin") {
					t.Fatalf("error %+v", e.Error)
				}
				if h.upstreamCalls() != 0 || h.lim.reserves != 0 {
					t.Fatalf("an unpriced request reached the upstream (%d) or the limiter (%d)", h.upstreamCalls(), h.lim.reserves)
				}
				return
			}
			rec := h.rec.next(t)
			if want := tt.price.Cost(rec.PromptTokens, rec.CachedTokens, rec.CompletionTokens); rec.CostMicros != want || want == 0 {
				t.Fatalf("billed %d micro-dollars, want %d", rec.CostMicros, want)
			}
		})
	}
}
