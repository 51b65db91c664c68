package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/keys"
)

// The forwarder sends a call upstream through the gateway's tuned
// http.Transport and relays the answer. It replaces
// net/http/httputil.ReverseProxy on the hot path, as STYLE rule 13 allows
// when a profile shows the need: in `make bench -cpuprofile` runs
// ReverseProxy was a quarter of the gateway's CPU and the largest source of
// its allocations (Header.Clone of the inbound request, Request.Clone and
// WithContext twice, hop-by-hop scrubbing of both headers, a timer and a
// goroutine per stream in its maxLatencyWriter), and its copy loop, fed
// one event per Read by the SSE meter, made one write(2) per event where
// the upstream had sent several in one read. The forwarder does what the
// gateway needs and no more:
//
//   - the outbound request is built directly: a fresh header holding the
//     client's headers an allow-list names (sharing their values, not
//     copying them), the upstream's Authorization, never the client's key;
//   - the request body is the buffered one (never streamed from the
//     client: that cut SSE streams under ReverseProxy, golang/go#40747);
//   - a plain answer is read into a pooled buffer and, if it fits (nearly
//     all do), written once with its Content-Length; larger ones stream;
//   - an SSE answer is written and flushed once per upstream read, with
//     every complete event that read brought (the meter hides the usage
//     chunk and decodes only it);
//   - errors keep ReverseProxy's contract: a transport failure is 502 or
//     504 before anything was written, a failure mid-body aborts the
//     client connection (http.ErrAbortHandler).

// forward sends the call upstream and relays the answer. It reports
// whether the answer was cut mid-body; the caller then aborts the
// connection, so the client cannot take a truncated answer for a whole one.
func (g *Gateway) forward(c *call, w *respWriter, r *http.Request) (aborted bool) {
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.UpstreamTimeout)
	defer cancel()
	c.upstreamStart = g.cfg.Now()
	defer func() {
		c.upstreamDone = g.cfg.Now()
		if c.sse != nil {
			_ = c.sse.Close()
		}
	}()
	var res *http.Response
	if c.chs != nil {
		if res = g.tryChannels(ctx, c, w, r); res == nil {
			return false
		}
	} else {
		var err error
		res, err = g.transportFor(c).RoundTrip(g.outRequest(ctx, c, r))
		if err != nil {
			g.upstreamFailed(c, w, r, err)
			return false
		}
	}
	defer res.Body.Close()
	c.upstreamStatus = res.StatusCode
	if err := g.relay(c, w, res); err != nil {
		// As ReverseProxy: only a real server recovers the abort; a test
		// calling ServeHTTP with a recorder gets the cut answer.
		return r.Context().Value(http.ServerContextKey) != nil
	}
	return false
}

// outRequest builds the upstream request of c to the workspace's or the
// global upstream.
func (g *Gateway) outRequest(ctx context.Context, c *call, r *http.Request) *http.Request {
	u, authz := g.epURLs[c.ep.kind], g.authzValue
	if wu := c.p.Workspace.Upstream; wu != nil && wu.BaseURL != nil {
		u = upstreamURL(wu.BaseURL, c.ep.upstream)
		authz = nil
		if wu.Authorization != "" {
			authz = []string{wu.Authorization}
		}
	}
	return g.newOutRequest(ctx, c, r, u, outboundHeader(r.Header, authz, c.body != nil), c.body)
}

// newOutRequest is the upstream request of c to u, with header h and body.
func (g *Gateway) newOutRequest(ctx context.Context, c *call, r *http.Request, u *url.URL, h http.Header, body []byte) *http.Request {
	out := http.Request{
		Method:     r.Method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
	}
	// The transport may still touch the body and the trace after the
	// answer came back (its write loop ends on its own goroutine), so both
	// live in their own object, never in the pooled call.
	x := &exchange{}
	c.x = x
	if body != nil {
		// A *bytes.Reader (behind NopCloser) is one the transport knows
		// to be in memory: it writes the headers and the body in one
		// write(2), where any other reader costs a flush in between.
		x.body.Reset(body)
		out.Body = io.NopCloser(&x.body)
		out.ContentLength = int64(len(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	// wrote tells settle whether a client that left had its prompt sent
	// (and so paid for upstream).
	x.trace.WroteRequest = x.wroteRequest
	return out.WithContext(httptrace.WithClientTrace(ctx, &x.trace))
}

// exchange is what the transport holds of one upstream request.
type exchange struct {
	body  bytes.Reader
	trace httptrace.ClientTrace
	wrote atomic.Bool // the upstream request was sent (httptrace)
}

func (x *exchange) wroteRequest(httptrace.WroteRequestInfo) { x.wrote.Store(true) }

// upstreamURL is base + path, without anything else of base.
func upstreamURL(base *url.URL, path string) *url.URL {
	return &url.URL{Scheme: base.Scheme, Host: base.Host, Path: strings.TrimSuffix(base.Path, "/") + path}
}

// Shared header values, never modified: a header map takes them without
// allocating.
var (
	jsonContentType = []string{"application/json"}
	emptyValue      = []string{""}
)

// outboundHeader is the header sent upstream: the client's headers that
// forwardRequestHeader allows, sharing their values, unless Connection
// names them or a value carries an sk-oais key; plus authz, the upstream's
// Authorization (nil: none).
func outboundHeader(in http.Header, authz []string, hasBody bool) http.Header {
	h := make(http.Header, len(in)+2)
	conn := in["Connection"]
	for k, v := range in {
		if !forwardRequestHeader(k) || (conn != nil && connectionNames(conn, k)) || carriesKey(v) {
			continue
		}
		h[k] = v
	}
	if authz != nil {
		h["Authorization"] = authz
	}
	if hasBody {
		h["Content-Type"] = jsonContentType
	}
	if _, ok := h["User-Agent"]; !ok {
		// Otherwise the transport would send Go's own.
		h["User-Agent"] = emptyValue
	}
	return h
}

// hopByHop reports a hop-by-hop header (RFC 9110 §7.6.1), which neither
// direction forwards.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// forwardRequestHeader reports whether a client header may reach the
// upstream. It is an allow-list, because the upstream may be a third party
// (a workspace's own) and a header the gateway does not know is one it
// cannot judge: Azure-style SDKs put the sk-oais key in api-key, clouds and
// proxies have credentials of their own (Cookie, Proxy-Authorization,
// X-Goog-Api-Key, Ocp-Apim-Subscription-Key, …), and servers that read
// headers CGI-style take X_Api_Key for X-Api-Key. What OpenAI's SDKs send
// for the upstream passes: Accept, User-Agent, OpenAI-Beta (beta
// features) and X-Stainless-* (the SDK's platform, retry and timeout
// telemetry); so do the mock upstream's knobs, X-Mock-*. Dropped on
// purpose: OpenAI-Organization and OpenAI-Project (they name the client's
// own OpenAI account, not the gateway's), Idempotency-Key and X-Request-Id
// (the gateway's own business), forwarding headers, and everything the
// transport owns (hop-by-hop ones, Expect, Host, Content-Length,
// Accept-Encoding). Extend the list rather than turn it into a deny-list.
func forwardRequestHeader(k string) bool {
	switch k {
	case "Accept", "Content-Type", "User-Agent", "Openai-Beta":
		return true
	}
	return hasPrefixFold(k, "X-Stainless-") || hasPrefixFold(k, "X-Mock-")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// carriesKey reports a header value with an sk-oais key in it: whatever
// its name, it is the client's credential (CONTRACT §3).
func carriesKey(vs []string) bool {
	for _, v := range vs {
		if strings.Contains(v, keys.Prefix) {
			return true
		}
	}
	return false
}

// dropResponseHeader reports an upstream response header the client must
// not get: hop-by-hop ones, the transport's framing, and those about the
// gateway's own upstream account (the client gets the gateway's limits).
func dropResponseHeader(k string) bool {
	if hopByHop(k) {
		return true
	}
	switch k {
	case "X-Ratelimit-Limit-Requests", "X-Ratelimit-Limit-Tokens",
		"X-Ratelimit-Remaining-Requests", "X-Ratelimit-Remaining-Tokens",
		"X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens",
		"Openai-Organization", "Openai-Project", "Set-Cookie",
		// The gateway's own: an upstream cannot name the channel or
		// claim a cache hit.
		"X-Oais-Channel", "X-Oais-Cache":
		return true
	}
	return false
}

// connectionNames reports whether a Connection header names k as a
// hop-by-hop header (RFC 9110 §7.6.1).
func connectionNames(conn []string, k string) bool {
	for _, v := range conn {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(name), k) {
				return true
			}
		}
	}
	return false
}

// copyResponseHeader copies the upstream's answer headers the client may
// see into dst, sharing their values. The upstream's x-request-id stays
// findable as x-upstream-request-id; the answer's x-request-id is ours.
// Content-Length is the relay's to set, and Date net/http's: with the
// gateway's own headers an answer then has 8, which a header map holds
// without growing (and net/http clones it once more on WriteHeader).
func copyResponseHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, v := range src {
		switch {
		case dropResponseHeader(k), k == "Content-Length", k == "Date", conn != nil && connectionNames(conn, k):
		case k == "X-Request-Id":
			dst["X-Upstream-Request-Id"] = v
		default:
			dst[k] = v
		}
	}
}

// relay writes the upstream's answer to the client, metering a successful
// one. It returns the error that cut the body, if any.
func (g *Gateway) relay(c *call, w *respWriter, res *http.Response) error {
	h := w.Header()
	copyResponseHeader(h, res.Header)
	ct := res.Header.Get("Content-Type")
	sse := strings.HasPrefix(ct, "text/event-stream")
	metered := res.StatusCode >= 200 && res.StatusCode < 300 && c.ep.kind != kindModels
	var body io.Reader = res.Body
	switch {
	case !metered:
		// Upstream errors and the model list pass through as they are,
		// never billed.
	case c.stream && sse:
		c.sseBuf.init(res.Body, c.hide)
		c.sseBuf.responses = c.ep.kind == kindResponses
		c.sse = &c.sseBuf
		body = c.sse
		if c.hide {
			// Hiding the usage chunk changes the length.
			delete(h, "Content-Length")
		}
	default:
		c.jsm = jsonMeter{src: res.Body}
		if c.ep.kind == kindResponses {
			c.jsm.names = &responsesUsage
		}
		c.js = &c.jsm
	}
	if sse {
		if res.ContentLength >= 0 && !(c.sse != nil && c.hide) {
			setContentLength(h, res.ContentLength)
		}
		return c.relayStream(w, res.StatusCode, body)
	}
	return relayWhole(w, res.StatusCode, res.Body, res.ContentLength, c.js)
}

// autoLength is the body size up to which net/http sets Content-Length
// itself, for a body written whole before the handler returns (its
// response buffer, bufferBeforeChunkingSize).
const autoLength = 2048

func setContentLength(h http.Header, n int64) {
	h["Content-Length"] = []string{strconv.FormatInt(n, 10)}
}

// relayWhole relays a plain answer. One that fits the pooled buffer (nearly
// all) is sent in one write with its length and metered in place; a larger
// one streams through js.
func relayWhole(w *respWriter, status int, src io.Reader, length int64, js *jsonMeter) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	n, err := readUpTo(src, buf)
	if err == io.EOF {
		if js != nil {
			js.whole(buf[:n])
		}
		if n > autoLength {
			setContentLength(w.Header(), int64(n))
		}
		w.WriteHeader(status)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		return nil
	}
	if length >= 0 {
		setContentLength(w.Header(), length)
	}
	w.WriteHeader(status)
	if n > 0 {
		if js != nil {
			js.keep(buf[:n])
		}
		if _, werr := w.Write(buf[:n]); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	var r io.Reader = src
	if js != nil {
		r = js
	}
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// readUpTo reads into buf until it is full or src fails; io.EOF means the
// whole body is in buf[:n].
func readUpTo(src io.Reader, buf []byte) (n int, err error) {
	for n < len(buf) {
		var k int
		k, err = src.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// sseHeaderDelay is how long a stream's headers may wait for its first
// event before they are flushed alone: the first event usually comes with
// them, saving a write, and a client still learns the status quickly when
// the model is slow to its first token.
const sseHeaderDelay = 25 * time.Millisecond

// headerFlush flushes a stream's headers after sseHeaderDelay unless an
// event flushed them first. It runs on a timer goroutine, so until the
// handler's first flush both take mu; after that only the handler touches
// the writer.
type headerFlush struct {
	mu   sync.Mutex
	done bool
	w    *respWriter
}

func (f *headerFlush) fire() {
	f.mu.Lock()
	if !f.done {
		f.done = true
		f.w.Flush()
	}
	f.mu.Unlock()
}

// disarm ends the timer's claim on the writer, if it still has one. It
// reports false when the timer's goroutine had already started, and so
// may still be running.
func (f *headerFlush) disarm(armed *bool, t *time.Timer) bool {
	if *armed {
		f.mu.Lock()
		f.done = true
		f.mu.Unlock()
		*armed = false
		return t.Stop()
	}
	return true
}

// relayStream relays a streamed answer: each upstream read (for SSE
// through the meter: every complete event it brought) is written and
// flushed at once.
func (c *call) relayStream(w *respWriter, status int, body io.Reader) error {
	w.WriteHeader(status)
	c.hf = headerFlush{w: w}
	t := time.AfterFunc(sseHeaderDelay, c.hf.fire)
	armed := true
	defer func() {
		if armed && !c.hf.disarm(&armed, t) {
			c.hfLate = true
		}
	}()
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if armed {
				c.hf.mu.Lock()
			}
			_, werr := w.Write(buf[:n])
			if werr == nil {
				w.Flush()
			}
			if armed {
				c.hf.done = true
				c.hf.mu.Unlock()
				if !c.hf.disarm(&armed, t) {
					c.hfLate = true
				}
			}
			if werr != nil {
				return werr
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// upstreamFailed answers a call whose upstream exchange failed before any
// answer: 504 for a timeout, 502 otherwise (nothing, when the client left).
func (g *Gateway) upstreamFailed(c *call, w *respWriter, r *http.Request, err error) {
	var ne net.Error
	switch {
	case c.client.Err() != nil:
		c.proxyErr = errClientGone
	case errors.Is(err, egress.ErrForbidden):
		c.proxyErr = ErrUpstreamForbidden
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		c.proxyErr = ErrUpstreamTimeout
	default:
		c.proxyErr = ErrUpstreamDown
	}
	host := g.upstream.Host
	if c.ch != nil && c.ch.BaseURL != nil {
		host = c.ch.BaseURL.Host
	} else if wu := c.p.Workspace.Upstream; wu != nil && wu.BaseURL != nil {
		host = wu.BaseURL.Host
	}
	attrs := []slog.Attr{slog.String("request_id", c.publicID), slog.String("upstream", host), slog.String("err", err.Error())}
	if c.ch != nil {
		attrs = append(attrs, slog.String("channel", c.ch.Name))
	}
	g.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream request failed", attrs...)
	writeError(w, c.proxyErr)
}
