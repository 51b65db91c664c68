package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/ratelimit"
	"github.com/oais/oais/internal/drain"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/pricing"
	"github.com/oais/oais/internal/usage"
)

// fakeLimiter is a fixed-window limiter good enough to drive the gateway
// until ratelimit.NewLocal lands.
type fakeLimiter struct {
	mu       sync.Mutex
	vals     map[string]int64
	reserves int
	settles  [][]int64
}

func newFakeLimiter() *fakeLimiter { return &fakeLimiter{vals: map[string]int64{}} }

var _ ratelimit.Limiter = (*fakeLimiter)(nil)

func (l *fakeLimiter) states(cs []ratelimit.Counter) []ratelimit.State {
	st := make([]ratelimit.State, len(cs))
	for i, c := range cs {
		st[i] = ratelimit.State{Limit: c.Limit, Remaining: c.Limit - l.vals[c.Key], Reset: c.Window}
	}
	return st
}

func (l *fakeLimiter) Reserve(_ context.Context, cs []ratelimit.Counter) (*ratelimit.Reservation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reserves++
	for _, c := range cs {
		if v := l.vals[c.Key]; c.Window == 0 && c.Floor > v {
			l.vals[c.Key] = c.Floor // reservations and floors are not told apart here
		}
	}
	for i, c := range cs {
		if c.Limit > 0 && l.vals[c.Key]+c.Cost > c.Limit {
			retry := time.Duration(0)
			if c.Window > 0 {
				retry = 1500 * time.Millisecond
			}
			return nil, &ratelimit.Denied{Index: i, Key: c.Key, RetryAfter: retry, States: l.states(cs)}
		}
	}
	for _, c := range cs {
		l.vals[c.Key] += c.Cost
	}
	return &ratelimit.Reservation{Counters: append([]ratelimit.Counter(nil), cs...), At: time.Now(), States: l.states(cs)}, nil
}

func (l *fakeLimiter) Settle(_ context.Context, r *ratelimit.Reservation, actual []int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, c := range r.Counters {
		l.vals[c.Key] += actual[i] - c.Cost
	}
	l.settles = append(l.settles, append([]int64(nil), actual...))
	return nil
}

// ChargeAsync implements ratelimit.Charger.
func (l *fakeLimiter) ChargeAsync(cs []ratelimit.Counter, done func(error)) {
	l.mu.Lock()
	for _, c := range cs {
		if c.Window == 0 {
			l.vals[c.Key] = max(l.vals[c.Key], c.Floor) + c.Cost
		}
	}
	l.mu.Unlock()
	done(nil)
}

func (l *fakeLimiter) value(key string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.vals[key]
}

// fakeRecorder keeps records in memory and signals each one.
type fakeRecorder struct {
	mu   sync.Mutex
	recs []*usage.Record
	ch   chan *usage.Record
	full bool
}

// recorderSignals is more records than any test leaves unread (raise it with
// TestReusedCallsStayApart's count); a surplus is dropped from ch, so next
// fails, rather than blocking the gateway and the server's Close.
const recorderSignals = 1024

func newFakeRecorder() *fakeRecorder {
	return &fakeRecorder{ch: make(chan *usage.Record, recorderSignals)}
}

func (r *fakeRecorder) Append(in *usage.Record) error {
	rec := new(usage.Record)
	*rec = *in // the gateway reuses in
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
	select {
	case r.ch <- rec:
	default:
	}
	return nil
}

func (r *fakeRecorder) Full() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.full
}

func (r *fakeRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.recs)
}

// errorRecords returns the records of refused or failed requests, and
// how many records there are of answered ones.
func (r *fakeRecorder) errorRecords() (errs []*usage.Record, answered int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.IsError() {
			errs = append(errs, rec)
		} else {
			answered++
		}
	}
	return errs, answered
}

// checkErrorRecord fails unless rec is the error record of a request
// refused (or failed) with status and code: no tokens, no cost.
func checkErrorRecord(t testing.TB, rec *usage.Record, status int, code string) {
	t.Helper()
	if rec.Status != status || rec.ErrorCode != code || rec.Source != usage.SourceNone ||
		rec.PromptTokens != 0 || rec.CompletionTokens != 0 || rec.CachedTokens != 0 || rec.CostMicros != 0 ||
		rec.RequestID == "" || rec.KeyID == "" || rec.WorkspaceID == "" || rec.Time.IsZero() {
		t.Fatalf("error record %+v, want status %d, code %s, source none, no usage", *rec, status, code)
	}
}

// next waits for the next record.
func (r *fakeRecorder) next(t *testing.T) *usage.Record {
	t.Helper()
	return recv(t, r.ch, "a usage record")
}

type fakeCache struct {
	mu sync.Mutex
	m  map[string]StoredAnswer
}

func (c *fakeCache) Get(_ context.Context, k string) (StoredAnswer, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	return e, ok, nil
}

func (c *fakeCache) Set(_ context.Context, k string, e StoredAnswer, _ time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = e
	return nil
}

// fakePricer charges a micro-dollar per prompt token, cached or not, and
// two per completion token, for every model.
type fakePricer struct{}

func (fakePricer) Price(string) (pricing.Price, bool) {
	return pricing.Price{InputMicrosPerMTok: 1_000_000, CachedInputMicrosPerMTok: 1_000_000, OutputMicrosPerMTok: 2_000_000}, true
}

// PricedName knows the models the tests use, by their exact names: the
// metrics' model labels are bounded by it.
func (fakePricer) PricedName(model string) (string, bool) {
	switch model {
	case "gpt-4o", "gpt-4o-mini", "text-embedding-3-small":
		return model, true
	}
	return "", false
}

// harness is a gateway on loopback in front of a mock upstream on loopback.
type harness struct {
	gw       *Gateway
	srv      *testServer
	up       *httptest.Server
	lim      *fakeLimiter
	rec      *fakeRecorder
	cache    *fakeCache
	secrets  map[string]string // principal name -> secret
	upstream []*http.Request   // requests the mock saw
	upMu     sync.Mutex
}

type harnessOpts struct {
	cfg  Config
	mock mockupstream.Options
	// upstreamURL overrides the mock (e.g. a closed port).
	upstreamURL string
	// extra principals, by name, next to testPrincipals.
	extra map[string]*Principal
	// pricer replaces fakePricer, which prices every model.
	pricer Pricer
	// directory wraps the test directory (e.g. to add site-wide channels).
	directory func(StaticDirectory) Directory
}

const upstreamKey = "sk-upstream-secret"

// principals of every test, by name.
func testPrincipals() map[string]*Principal {
	ws := WorkspacePolicy{ID: "ws_1", RPM: 1000, TPM: 1_000_000}
	key := func(id string) KeyPolicy {
		return KeyPolicy{ID: id, WorkspaceID: "ws_1", State: keys.State{Status: keys.StatusActive}}
	}
	p := map[string]*Principal{}
	add := func(name string, k KeyPolicy, w WorkspacePolicy) { p[name] = &Principal{Key: k, Workspace: &w} }
	add("active", key("key_active"), ws)
	k := key("key_revoked")
	k.State.Status = keys.StatusRevoked
	add("revoked", k, ws)
	k = key("key_expired")
	k.State.ExpiresAt = time.Unix(1, 0)
	add("expired", k, ws)
	k = key("key_disabled")
	k.State.Status = keys.StatusDisabled
	add("disabled", k, ws)
	k = key("key_spent")
	k.State.MaxRequests, k.State.RequestCount = 5, 5
	add("spent", k, ws)
	k = key("key_budget")
	k.State.MaxRequests, k.State.RequestCount = 5, 4
	add("budget", k, WorkspacePolicy{ID: "ws_budget"})
	susp := ws
	susp.ID, susp.Suspended = "ws_susp", true
	add("suspended", key("key_susp"), susp)
	k = key("key_ip")
	k.IPAllowlist = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	add("ip", k, ws)
	k = key("key_models")
	k.AllowedModels = []string{"gpt-4o-mini", "text-embedding-3-small"}
	add("models", k, ws)
	add("rpm1", key("key_rpm1"), WorkspacePolicy{ID: "ws_rpm1", RPM: 1, TPM: 1_000_000})
	add("tpm", key("key_tpm"), WorkspacePolicy{ID: "ws_tpm", RPM: 100, TPM: 50})
	add("quota", key("key_quota"), WorkspacePolicy{ID: "ws_quota", MonthlyTokenQuota: 10})
	add("spend", key("key_spend"), WorkspacePolicy{ID: "ws_spend", MonthlySpendCapMicros: 100})
	k = key("key_keyrpm")
	k.RPM = 1
	add("keyrpm", k, WorkspacePolicy{ID: "ws_keyrpm"})
	k = key("key_cache")
	k.CacheEnabled, k.CacheTTL = true, time.Hour
	add("cache", k, WorkspacePolicy{ID: "ws_cache", RPM: 100})
	add("wsmodels", key("key_wsmodels"), WorkspacePolicy{ID: "ws_models", Models: []string{"gpt-4o"}})
	return p
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	h := &harness{lim: newFakeLimiter(), rec: newFakeRecorder(), cache: &fakeCache{m: map[string]StoredAnswer{}}, secrets: map[string]string{}}
	mo := o.mock
	mo.APIKey = upstreamKey
	onReq := mo.OnRequest
	mo.OnRequest = func(r *http.Request) {
		h.upMu.Lock()
		h.upstream = append(h.upstream, r.Clone(context.Background()))
		h.upMu.Unlock()
		if onReq != nil {
			onReq(r)
		}
	}
	h.up = httptest.NewServer(mockupstream.New(mo))
	t.Cleanup(h.up.Close)
	dir := StaticDirectory{}
	all := testPrincipals()
	for name, p := range o.extra {
		all[name] = p
	}
	for name, p := range all {
		s, err := keys.Generate()
		if err != nil {
			t.Fatal(err)
		}
		h.secrets[name] = s.Reveal()
		dir[s.Hash()] = p
	}
	cfg := o.cfg
	cfg.UpstreamBaseURL = h.up.URL + "/v1"
	if o.upstreamURL != "" {
		cfg.UpstreamBaseURL = o.upstreamURL
	}
	cfg.UpstreamAPIKey = upstreamKey
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var pricer Pricer = fakePricer{}
	if o.pricer != nil {
		pricer = o.pricer
	}
	var d Directory = dir
	if o.directory != nil {
		d = o.directory(dir)
	}
	h.gw = New(cfg, Deps{Directory: d, Limiter: h.lim, Recorder: h.rec, Cache: h.cache, Pricer: pricer})
	t.Cleanup(func() { _ = h.gw.Close() })
	h.srv = serveGateway(t, h.gw.Handler())
	// A request or stream the gateway never ends fails its test, rather
	// than hanging the package until its timeout.
	h.srv.Client().Timeout = 3 * waitBound
	return h
}

// testServer serves a gateway's handler on loopback the way the gateway
// binary does: through internal/drain on the HTTP server
// OAIS_TEST_GATEWAY_HTTP_SERVER names, net/http (the binary's default)
// unless it says fasthttp. make test runs this package on both.
type testServer struct {
	URL      string
	Listener net.Listener
	client   *http.Client
	stop     func()
}

func (s *testServer) Client() *http.Client { return s.client }
func (s *testServer) Close()               { s.stop() }

// testHTTPServer is the server the harness serves on: net/http or fasthttp.
func testHTTPServer() string {
	if os.Getenv("OAIS_TEST_GATEWAY_HTTP_SERVER") == "fasthttp" {
		return "fasthttp"
	}
	return "net/http"
}

func serveGateway(t *testing.T, h http.Handler) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve := drain.Serve
	if testHTTPServer() == "fasthttp" {
		serve = drain.ServeFast
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, ln, h, drain.Options{Timeout: time.Second, Logger: slog.New(slog.DiscardHandler), Name: "gateway"})
	}()
	s := &testServer{URL: "http://" + ln.Addr().String(), Listener: ln, client: &http.Client{Transport: &http.Transport{}}}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			s.client.CloseIdleConnections()
		})
	}
	t.Cleanup(s.stop)
	return s
}

func (h *harness) upstreamCalls() int {
	h.upMu.Lock()
	defer h.upMu.Unlock()
	return len(h.upstream)
}

// do sends a request as principal who ("" for none) and returns the
// response with its body read.
func (h *harness) do(t *testing.T, who, method, path, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+h.secrets[who])
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello world"}]}`
