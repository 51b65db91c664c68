package stripetest

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
)

// Mode is how a Proxy treats the requests it receives.
type Mode int32

// Proxy modes.
const (
	// Up forwards requests and relays the answers.
	Up Mode = iota
	// Refuse drops the connection without answering: a network error.
	Refuse
	// BadGateway answers 502 without forwarding.
	BadGateway
	// LoseResponse forwards the request, then answers 502: the backend
	// acted on it but the client cannot know, the case that idempotency
	// exists for.
	LoseResponse
)

// Proxy is a loopback reverse proxy in front of a backend (stripe-mock) that
// a test can switch between Up and failing modes. It records what it
// forwarded, which is what the backend actually received.
type Proxy struct {
	// URL is the proxy's base URL; point the client here.
	URL string

	mode      atomic.Int32
	forwarded RecordingTransport
	proxy     *httputil.ReverseProxy
}

// NewProxy starts a Proxy in front of target in mode Up and closes it when
// the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("stripetest: proxy target: %v", err)
	}
	p := &Proxy{}
	p.proxy = &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport: &p.forwarded,
	}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// SetMode switches how later requests are treated.
func (p *Proxy) SetMode(m Mode) { p.mode.Store(int32(m)) }

// Forwarded returns the requests that reached the backend, with the
// backend's status.
func (p *Proxy) Forwarded() []Request { return p.forwarded.Requests() }

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	switch Mode(p.mode.Load()) {
	case Refuse:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		http.Error(w, "refused", http.StatusBadGateway)
	case BadGateway:
		http.Error(w, "backend unavailable", http.StatusBadGateway)
	case LoseResponse:
		p.proxy.ServeHTTP(httptest.NewRecorder(), r)
		http.Error(w, "response lost", http.StatusBadGateway)
	default:
		p.proxy.ServeHTTP(w, r)
	}
}
