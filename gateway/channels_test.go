package gateway

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/route"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/keys"
)

// mockChannel is one provider account: a mock upstream on loopback whose
// answers a test steers (fail with a status, cut streams), and what it saw.
type mockChannel struct {
	ch     *route.Channel
	srv    *httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	status int    // answer every request with this status (0: answer)
	after  string // Retry-After sent with status
	cut    int    // streams: abort after this many words (0: never)
	delay  int    // wait this long (ms) before answering
	// alternate: status answers every other request only (the 2nd, 4th…).
	alternate bool
	bodies    [][]byte
	paths     []*url.URL
	hdrs      []http.Header
}

const channelKey = "sk-channel-secret"

func newMockChannel(t *testing.T, name string, prio, weight int) *mockChannel {
	t.Helper()
	m := &mockChannel{}
	mock := mockupstream.New(mockupstream.Options{APIKey: channelKey})
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := m.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		m.mu.Lock()
		m.bodies = append(m.bodies, b)
		m.paths = append(m.paths, r.URL)
		m.hdrs = append(m.hdrs, r.Header.Clone())
		status, after, cut, delay := m.status, m.after, m.cut, m.delay
		if m.alternate && call%2 == 1 {
			status = 0
		}
		m.mu.Unlock()
		// A hostile upstream cannot name the channel or claim a cache hit.
		w.Header().Set("X-Oais-Channel", "forged")
		w.Header().Set("X-Oais-Cache", "hit")
		if delay > 0 {
			r.Header.Set("X-Mock-Delay-Ms", strconv.Itoa(delay))
		}
		if status != 0 {
			if after != "" {
				w.Header().Set("Retry-After", after)
			}
			r.Header.Set("X-Mock-Status", strconv.Itoa(status))
		}
		if cut > 0 {
			r.Header.Set("X-Mock-Cut-After", strconv.Itoa(cut))
		}
		mock.ServeHTTP(w, r)
	}))
	t.Cleanup(m.srv.Close)
	u, _ := url.Parse(m.srv.URL + "/v1")
	m.ch = &route.Channel{ID: "ch_" + name, Name: name, Type: route.OpenAI, BaseURL: u, APIKey: channelKey,
		Priority: prio, Weight: weight, Enabled: true}
	return m
}

func (m *mockChannel) set(status int, after string, cut int) {
	m.mu.Lock()
	m.status, m.after, m.cut = status, after, cut
	m.mu.Unlock()
}

// channelHarness is the gateway harness with a principal "chan" whose
// workspace has the given channels; loopback is allowed for them.
func channelHarness(t *testing.T, chs ...*mockChannel) *harness {
	t.Helper()
	return channelHarnessCfg(t, Config{}, chs...)
}

func channelHarnessCfg(t *testing.T, cfg Config, chs ...*mockChannel) *harness {
	t.Helper()
	ws := &WorkspacePolicy{ID: "ws_chan"}
	for _, m := range chs {
		ws.Channels = append(ws.Channels, m.ch)
	}
	cfg.Egress = &egress.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	p := &Principal{Key: KeyPolicy{ID: "key_chan", WorkspaceID: "ws_chan", State: keys.State{Status: keys.StatusActive}}, Workspace: ws}
	return newHarness(t, harnessOpts{
		cfg:   cfg,
		extra: map[string]*Principal{"chan": p},
	})
}

// TestChannelRouting is issue 17's Done-when: three mock channels behind
// one gateway.
func TestChannelRouting(t *testing.T) {
	t.Run("weights", func(t *testing.T) {
		a, b, c := newMockChannel(t, "a", 1, 1), newMockChannel(t, "b", 1, 2), newMockChannel(t, "c", 1, 1)
		h := channelHarness(t, a, b, c)
		const n, workers = 10_000, 8
		var wg sync.WaitGroup
		var failed atomic.Int64
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n/workers; i++ {
					req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/chat/completions", strings.NewReader(chatBody))
					req.Header.Set("Authorization", "Bearer "+h.secrets["chan"])
					res, err := h.srv.Client().Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() != 0 {
			t.Fatalf("%d requests failed", failed.Load())
		}
		for _, tt := range []struct {
			m    *mockChannel
			want float64
		}{{a, 0.25}, {b, 0.5}, {c, 0.25}} {
			got := float64(tt.m.calls.Load()) / n
			if got < tt.want-0.05 || got > tt.want+0.05 {
				t.Errorf("channel %s served %.3f of the traffic, want %.2f ± 0.05", tt.m.ch.Name, got, tt.want)
			}
		}
	})

	t.Run("500s are skipped within the breaker threshold", func(t *testing.T) {
		bad, b, c := newMockChannel(t, "bad", 1, 1), newMockChannel(t, "b", 1, 1), newMockChannel(t, "c", 1, 1)
		bad.set(http.StatusInternalServerError, "", 0)
		h := channelHarness(t, bad, b, c)
		for i := 0; i < 100; i++ {
			res, body := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("request %d: %d %s", i, res.StatusCode, body)
			}
			if got := res.Header.Values("X-Oais-Channel"); len(got) != 1 || got[0] != "b" && got[0] != "c" || res.Header.Get("X-Oais-Cache") != "" {
				t.Fatalf("x-oais-channel %q, x-oais-cache %q", got, res.Header.Get("X-Oais-Cache"))
			}
		}
		if got := bad.calls.Load(); got > route.DefaultFailureThreshold {
			t.Fatalf("the failing channel got %d requests, more than its breaker threshold %d", got, route.DefaultFailureThreshold)
		}
		_, metrics := h.do(t, "", http.MethodGet, "/metrics", "", nil)
		if want := `oais_gateway_channel_failures_total{channel="bad"} ` + strconv.FormatInt(bad.calls.Load(), 10) + "\n"; !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %q", want)
		}
		if b.calls.Load()+c.calls.Load() != 100 {
			t.Fatalf("healthy channels answered %d of 100", b.calls.Load()+c.calls.Load())
		}
		// Limited and metered once each, with the channel that answered.
		h.lim.mu.Lock()
		reserves, settles := h.lim.reserves, len(h.lim.settles)
		h.lim.mu.Unlock()
		if reserves != 100 || settles != 100 {
			t.Fatalf("%d reservations and %d settlements for 100 requests", reserves, settles)
		}
		recs := h.rec.count()
		if recs != 100 {
			t.Fatalf("%d usage records for 100 requests", recs)
		}
		h.rec.mu.Lock()
		defer h.rec.mu.Unlock()
		for _, r := range h.rec.recs {
			if r.Channel != "b" && r.Channel != "c" || r.Status != http.StatusOK {
				t.Fatalf("record %+v", r)
			}
		}
	})

	t.Run("429 with Retry-After moves traffic away", func(t *testing.T) {
		a, busy := newMockChannel(t, "a", 1, 1), newMockChannel(t, "busy", 2, 1)
		busy.set(http.StatusTooManyRequests, "60", 0)
		h := channelHarness(t, a, busy)
		for i := 0; i < 20; i++ {
			res, body := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
			if res.StatusCode != http.StatusOK || res.Header.Get("X-Oais-Channel") != "a" {
				t.Fatalf("request %d: %d %s %v", i, res.StatusCode, body, res.Header)
			}
		}
		if got := busy.calls.Load(); got != 1 {
			t.Fatalf("the channel that asked to wait 60 s got %d requests", got)
		}
	})

	t.Run("a stream that sent bytes is never retried", func(t *testing.T) {
		cutter, backup := newMockChannel(t, "cutter", 2, 1), newMockChannel(t, "backup", 1, 1)
		cutter.set(0, "", 2)
		h := channelHarness(t, cutter, backup)
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]}`))
		req.Header.Set("Authorization", "Bearer "+h.secrets["chan"])
		res, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil {
			t.Fatalf("the client did not see the cut; it got %q", got)
		}
		if !bytes.Contains(got, []byte(mockupstream.Word(0))) || res.Header.Get("X-Oais-Channel") != "cutter" {
			t.Fatalf("the stream's first bytes did not reach the client: %q %v", got, res.Header)
		}
		if backup.calls.Load() != 0 || cutter.calls.Load() != 1 {
			t.Fatalf("a begun stream was retried: cutter %d, backup %d", cutter.calls.Load(), backup.calls.Load())
		}
	})

	t.Run("a channel that refuses connections is skipped", func(t *testing.T) {
		dead, a := newMockChannel(t, "dead", 2, 1), newMockChannel(t, "a", 1, 1)
		dead.srv.Close()
		h := channelHarness(t, dead, a)
		for i := 0; i < 5; i++ {
			res, body := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
			if res.StatusCode != http.StatusOK || res.Header.Get("X-Oais-Channel") != "a" {
				t.Fatalf("request %d: %d %s", i, res.StatusCode, body)
			}
		}
		if got := a.calls.Load(); got != 5 {
			t.Fatalf("the healthy channel answered %d of 5", got)
		}
		if h.rec.count() != 5 {
			t.Fatalf("%d records for 5 requests", h.rec.count())
		}
	})

	t.Run("a channel silent past the header timeout is skipped", func(t *testing.T) {
		slow, a := newMockChannel(t, "slow", 2, 1), newMockChannel(t, "a", 1, 1)
		slow.delay = 30_000 // the gateway gives up long before
		h := channelHarnessCfg(t, Config{UpstreamHeaderTimeout: 200 * time.Millisecond}, slow, a)
		res, body := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("X-Oais-Channel") != "a" || slow.calls.Load() != 1 {
			t.Fatalf("%d %s %v", res.StatusCode, body, res.Header)
		}
	})

	t.Run("all channels failing pass the last answer through", func(t *testing.T) {
		a, b := newMockChannel(t, "a", 1, 1), newMockChannel(t, "b", 1, 1)
		a.set(http.StatusServiceUnavailable, "", 0)
		b.set(http.StatusServiceUnavailable, "", 0)
		h := channelHarness(t, a, b)
		res, body := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("X-Oais-Channel") == "" || !strings.Contains(body, "server_error") {
			t.Fatalf("%d %v %s", res.StatusCode, res.Header, body)
		}
		if a.calls.Load()+b.calls.Load() != 2 {
			t.Fatalf("tried %d times, want each channel once", a.calls.Load()+b.calls.Load())
		}
		if rec := h.rec.next(t); rec.Channel == "" || rec.CostMicros != 0 {
			t.Fatalf("record %+v", rec)
		}
	})

	t.Run("model mapping and credentials", func(t *testing.T) {
		a := newMockChannel(t, "a", 1, 1)
		a.ch.ModelMap = map[string]string{"gpt-4o-mini": "my-deployment"}
		h := channelHarness(t, a)
		res, body := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		a.mu.Lock()
		sent, hdr := string(a.bodies[0]), a.hdrs[0]
		a.mu.Unlock()
		if !strings.Contains(sent, `"model":"my-deployment"`) || strings.Contains(sent, "gpt-4o-mini") {
			t.Fatalf("upstream body %s", sent)
		}
		if hdr.Get("Authorization") != "Bearer "+channelKey {
			t.Fatalf("upstream Authorization %q", hdr.Get("Authorization"))
		}
		// The client's model is what is priced and recorded.
		if rec := h.rec.next(t); rec.Model != "gpt-4o-mini" || rec.Channel != "a" {
			t.Fatalf("record %+v", rec)
		}
	})

	t.Run("a response continuing an earlier one is never retried on another channel", func(t *testing.T) {
		a, b := newMockChannel(t, "a", 1, 1), newMockChannel(t, "b", 1, 1)
		a.set(http.StatusServiceUnavailable, "", 0)
		b.set(http.StatusServiceUnavailable, "", 0)
		h := channelHarness(t, a, b)
		for _, body := range []string{
			`{"model":"gpt-4o-mini","input":"and then?","previous_response_id":"resp_abc"}`,
			`{"model":"gpt-4o-mini","input":"and then?","conversation":"conv_abc"}`,
		} {
			before := a.calls.Load() + b.calls.Load()
			res, got := h.do(t, "chan", http.MethodPost, "/v1/responses", body, nil)
			if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("X-Oais-Channel") == "" {
				t.Fatalf("%s: %d %v %s", body, res.StatusCode, res.Header, got)
			}
			if n := a.calls.Load() + b.calls.Load() - before; n != 1 {
				t.Fatalf("%s: tried %d channels; another account cannot continue the response", body, n)
			}
			h.rec.next(t)
		}
		// Without it the same request is retried as usual.
		a.set(0, "", 0)
		b.set(0, "", 0)
		c := newMockChannel(t, "c", 1, 1)
		c.set(http.StatusServiceUnavailable, "", 0)
		d := newMockChannel(t, "d", 1, 1)
		h = channelHarness(t, c, d)
		res, got := h.do(t, "chan", http.MethodPost, "/v1/responses", `{"model":"gpt-4o-mini","input":"hi","previous_response_id":null}`, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("X-Oais-Channel") != "d" {
			t.Fatalf("a request without an earlier response: %d %v %s", res.StatusCode, res.Header, got)
		}
	})

	t.Run("OAIS_CHANNEL_MAX_ATTEMPTS bounds the channels tried", func(t *testing.T) {
		var chs []*mockChannel
		for _, name := range []string{"a", "b", "c", "d", "e"} {
			m := newMockChannel(t, name, 1, 1)
			m.set(http.StatusBadGateway, "", 0)
			chs = append(chs, m)
		}
		for _, tt := range []struct{ cfg, want int }{{0, 3}, {1, 1}, {5, 5}} {
			h := channelHarnessCfg(t, Config{ChannelMaxAttempts: tt.cfg}, chs...)
			before := int64(0)
			for _, m := range chs {
				before += m.calls.Load()
			}
			res, body := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
			after := int64(0)
			for _, m := range chs {
				after += m.calls.Load()
			}
			if res.StatusCode != http.StatusBadGateway || after-before != int64(tt.want) {
				t.Fatalf("ChannelMaxAttempts %d: %d %s after %d attempts, want %d", tt.cfg, res.StatusCode, body, after-before, tt.want)
			}
		}
	})

	t.Run("a channel failing every other request is taken out by the error ratio", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			ratio float64
			out   bool
		}{{"ratio off", 0, false}, {"ratio 0.5", 0.5, true}} {
			t.Run(tt.name, func(t *testing.T) {
				flaky, backup := newMockChannel(t, "flaky", 2, 1), newMockChannel(t, "backup", 1, 1)
				flaky.set(http.StatusInternalServerError, "", 0)
				flaky.alternate = true
				h := channelHarnessCfg(t, Config{ChannelBreaker: route.BreakerConfig{ErrorRatio: tt.ratio, ErrorWindow: 10, ErrorMinRequests: 10}}, flaky, backup)
				for i := 0; i < 40; i++ {
					res, body := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
					if res.StatusCode != http.StatusOK {
						t.Fatalf("request %d: %d %s; the client must never see the flaky channel's 500", i, res.StatusCode, body)
					}
					h.rec.next(t)
				}
				// 40 requests: without the ratio the flaky channel (the
				// higher priority) takes every one; with it, it is out
				// after its 10th.
				if got := flaky.calls.Load(); (got < 40) != tt.out {
					t.Fatalf("the flaky channel was called %d times of 40", got)
				}
			})
		}
	})

	t.Run("no channel for the model keeps the gateway's upstream", func(t *testing.T) {
		a := newMockChannel(t, "a", 1, 1)
		a.ch.Models = []string{"claude-3-5-sonnet"}
		h := channelHarness(t, a)
		res, body := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("X-Oais-Channel") != "" || a.calls.Load() != 0 || h.upstreamCalls() != 1 {
			t.Fatalf("%d %s %v, channel calls %d", res.StatusCode, body, res.Header, a.calls.Load())
		}
	})
}

// siteDirectory is a Directory that knows site-wide channels, as the key
// snapshot does.
type siteDirectory struct {
	StaticDirectory
	site []*route.Channel
}

func (d siteDirectory) SiteChannels() []*route.Channel { return d.site }

var _ ChannelDirectory = siteDirectory{}

func TestSiteChannels(t *testing.T) {
	site, own := newMockChannel(t, "site", 1, 1), newMockChannel(t, "own", 1, 1)
	own.ch.Models = []string{"gpt-4o"}
	ws := &WorkspacePolicy{ID: "ws_site", Channels: []*route.Channel{own.ch}}
	p := &Principal{Key: KeyPolicy{ID: "key_site", WorkspaceID: "ws_site", State: keys.State{Status: keys.StatusActive}}, Workspace: ws}
	h := newHarness(t, harnessOpts{
		cfg:       Config{Egress: &egress.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}},
		extra:     map[string]*Principal{"site": p},
		directory: func(d StaticDirectory) Directory { return siteDirectory{d, []*route.Channel{site.ch}} },
	})
	tests := []struct{ who, model, want string }{
		{"site", "gpt-4o", "own"},         // the workspace's channel serves it
		{"site", "gpt-4o-mini", "site"},   // the workspace's does not: the site's
		{"active", "gpt-4o-mini", "site"}, // a workspace without channels: the site's
	}
	for _, tt := range tests {
		t.Run(tt.who+"/"+tt.model, func(t *testing.T) {
			res, body := h.do(t, tt.who, http.MethodPost, "/v1/chat/completions",
				`{"model":"`+tt.model+`","messages":[{"role":"user","content":"Hello"}]}`, nil)
			if res.StatusCode != http.StatusOK || res.Header.Get("X-Oais-Channel") != tt.want {
				t.Fatalf("%d %s %v", res.StatusCode, body, res.Header)
			}
		})
	}
}

// TestChannelEgress: a channel obeys the same network rules as a
// workspace's own upstream, and a forbidden address is not retried
// elsewhere nor counted against the channel's health.
func TestChannelEgress(t *testing.T) {
	a := newMockChannel(t, "loopback", 1, 1)
	h := newHarness(t, harnessOpts{extra: map[string]*Principal{"chan": {
		Key:       KeyPolicy{ID: "key_chan", WorkspaceID: "ws_chan", State: keys.State{Status: keys.StatusActive}},
		Workspace: &WorkspacePolicy{ID: "ws_chan", Channels: []*route.Channel{a.ch}},
	}}})
	for i := 0; i < route.DefaultFailureThreshold; i++ {
		res, body := h.do(t, "chan", http.MethodPost, "/v1/chat/completions", chatBody, nil)
		if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "upstream_unavailable") || a.calls.Load() != 0 {
			t.Fatalf("%d %s, channel calls %d", res.StatusCode, body, a.calls.Load())
		}
	}
	if h.gw.router.Open(a.ch) {
		t.Fatal("a forbidden address opened the channel's breaker")
	}
}
