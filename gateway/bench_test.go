package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	neturl "net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/ratelimit"
	"github.com/oais/oais/gateway/route"
	"github.com/oais/oais/gateway/spool"
	"github.com/oais/oais/gateway/tokens"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/usage"
)

// BenchmarkAuthLookup is the per-request authentication cost: header parse,
// offline validation, hash, directory look-up.
func BenchmarkAuthLookup(b *testing.B) {
	dir := StaticDirectory{}
	var secret string
	for i := 0; i < 10_000; i++ {
		s, _ := keys.Generate()
		dir[s.Hash()] = &Principal{}
		secret = s.Reveal()
	}
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	b.ReportAllocs()
	for b.Loop() {
		s, ok := bearer(r)
		if !ok || !keys.Valid(s) {
			b.Fatal("rejected")
		}
		if _, ok := dir.Lookup(hashSecret(s)); !ok {
			b.Fatal("not found")
		}
	}
}

// benchGatewayChannels is a gateway on loopback in front of the mock on
// loopback, logging nothing, as a benchmark's fixture, whose workspace has
// n channels of one priority (weights 1, 2, 1, …), all to the mock: the
// cost of routing (none with n 0).
func benchGatewayChannels(b *testing.B, n int) (url, secret string, client *http.Client) {
	b.Helper()
	tokens.Warm()
	up := httptest.NewServer(mockupstream.New(mockupstream.Options{}))
	b.Cleanup(up.Close)
	s, _ := keys.Generate()
	// Limits high enough never to refuse, but set, so every counter and
	// header is computed as in production.
	p := &Principal{Key: KeyPolicy{ID: "key_bench", WorkspaceID: "ws_bench", State: keys.State{Status: keys.StatusActive}},
		Workspace: &WorkspacePolicy{ID: "ws_bench", RPM: 1 << 50, TPM: 1 << 50}}
	upURL, _ := neturl.Parse(up.URL + "/v1")
	for i := 0; i < n; i++ {
		p.Workspace.Channels = append(p.Workspace.Channels, &route.Channel{ID: "ch_" + strconv.Itoa(i), Name: "bench" + strconv.Itoa(i),
			Type: route.OpenAI, BaseURL: upURL, Priority: 1, Weight: 1 + i%2, Enabled: true})
	}
	dir := StaticDirectory{s.Hash(): p}
	rec := &discardRecorder{}
	g := New(Config{UpstreamBaseURL: up.URL + "/v1", Logger: slog.New(slog.DiscardHandler),
		Egress: &egress.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}},
		Deps{Directory: dir, Limiter: newFakeLimiter(), Recorder: rec, Pricer: fakePricer{}})
	b.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewServer(g.Handler())
	b.Cleanup(srv.Close)
	client = srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	return srv.URL, s.Reveal(), client
}

type discardRecorder struct{}

func (*discardRecorder) Append(*usage.Record) error { return nil }

func benchRequests(b *testing.B, body string) {
	benchRequestsChannels(b, body, 0)
}

func benchRequestsChannels(b *testing.B, body string, channels int) {
	url, secret, client := benchGatewayChannels(b, channels)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatal(resp.StatusCode)
			}
		}
	})
}

// BenchmarkProxyChat is a whole non-streamed chat request through the
// gateway over loopback. Compare with BenchmarkMockDirect for the
// gateway's share.
func BenchmarkProxyChat(b *testing.B) { benchRequests(b, chatBody) }

// BenchmarkProxyChatChannels is BenchmarkProxyChat routed over three
// channels (docs/routing.md): the difference is the cost of routing.
func BenchmarkProxyChatChannels(b *testing.B) { benchRequestsChannels(b, chatBody, 3) }

// BenchmarkProxyChatStream is the same for a streamed answer of 8 chunks.
func BenchmarkProxyChatStream(b *testing.B) {
	benchRequests(b, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello world"}]}`)
}

// BenchmarkMockDirect is the mock alone over loopback: the floor under
// BenchmarkProxyChat.
func BenchmarkMockDirect(b *testing.B) {
	tokens.Warm()
	up := httptest.NewServer(mockupstream.New(mockupstream.Options{}))
	defer up.Close()
	client := up.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(up.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkRefusedFlood is a flood of requests that a key's exhausted RPM
// refuses (429 rate_limit_exceeded), through the handler alone (no loopback
// HTTP, so the refusal's own cost shows), with the real in-process limiter
// and the real durable spool: what a client hammering a limit costs.
func BenchmarkRefusedFlood(b *testing.B) {
	sp, err := spool.Open(b.Context(), spool.Options{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sp.Close() })
	s, _ := keys.Generate()
	p := &Principal{Key: KeyPolicy{ID: "key_flood", WorkspaceID: "ws_flood", State: keys.State{Status: keys.StatusActive}, RPM: 1},
		Workspace: &WorkspacePolicy{ID: "ws_flood", RPM: 1 << 50, TPM: 1 << 50}}
	g := New(Config{Logger: slog.New(slog.DiscardHandler)},
		Deps{Directory: StaticDirectory{s.Hash(): p}, Limiter: ratelimit.NewLocal(ratelimit.Options{}), Recorder: sp, Pricer: fakePricer{}})
	b.Cleanup(func() { _ = g.Close() })
	h := g.Handler()
	authz := "Bearer " + s.Reveal()
	// Each client reuses its request, so the figure is the gateway's cost,
	// not the test's allocations.
	type client struct {
		w    floodWriter
		r    *http.Request
		body strings.Reader
	}
	newClient := func() *client {
		c := &client{r: httptest.NewRequest("POST", "/v1/chat/completions", nil)}
		c.r.Header.Set("Authorization", authz)
		c.r.Header.Set("Content-Type", "application/json")
		c.r.RemoteAddr = "192.0.2.7:41000"
		c.r.Body = io.NopCloser(&c.body)
		c.r.ContentLength = int64(len(chatBody))
		return c
	}
	serve := func(c *client) {
		c.body.Reset(chatBody)
		c.w.reset()
		h.ServeHTTP(&c.w, c.r)
	}
	serve(newClient()) // uses the key's one request a minute
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := newClient()
		w := &c.w
		for pb.Next() {
			serve(c)
			if w.status != http.StatusTooManyRequests {
				b.Fatalf("status %d, want 429", w.status)
			}
		}
	})
}

// floodWriter is a reusable ResponseWriter that keeps only the status.
type floodWriter struct {
	h      http.Header
	status int
}

func (w *floodWriter) reset() {
	if w.h == nil {
		w.h = make(http.Header, 16)
	}
	clear(w.h)
	w.status = 0
}
func (w *floodWriter) Header() http.Header { return w.h }
func (w *floodWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *floodWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}
