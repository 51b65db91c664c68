package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// fastProxy is a second reference, for scale only: a bare reverse proxy on
// github.com/valyala/fasthttp on both sides, the HTTP stack of the fastest
// Go gateways, and nothing else (no auth, limits, metering or logging). It
// runs in the saturation phases, so that "how far could another HTTP stack
// take the gateway" is a measurement of this machine in the same run, not
// a guess. Like the bare proxy it has the whole request body before it
// forwards it (fasthttp reads it in full), relays plain answers with their
// length and flushes a stream after every upstream read.
func fastProxy(up *url.URL) func(ctx context.Context, ln net.Listener) error {
	hc := &fasthttp.HostClient{
		Addr:                          up.Host,
		MaxConns:                      1024,
		StreamResponseBody:            true,
		ReadTimeout:                   time.Minute,
		WriteTimeout:                  time.Minute,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
	}
	handle := func(ctx *fasthttp.RequestCtx) {
		req := &ctx.Request
		req.URI().SetHost(up.Host)
		req.Header.SetHost(up.Host)
		resp := fasthttp.AcquireResponse()
		if err := hc.Do(req, resp); err != nil {
			fasthttp.ReleaseResponse(resp)
			ctx.Error("bad gateway: "+err.Error(), fasthttp.StatusBadGateway)
			return
		}
		resp.Header.CopyTo(&ctx.Response.Header)
		body := &upstreamBody{resp: resp}
		if !bytes.HasPrefix(resp.Header.ContentType(), []byte("text/event-stream")) {
			ctx.Response.SetBodyStream(body, resp.Header.ContentLength()) // closed by the server once written
			return
		}
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) { relayStream(w, body) })
	}
	return serveFast(handle)
}

// upstreamBody is an upstream answer's body stream; Close releases the
// answer.
type upstreamBody struct {
	resp *fasthttp.Response
	once sync.Once
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if s := b.resp.BodyStream(); s != nil {
		return s.Read(p)
	}
	return 0, io.EOF
}

func (b *upstreamBody) Close() error {
	b.once.Do(func() {
		_ = b.resp.CloseBodyStream()
		fasthttp.ReleaseResponse(b.resp)
	})
	return nil
}

var fastBufs = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

// hybridProxy is the lever issue 18 names, measured bare: a fasthttp
// server in front of net/http's Transport towards the upstream (which the
// gateway keeps for HTTP/2, proxy settings and its connection pool). It
// answers "what would moving only the gateway's inbound server to fasthttp
// give" with the rest of the gateway's work left out, as the bare and
// fasthttp proxies do for their stacks.
func hybridProxy(up *url.URL) func(ctx context.Context, ln net.Listener) error {
	tr := proxyTransport()
	target := *up
	handle := func(ctx *fasthttp.RequestCtx) {
		u := target
		u.Path = string(ctx.Path())
		out := &http.Request{
			Method:        string(ctx.Method()),
			URL:           &u,
			Host:          up.Host,
			Header:        make(http.Header, 4),
			Body:          io.NopCloser(bytes.NewReader(ctx.PostBody())),
			ContentLength: int64(len(ctx.PostBody())),
			Proto:         "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		}
		out = out.WithContext(ctx)
		for k, v := range ctx.Request.Header.All() {
			if string(k) == "Host" || string(k) == "Content-Length" || hopHeaders[string(k)] {
				continue
			}
			out.Header[string(k)] = append(out.Header[string(k)], string(v))
		}
		resp, err := tr.RoundTrip(out)
		if err != nil {
			ctx.Error("bad gateway: "+err.Error(), fasthttp.StatusBadGateway)
			return
		}
		for k, vs := range resp.Header {
			if hopHeaders[k] {
				continue
			}
			for _, v := range vs {
				ctx.Response.Header.Add(k, v)
			}
		}
		ctx.SetStatusCode(resp.StatusCode)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			ctx.Response.SetBodyStream(resp.Body, int(resp.ContentLength)) // closed by the server once written
			return
		}
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) { relayStream(w, resp.Body) })
	}
	return serveFast(handle)
}

// serveFast serves handle on a fasthttp server until ctx ends.
func serveFast(handle fasthttp.RequestHandler) func(ctx context.Context, ln net.Listener) error {
	return func(ctx context.Context, ln net.Listener) error {
		s := &fasthttp.Server{Handler: handle, NoDefaultServerHeader: true, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
		go func() { <-ctx.Done(); _ = s.Shutdown() }()
		return s.Serve(ln)
	}
}

// relayStream writes body to w and flushes after every read, until body
// ends or the client is gone; it closes body.
func relayStream(w *bufio.Writer, body io.ReadCloser) {
	defer body.Close()
	bp := fastBufs.Get().(*[]byte)
	defer fastBufs.Put(bp)
	for {
		n, err := body.Read(*bp)
		if n > 0 {
			if _, werr := w.Write((*bp)[:n]); werr != nil || w.Flush() != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hopHeaders are the hop-by-hop headers a proxy does not pass on (RFC 9110
// section 7.6.1, as httputil.ReverseProxy drops them), in the canonical form
// both servers give keys.
var hopHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}
