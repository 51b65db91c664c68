// Package gateway is the /v1 data plane: an OpenAI-compatible reverse proxy
// that authenticates API keys, enforces a workspace's and a key's limits,
// relays answers (streams event by event) and meters every answered
// request into a usage record.
//
// A request passes these steps in this order; each refuses with the CONTRACT
// §3 error named, and the order is the contract's precedence:
//
//  1. request id: x-request-id on every response (the client's if sane);
//  2. route: unknown /v1 paths 404, wrong method 405 (never a pass-through);
//  3. authentication: Authorization: Bearer only; a key in the URL, a
//     malformed key (checked offline, before any look-up) or an unknown
//     one is 401 invalid_api_key; then the key's state (401 revoked /
//     expired / disabled, 429 key_request_limit_reached), the workspace's
//     suspension (403), the key's IP allow-list (403). A well-formed key
//     the Directory's memory does not admit is read once from its source
//     when the Directory is a Fetcher, so a key created a moment ago works
//     at once;
//  4. the usage spool's room (503 when it cannot take records);
//  5. the body, read whole but bounded (413), parsed for what the gateway
//     needs only (400 on malformed JSON), the model allow-list (403), the
//     model's price (400 model_not_priced: nothing is served unpriced);
//  6. Idempotency-Key: replay of a finished twin, 422 for a reused key;
//  7. the response cache look-up;
//  8. one all-or-nothing Limiter.Reserve over every limit (429); a cache
//     hit reserves the request counters only, and is then answered
//     (x-oais-cache: hit, billed as a cache hit);
//  9. the upstream, through the forwarder (forward.go); its errors pass
//     through unbilled, transport failures are 502/504;
//  10. settle the reservation with the real usage and append the usage
//     record, before the handler returns (streams: when they end);
//  11. metrics and one access-log line.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oais/oais/gateway/jsonscan"
	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/ratelimit"
	"github.com/oais/oais/gateway/route"
	"github.com/oais/oais/gateway/tokens"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/pricing"
	"github.com/oais/oais/internal/usage"
)

// Deps are the gateway's collaborators. Directory, Limiter and Recorder
// are required; the rest may be nil.
type Deps struct {
	Directory Directory
	Limiter   ratelimit.Limiter
	Recorder  Recorder
	// Cache, if set, serves repeated non-streamed requests of keys with
	// CacheEnabled. CacheKeyNormalize canonicalises a body before it is
	// hashed into a cache key (respcache.Normalize); nil hashes it as is.
	Cache             Cache
	CacheKeyNormalize func(body []byte) []byte
	// Pricer prices usage and refuses unpriced models; nil prices
	// everything at 0 and disables spend caps.
	Pricer Pricer
	// Idempotency keeps answers for Idempotency-Key; nil means in-process.
	Idempotency IdempotencyStore
}

// Gateway is the /v1 data plane. Create it with New.
type Gateway struct {
	cfg      Config
	deps     Deps
	full     Fuller         // deps.Recorder, when it can tell
	fetcher  Fetcher        // deps.Directory, when it can read a key it missed
	priced   PricedModels   // deps.Pricer, when it can tell
	groups   GroupDirectory // deps.Directory, when it knows groups
	log      *slog.Logger
	upstream *url.URL
	// authzValue is the Authorization sent to the global upstream
	// ("Bearer <upstream key>"), nil to send none; epURLs are its URLs
	// by endpoint kind, shared read-only by every request.
	authzValue []string
	epURLs     [kindModels + 1]*url.URL
	transport  *http.Transport
	// tenantTransport carries workspaces' own upstreams, every connection
	// checked against cfg.Egress (egress.go).
	tenantTransport *http.Transport
	mock            *mockupstream.InProcess
	// router picks channels and keeps their health; channels is
	// deps.Directory when it knows the site-wide channels.
	router   *route.Router
	channels ChannelDirectory
	metrics  *metrics
	floors   atomic.Pointer[BudgetFloors]
	wsNames  counterNameCache // workspace id -> its counter keys
	keyNames counterNameCache // key id -> its counter keys
	// usageWarned spaces the warnings of implausible upstream usage.
	usageWarned minuteGate
	// authFailures lets one refused authentication of a known key a
	// minute into the usage record (errorusage.go).
	authFailures minuteGate
	draining     atomic.Bool
	// into is deps.Limiter's allocation-free Reserve, if it has one.
	into ratelimit.IntoReserver
	// settler settles reservations off the request path, if deps.Limiter
	// can (a shared limiter, whose Settle is a round trip); settling counts
	// those under way.
	settler  ratelimit.AsyncSettler
	settling sync.WaitGroup
	// localLimiter: deps.Limiter is in-process, so its Settle needs no
	// deadline.
	localLimiter bool
	idPrefix     [16]byte
	idSeq        atomic.Uint64
}

// New returns a gateway. It panics if a required dependency is missing or
// cfg does not Validate: both are wiring bugs, and main validates first.
func New(cfg Config, deps Deps) *Gateway {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if deps.Directory == nil || deps.Limiter == nil || deps.Recorder == nil {
		panic("gateway: Directory, Limiter and Recorder are required")
	}
	cfg.withDefaults()
	g := &Gateway{cfg: cfg, deps: deps, log: cfg.Logger, metrics: newMetrics()}
	g.full, _ = deps.Recorder.(Fuller)
	g.fetcher, _ = deps.Directory.(Fetcher)
	g.channels, _ = deps.Directory.(ChannelDirectory)
	bc := cfg.ChannelBreaker
	if bc.Now == nil {
		bc.Now = cfg.Now
	}
	g.router = route.NewRouter(bc)
	g.priced, _ = deps.Pricer.(PricedModels)
	g.groups, _ = deps.Directory.(GroupDirectory)
	g.into, _ = deps.Limiter.(ratelimit.IntoReserver)
	g.settler, _ = deps.Limiter.(ratelimit.AsyncSettler)
	_, g.localLimiter = deps.Limiter.(*ratelimit.Local)
	if g.deps.Idempotency == nil {
		g.deps.Idempotency = NewIdempotencyStore(cfg.IdempotencyTTL, cfg.IdempotencyMaxBytes, cfg.IdempotencyMaxEntries, cfg.Now)
	}
	var p [8]byte
	_, _ = rand.Read(p[:])
	hex.Encode(g.idPrefix[:], p[:])
	if cfg.UpstreamAPIKey != "" {
		g.authzValue = []string{"Bearer " + cfg.UpstreamAPIKey}
	}

	g.transport = &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.UpstreamHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		// Every request goes to one or two hosts: keep many warm
		// connections to them instead of the default two.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
		// The metering readers must see the bytes the upstream meant, not
		// gzip; LLM answers are small next to their latency.
		DisableCompression: true,
	}
	if cfg.UpstreamBaseURL == "" {
		g.mock = mockupstream.StartInProcess(mockupstream.New(mockupstream.Options{}))
		g.upstream, _ = url.Parse(mockupstream.BaseURL)
		// The mock's host is dialled in-process; a workspace's own upstream
		// is dialled for real.
		mockAddr := g.upstream.Host
		if g.upstream.Port() == "" {
			mockAddr = net.JoinHostPort(g.upstream.Hostname(), "80")
		}
		g.transport.Proxy = func(r *http.Request) (*url.URL, error) {
			if r.URL.Host == g.upstream.Host {
				return nil, nil
			}
			return http.ProxyFromEnvironment(r)
		}
		realDial := g.transport.DialContext
		g.transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == mockAddr {
				return g.mock.DialContext(ctx, network, addr)
			}
			return realDial(ctx, network, addr)
		}
	} else {
		g.upstream, _ = url.Parse(cfg.UpstreamBaseURL)
		// HTTP/2 to an https upstream; a plain-http upstream stays on
		// HTTP/1.1 with its pool of connections.
		g.transport.ForceAttemptHTTP2 = g.upstream.Scheme == "https"
	}
	g.upstream.Path = strings.TrimSuffix(g.upstream.Path, "/")
	g.tenantTransport = newTenantTransport(g.transport, cfg.Egress)

	for _, ep := range []*endpoint{epChat, epCompletions, epEmbeddings, epResponses, epModels} {
		g.epURLs[ep.kind] = upstreamURL(g.upstream, ep.upstream)
	}
	return g
}

// Close waits for reservations still settling, then releases the gateway's
// idle upstream connections and the built-in mock, if any. Call it after
// the server has drained.
func (g *Gateway) Close() error {
	// Reservations still settling in the background settle first, so none
	// is lost on shutdown (each is bounded by settleTimeout).
	g.settling.Wait()
	g.transport.CloseIdleConnections()
	g.tenantTransport.CloseIdleConnections()
	if g.mock != nil {
		return g.mock.Close()
	}
	return nil
}

// Registry returns the gateway's private Prometheus registry.
func (g *Gateway) Registry() *prometheus.Registry { return g.metrics.reg }

// Handler returns the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g }

// endpoint is a metered /v1 route.
type endpoint struct {
	path     string // as the client calls it
	upstream string // appended to the upstream base URL
	kind     endpointKind
}

type endpointKind uint8

const (
	kindChat endpointKind = iota
	kindCompletions
	kindEmbeddings
	kindResponses
	kindModels // last: epURLs is sized by it
)

var (
	epChat        = &endpoint{"/v1/chat/completions", "/chat/completions", kindChat}
	epCompletions = &endpoint{"/v1/completions", "/completions", kindCompletions}
	epEmbeddings  = &endpoint{"/v1/embeddings", "/embeddings", kindEmbeddings}
	epResponses   = &endpoint{"/v1/responses", "/responses", kindResponses}
	epModels      = &endpoint{"/v1/models", "/models", kindModels}
)

// ServeHTTP routes a request. The route table is a switch, not a mux, so
// that every miss is an OpenAI-shaped 404 and nothing is passed upstream
// that the gateway does not meter.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := g.newRequestID()
	public := id
	if v := r.Header.Get("X-Request-Id"); saneRequestID(v) {
		// The client's id is echoed for its own tracing, but the usage
		// record keeps ours: the ledger deduplicates by it, and a client
		// must not be able to collide two requests into one bill.
		public = v
	}
	w.Header().Set("X-Request-Id", public)
	switch r.URL.Path {
	case epChat.path:
		g.serveAPI(w, r, epChat, id, public)
	case epCompletions.path:
		g.serveAPI(w, r, epCompletions, id, public)
	case epEmbeddings.path:
		g.serveAPI(w, r, epEmbeddings, id, public)
	case epResponses.path:
		g.serveAPI(w, r, epResponses, id, public)
	case epModels.path:
		g.serveAPI(w, r, epModels, id, public)
	case "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	case "/readyz":
		g.serveReady(w, r)
	case "/metrics":
		g.metrics.handler.ServeHTTP(w, r)
	default:
		g.refuse(w, r, ErrNotFound)
	}
}

func (g *Gateway) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if g.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "draining\n")
		return
	}
	if g.cfg.Ready != nil {
		if err := g.cfg.Ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready\n")
			return
		}
	}
	_, _ = io.WriteString(w, "ready\n")
}

// refuse answers a request that never became a call (unknown route).
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status := writeError(w, err)
	g.metrics.requests.WithLabelValues("", "", statusLabel(status)).Inc()
}

// call is one metered request on its way through the pipeline.
type call struct {
	ep       *endpoint
	id       string // ours: the usage record's
	publicID string // the x-request-id answered
	start    time.Time
	now      time.Time
	client   context.Context
	clientIP netip.Addr
	p        *Principal
	req      apiRequest
	body     []byte // as sent upstream
	bodySum  [32]byte
	prompt   int64 // estimated prompt tokens
	maxOut   int64 // completion tokens assumed for reservations
	// price is the model's, from admission on; priced is false when the
	// gateway has no Pricer (everything is free, and spend caps are off).
	price  pricing.Price
	priced bool
	// bps is the price multiplier of the key's group (pricing.ListBps
	// without one), and rpm and tpm the key's limits, its group's
	// defaults filled in: set at admission.
	bps      int64
	rpm, tpm int64
	stream   bool
	hide     bool // the gateway asked for stream usage; hide it again

	counters [8]ratelimit.Counter // every scope once at most
	scopes   [8]limitScope
	actual   [8]int64
	nc       int
	resv     *ratelimit.Reservation
	resvBuf  ratelimit.Reservation // resv, when the limiter reserves into it

	cacheKey string
	finishID func(*StoredAnswer)

	// chs are the channels the request picks from (nil: the workspace's
	// or the global upstream); ch is the one that answered, or the last
	// one tried.
	chs []*route.Channel
	ch  *route.Channel

	// Set by the forwarder.
	x              *exchange
	jsm            jsonMeter // js, for a plain answer
	hf             headerFlush
	upstreamStatus int
	upstreamStart  time.Time
	upstreamDone   time.Time
	sse            *sseMeter // sseBuf, for a stream
	sseBuf         sseMeter
	js             *jsonMeter
	proxyErr       error
	// hfLate: the stream's header timer could not be stopped, so its
	// goroutine may still touch hf and rw; the call is then not reused.
	hfLate bool
	rw     respWriter

	// Outcome, for the log and metrics.
	status   int
	err      error
	rec      *usage.Record // recBuf once recorded
	recBuf   usage.Record
	cacheHit bool
}

// calls are reused: a call is the largest per-request allocation. One goes
// back only when nothing else can still reach it (release).
var calls = sync.Pool{New: func() any { return new(call) }}

// release returns c to calls unless a goroutine that may outlive the
// request can still reach it. The transport's goroutines only reach the
// call's exchange (a separate object); a shared limiter's settlement copies
// what it needs (AsyncSettler); the stream's header timer is stopped before
// the handler returns, or hfLate keeps the call out of the pool.
func release(c *call) {
	if c.hfLate {
		return
	}
	*c = call{}
	calls.Put(c)
}

func (g *Gateway) serveAPI(rw http.ResponseWriter, r *http.Request, ep *endpoint, id, public string) {
	c := calls.Get().(*call)
	c.ep, c.id, c.publicID, c.start, c.client = ep, id, public, g.cfg.Now(), r.Context()
	c.bps = pricing.ListBps // list price until admission finds a group
	c.now = c.start
	w := &c.rw
	w.reset(rw, g.cfg.SendTimeout)
	defer func() {
		g.finish(c, w, r)
		release(c)
	}()
	if err := g.admit(c, r); err != nil {
		var rp replayed
		if errors.As(err, &rp) {
			rp.a.writeTo(w)
			c.status = rp.a.Status
			return
		}
		c.err = err
		c.status = writeError(w, err)
		if c.finishID != nil {
			c.finishID(nil)
		}
		return
	}
	if ep.kind == kindModels {
		g.serveModels(c, w, r)
		return
	}
	var hit StoredAnswer
	cached := false
	if c.cacheKey != "" {
		hit, cached = g.cacheGet(c, r)
	}
	if err := g.reserve(c, cached); err != nil {
		var le *limitError
		if errors.As(err, &le) {
			g.setLimitHeaders(w.Header(), le.denied.States, c)
		}
		c.err = err
		c.status = writeError(w, err)
		if c.finishID != nil {
			c.finishID(nil)
		}
		return
	}
	g.setLimitHeaders(w.Header(), c.resv.States, c)
	if cached {
		g.serveCached(c, w, hit)
		return
	}
	if c.finishID != nil || c.cacheKey != "" {
		w.capture(g.cfg.MaxCaptureBytes)
	}
	aborted := g.forward(c, w, r)
	g.settle(c, w, aborted)
	if aborted {
		// The answer was cut mid-body; let net/http cut the connection so
		// the client cannot take a truncated answer for a whole one. The
		// deferred finish still logs it.
		panic(http.ErrAbortHandler)
	}
}

// admit runs steps 2 to 7 of the pipeline up to the limits.
func (g *Gateway) admit(c *call, r *http.Request) error {
	want := http.MethodPost
	if c.ep.kind == kindModels {
		want = http.MethodGet
	}
	if r.Method != want {
		return ErrMethodNotAllowed
	}
	if keyInURL(r.URL) {
		return ErrKeyInURL
	}
	secret, ok := bearer(r)
	if !ok || !keys.Valid(secret) {
		return ErrInvalidKey
	}
	if err := g.authenticate(c, r, hashSecret(secret)); err != nil {
		return err
	}
	p := c.p
	c.bps, c.rpm, c.tpm = pricing.ListBps, p.Key.RPM, p.Key.TPM
	if gp, ok := p.group(g.groups); ok {
		c.bps = gp.PriceMultiplierBps
		if c.rpm == 0 {
			c.rpm = gp.RPM
		}
		if c.tpm == 0 {
			c.tpm = gp.TPM
		}
	}
	if p.Workspace.Inactive {
		return ErrWorkspaceInactive
	}
	if p.Workspace.Suspended {
		return ErrWorkspaceSuspended
	}
	c.clientIP = g.clientIP(r)
	if !p.Key.ipAllowed(c.clientIP) {
		return ErrIPNotAllowed
	}
	if c.ep.kind == kindModels {
		return nil
	}
	if g.full != nil && g.full.Full() {
		return ErrUnavailable
	}
	if err := g.readBody(c, r); err != nil {
		return err
	}
	if !p.modelAllowed(c.req.Model) {
		return ErrModelNotAllowed
	}
	if g.deps.Pricer != nil {
		price, ok := g.deps.Pricer.Price(c.req.Model)
		if !ok {
			return &ModelNotPricedError{Model: c.req.Model}
		}
		c.price, c.priced = price, true
	}
	var site []*route.Channel
	if g.channels != nil {
		site = g.channels.SiteChannels()
	}
	c.chs = route.Candidates(p.Workspace.Channels, site, c.req.Model, c.ep.upstream)
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		replay, finish, err := g.deps.Idempotency.Begin(r.Context(), p.Key.ID+"\x00"+k, c.bodySum)
		if err != nil {
			return err
		}
		if replay != nil {
			return replayed{replay}
		}
		c.finishID = finish
	}
	if g.deps.Cache != nil && p.Key.CacheEnabled && !c.stream {
		c.cacheKey = g.cacheKey(c)
	}
	return nil
}

// authenticate sets c.p to the principal of the key of hash h, or returns
// why the key may not be used. Known keys are answered from the
// Directory's memory; only a miss, or a refusal that the control plane can
// lift (a key re-enabled, un-revoked or given a later expiry), asks the
// Fetcher, which bounds what that costs.
func (g *Gateway) authenticate(c *call, r *http.Request, h keys.Hash) error {
	p, ok := g.deps.Directory.Lookup(h)
	fetched := false
	if (!ok || p == nil) && g.fetcher != nil {
		p, ok = g.fetcher.Fetch(r.Context(), h)
		fetched = true
	}
	if !ok || p == nil {
		return ErrInvalidKey
	}
	err := p.Key.State.Check(c.now)
	if err != nil && !fetched && g.fetcher != nil && liftable(err, &p.Key.State) {
		if q, ok := g.fetcher.Fetch(r.Context(), h); ok && q != nil {
			p, err = q, q.Key.State.Check(c.now)
		}
	}
	c.p = p
	// A key bound to another gateway is, here, no key at all: the same
	// answer as an unknown one, so it tells a prober nothing.
	if p.Key.GatewayName != "" && p.Key.GatewayName != g.cfg.Name {
		return ErrInvalidKey
	}
	return err
}

// liftable reports whether a key refused with err (a keys.State.Check
// error) may work again without a new secret: everything but a request
// budget (429, not a key change) and a revocation as leaked (final).
func liftable(err error, s *keys.State) bool {
	switch err {
	case keys.ErrDisabled, keys.ErrExpired:
		return true
	case keys.ErrRevoked:
		return s.RevokeReason != keys.ReasonLeaked
	}
	return false
}

// replayed is not an error but the end of admit for a replayed request;
// serveAPI writes the stored answer instead of an error.
type replayed struct{ a *StoredAnswer }

func (replayed) Error() string { return "gateway: idempotent replay" }

// apiRequest is the part of a request body the gateway reads.
type apiRequest struct {
	Model  string `json:"model"`
	Stream bool   `json:"stream"`
	// StreamOptions is the client's stream_options as sent (the last, if
	// repeated), whatever its type: a stream's is rewritten anyway
	// (withStreamUsage), and no value of it refuses a request.
	StreamOptions       json.RawMessage  `json:"stream_options"`
	MaxTokens           *int64           `json:"max_tokens"`
	MaxCompletionTokens *int64           `json:"max_completion_tokens"`
	N                   *int64           `json:"n"`
	BestOf              *int64           `json:"best_of"`
	Messages            []tokens.Message `json:"messages"`
	Prompt              json.RawMessage  `json:"prompt"`
	Input               json.RawMessage  `json:"input"`
	// The Responses API's prompt parts and output bound.
	Instructions    json.RawMessage `json:"instructions"`
	MaxOutputTokens *int64          `json:"max_output_tokens"`
	// Background is refused (ErrBackground): its answer has no usage.
	Background bool `json:"background"`
}

// maxChoices bounds n and best_of in reservations: OpenAI's own limit
// for n (best_of's is lower).
const maxChoices = 128

// initialBodyBuffer is the most readBody allocates before bytes arrive.
const initialBodyBuffer = 64 << 10

// readDeadliner is net/http's ResponseWriter: it can bound the reading of
// its request's body.
type readDeadliner interface{ SetReadDeadline(time.Time) error }

func (g *Gateway) readBody(c *call, r *http.Request) error {
	max := g.cfg.MaxBodyBytes
	if r.ContentLength > max {
		return ErrTooLarge
	}
	size := 512
	if r.ContentLength > 0 {
		// +1 so ReadAll sees EOF without growing. A declared length is
		// trusted only up to initialBodyBuffer: past it the buffer grows as
		// bytes arrive, so a client announcing 1 MiB and trickling nothing
		// holds no megabyte.
		size = int(min(r.ContentLength+1, initialBodyBuffer))
	}
	// The body must arrive within BodyReadTimeout (slow bodies hold a
	// connection and a buffer each). The deadline is the connection's, so
	// it is lifted once the body is in: a stream's answer is not bounded
	// by it.
	dl, _ := c.rw.w.(readDeadliner)
	if dl != nil {
		_ = dl.SetReadDeadline(c.start.Add(g.cfg.BodyReadTimeout))
	}
	buf := make([]byte, 0, size)
	body, err := readAllLimited(r.Body, buf, max)
	if err != nil {
		// The rest of the body will not be read. Closed now, while the
		// deadline still holds, it makes net/http close the connection
		// after the answer: left open, net/http reads what is left of a
		// body under 256 KiB before it answers (to keep the connection),
		// with no deadline once it is lifted below, so a client trickling
		// a small body never saw its 408 and held the connection as long
		// as it liked (TestSlowBody).
		_ = r.Body.Close()
	}
	if dl != nil {
		_ = dl.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, ErrTooLarge):
			return ErrTooLarge
		case errors.As(err, &ne) && ne.Timeout():
			return ErrBodyTimeout
		}
		return errClientGone
	}
	if !json.Valid(body) {
		return ErrBadRequest
	}
	// Field names are case-sensitive upstream (OpenAI): a "Model" next to
	// "model" would be checked and priced here as one model and run there
	// as another. encoding/json folds case, so such bodies are refused.
	if caseFoldedField(body) {
		return ErrBadRequest
	}
	// The common request is scanned for the fields the gateway reads
	// only; any other shape is decoded by encoding/json, with its errors.
	counted := scanRequest(body, &c.req, c.ep.kind == kindChat, &c.prompt)
	if !counted {
		c.req, c.prompt = apiRequest{}, 0
		if err := json.Unmarshal(body, &c.req); err != nil {
			return ErrBadRequest
		}
	}
	if c.req.Model == "" {
		return ErrMissingModel
	}
	c.bodySum = sha256.Sum256(body)
	c.body = body
	q := &c.req
	switch c.ep.kind {
	case kindChat:
		if !counted {
			c.prompt = int64(tokens.Estimate(q.Model, q.Messages))
		}
	case kindCompletions:
		c.prompt = int64(tokens.CountPrompt(q.Model, q.Prompt))
	case kindEmbeddings:
		c.prompt = int64(tokens.CountPrompt(q.Model, q.Input))
	case kindResponses:
		// A background response answers at once, queued, with no usage,
		// and generates afterwards: nothing of it could be metered.
		if q.Background {
			return ErrBackground
		}
		c.prompt = int64(tokens.EstimateInput(q.Model, q.Input, q.Instructions))
	}
	if c.ep.kind != kindEmbeddings {
		c.maxOut = g.cfg.DefaultMaxTokens
		if c.ep.kind == kindResponses {
			if q.MaxOutputTokens != nil && *q.MaxOutputTokens > 0 {
				c.maxOut = *q.MaxOutputTokens
			}
		} else if q.MaxCompletionTokens != nil && *q.MaxCompletionTokens > 0 {
			c.maxOut = *q.MaxCompletionTokens
		} else if q.MaxTokens != nil && *q.MaxTokens > 0 {
			c.maxOut = *q.MaxTokens
		}
		// Bounded before multiplying, so no max_tokens or n can wrap the
		// reservation negative and slip past a TPM or spend limit.
		c.maxOut = min(c.maxOut, maxReservedTokens)
		// The upstream writes best_of completions (returning n of them),
		// each up to maxOut, and bills them all.
		choices := int64(1)
		if q.N != nil && *q.N > choices {
			choices = *q.N
		}
		if q.BestOf != nil && *q.BestOf > choices {
			choices = *q.BestOf
		}
		c.maxOut *= min(choices, maxChoices)
		c.stream = q.Stream
	}
	// A Responses stream always ends with its usage (response.completed):
	// there is no stream_options to set, nor a chunk to hide.
	if c.stream && c.ep.kind != kindResponses {
		b, asked, err := withStreamUsage(c.body, q.StreamOptions == nil)
		if err != nil {
			return ErrBadRequest
		}
		c.body, c.hide = b, !asked
	}
	return nil
}

// readAllLimited reads r into buf, failing with ErrTooLarge past max bytes.
func readAllLimited(r io.Reader, buf []byte, max int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (g *Gateway) cacheKey(c *call) string {
	body := c.body
	if g.deps.CacheKeyNormalize != nil {
		body = g.deps.CacheKeyNormalize(body)
	}
	h := sha256.New()
	_, _ = io.WriteString(h, c.p.Workspace.ID)
	_, _ = h.Write([]byte{0})
	_, _ = io.WriteString(h, c.ep.path)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(body)
	return "resp:" + hex.EncodeToString(h.Sum(nil))
}

// cacheGet looks c up in the response cache; a failing cache is a miss.
func (g *Gateway) cacheGet(c *call, r *http.Request) (StoredAnswer, bool) {
	e, ok, err := g.deps.Cache.Get(r.Context(), c.cacheKey)
	if err != nil {
		g.log.LogAttrs(r.Context(), slog.LevelWarn, "response cache get failed", slog.String("request_id", c.publicID), slog.Any("err", err))
		return StoredAnswer{}, false
	}
	return e, ok
}

// serveCached answers c with e, a cache hit admitted by reserve, and
// settles its reservation: the request counters keep the request (the
// key's maxRequests only if it was answered, as the ledger counts).
func (g *Gateway) serveCached(c *call, w *respWriter, e StoredAnswer) {
	actual := c.actual[:c.nc]
	for i := range actual {
		actual[i] = c.counters[i].Cost
	}
	defer g.settleReservation(c, actual)
	c.cacheHit = true
	c.rec = g.newRecord(c, http.StatusOK)
	c.rec.PromptTokens, c.rec.CompletionTokens = e.PromptTokens, e.CompletionTokens
	c.rec.CacheHit = true
	c.rec.Source = usage.SourceCache
	// A cached answer costs no upstream tokens; it is counted, not charged.
	c.rec.CostMicros = 0
	if err := g.deps.Recorder.Append(c.rec); err != nil {
		// An answer that cannot be recorded is not served.
		g.recordFailed(c, err)
		c.rec, c.cacheHit = nil, false
		c.err = ErrUnavailable
		c.status = writeError(w, ErrUnavailable)
		if c.finishID != nil {
			c.finishID(nil)
		}
		for i := 0; i < c.nc; i++ {
			if c.scopes[i] == scopeKeyRequests {
				actual[i] = 0
			}
		}
		return
	}
	g.metrics.cacheHits.Inc()
	g.chargeCached(c, e.PromptTokens+e.CompletionTokens)
	h := w.Header()
	if e.ContentType != "" {
		h.Set("Content-Type", e.ContentType)
	}
	h.Set("X-Oais-Cache", "hit")
	h.Set("Content-Length", strconv.Itoa(len(e.Body)))
	status := e.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(e.Body)
	c.status = status
	if c.finishID != nil {
		c.finishID(&StoredAnswer{Status: status, ContentType: e.ContentType, Body: e.Body})
	}
}

// serveModels answers GET /v1/models: the key's models when it is
// restricted, else the upstream's list.
func (g *Gateway) serveModels(c *call, w *respWriter, r *http.Request) {
	if list := c.p.visibleModels(); list != nil {
		b := []byte(`{"object":"list","data":[`)
		for i, m := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = jsonscan.AppendString(b, m)
			b = append(b, `,"object":"model","created":0,"owned_by":"oais"}`...)
		}
		b = append(b, "]}"...)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		c.status = http.StatusOK
		return
	}
	if g.forward(c, w, r) {
		panic(http.ErrAbortHandler)
	}
	c.status = w.status
}

// newRequestID returns a process-unique id: a random per-process prefix and
// a counter, so making one costs one small allocation and no entropy.
func (g *Gateway) newRequestID() string {
	var b [4 + 16 + 16]byte
	copy(b[:], "req_")
	copy(b[4:], g.idPrefix[:])
	n := g.idSeq.Add(1)
	const digits = "0123456789abcdef"
	for i := len(b) - 1; i >= 20; i-- {
		b[i] = digits[n&0xF]
		n >>= 4
	}
	return string(b[:])
}

// saneRequestID accepts a client's x-request-id that is short and plain,
// so it cannot inject anything into headers or logs.
func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(v[len(prefix):]), true
}

// hashSecret is keys.HashOf without its allocation: a well-formed secret
// has a fixed length, so it fits a stack array. TestHashSecret pins the
// two together.
func hashSecret(s string) keys.Hash {
	var b [keys.SecretLen]byte
	n := copy(b[:], s)
	return sha256.Sum256(b[:n])
}

// keyInURL reports a query that carries something like a key. Such a key
// is refused even if it is valid: it has leaked into URLs and logs.
func keyInURL(u *url.URL) bool {
	q := u.RawQuery
	if q == "" {
		return false
	}
	if strings.Contains(q, keys.Prefix) || strings.Contains(q, "sk-") {
		return true
	}
	for _, name := range []string{"api_key", "api-key", "apikey", "key", "access_token", "token"} {
		if strings.HasPrefix(q, name+"=") || strings.Contains(q, "&"+name+"=") {
			return true
		}
	}
	return false
}

// clientIP is the request's peer, or, behind a trusted proxy, the nearest
// untrusted address of X-Forwarded-For.
func (g *Gateway) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if !g.trusted(addr) {
		return addr
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for v != "" {
			var part string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				part, v = v[j+1:], v[:j]
			} else {
				part, v = v, ""
			}
			a, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil {
				return addr
			}
			addr = a.Unmap()
			if !g.trusted(addr) {
				return addr
			}
		}
	}
	return addr
}

func (g *Gateway) trusted(a netip.Addr) bool {
	for _, p := range g.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
