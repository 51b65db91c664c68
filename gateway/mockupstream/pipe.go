package mockupstream

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// InProcess serves a mock over in-memory connections, so a gateway without
// a configured upstream needs no port and cannot be reached from outside.
// Plug DialContext into an http.Transport and send requests to BaseURL.
type InProcess struct {
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once
	server *http.Server
}

// BaseURL is the upstream base URL to use with an InProcess mock; its host
// is never resolved, DialContext ignores it.
const BaseURL = "http://mock.oais.invalid/v1"

// StartInProcess serves h (usually New(...)) in memory until Close.
func StartInProcess(h http.Handler) *InProcess {
	p := &InProcess{conns: make(chan net.Conn), done: make(chan struct{})}
	p.server = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(listener{p}) }()
	return p
}

// DialContext returns a new in-memory connection to the mock.
func (p *InProcess) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case p.conns <- server:
		return client, nil
	case <-p.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops the mock; in-flight requests are cut.
func (p *InProcess) Close() error {
	p.once.Do(func() { close(p.done) })
	return p.server.Close()
}

// listener is the http.Server's side. Its Close must not call back into
// InProcess.Close: http.Server.Close closes its listeners.
type listener struct{ p *InProcess }

func (l listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.p.conns:
		return c, nil
	case <-l.p.done:
		return nil, net.ErrClosed
	}
}

func (l listener) Close() error {
	l.p.once.Do(func() { close(l.p.done) })
	return nil
}

func (listener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "mock.oais.invalid:80" }

var _ net.Listener = listener{}
