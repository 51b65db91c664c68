package drain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// ServeFast is Serve on a github.com/valyala/fasthttp server: the same
// lifecycle (OnDrain, no new connections, requests and streams in flight
// run to their end for up to Timeout, then they are cut and their handlers
// waited for) and the same limits, for the same http.Handler. fasthttp's
// server parses, buffers and writes with a third of net/http's CPU per
// request (docs/benchmarks.md), which on the gateway's hot path is most of
// what it spends beyond its own work; the handler keeps net/http's types,
// so the gateway's code, its tests and its upstream Transport (HTTP/2,
// proxy settings) stay on net/http. How a handler's answer reaches the
// client is in bridge.go.
//
// What differs from Serve, as a client can see it: the status line and
// headers of a flushed answer go out with its first bytes of body, not
// alone, and headers are bounded by FastMaxHeaderBytes. A client that hangs
// up ends its request's context at once on both (bridge.go).
func ServeFast(ctx context.Context, ln net.Listener, h http.Handler, o Options) error {
	o = o.withDefaults()
	log := o.Logger
	hard, cut := context.WithCancel(context.Background())
	defer cut()
	b := &bridge{h: h, base: context.WithValue(hard, http.ServerContextKey, bridgeServer), log: log}
	var conns connSet
	bodyTimeout := o.ReadTimeout
	if bodyTimeout <= 0 {
		bodyTimeout = BodyReadTimeout
	}
	srv := &fasthttp.Server{
		Handler: b.serve,
		// Until the headers are in, ReadTimeout is net/http's
		// ReadHeaderTimeout; HeaderReceived then gives the body its own.
		ReadTimeout: ReadHeaderTimeout,
		HeaderReceived: func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: bodyTimeout}
		},
		WriteTimeout:   o.WriteTimeout,
		IdleTimeout:    IdleTimeout,
		ReadBufferSize: FastMaxHeaderBytes,
		// Every body streams to the handler, which bounds its size and
		// the time it takes (the gateway answers its own 413 and 408);
		// what came with the headers is read from the server's buffer.
		MaxRequestBodySize:           1,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		Name:                         o.Name,
		Logger:                       fastLogger{log},
		ConnState:                    conns.track,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if err == nil {
			// fasthttp stops quietly when its listener closes; nothing
			// asked it to.
			err = fmt.Errorf("%s: the listener closed: %w", o.Name, net.ErrClosed)
		}
		return err
	case <-ctx.Done():
	}
	if o.OnDrain != nil {
		o.OnDrain()
	}
	start := time.Now()
	log.Info(o.Name+": draining: no new connections; requests in flight run to their end", "in_flight", b.inflight.Load(), "timeout", o.Timeout.String())
	dctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	err := srv.ShutdownWithContext(dctx)
	// fasthttp closes only a listener Serve already took; one it had not
	// reached yet is closed here, so Serve returns either way.
	_ = ln.Close()
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn(o.Name+": drain timeout reached: cutting the requests still in flight", "in_flight", b.inflight.Load(), "timeout", o.Timeout.String())
		cut()
		conns.closeAll()
		err = nil
		if !waitZero(&b.inflight, CutGrace) {
			log.Error(o.Name+": handlers still running after their connections were cut", "in_flight", b.inflight.Load())
		}
	}
	if serr := <-errc; err == nil {
		err = serr
	}
	log.Info(o.Name+": drained", "took", time.Since(start).Round(time.Millisecond).String())
	return err
}

// The request bounds ServeFast adds to those it shares with Serve.
const (
	// BodyReadTimeout bounds reading a request's body once its headers
	// are in, unless the handler sets its own deadline (SetReadDeadline,
	// as the gateway does). net/http's servers here have no such bound.
	BodyReadTimeout = time.Minute
	// FastMaxHeaderBytes bounds a request line and its headers on
	// ServeFast (431 above). It is each connection's read buffer, held
	// while the connection is open, so it is kept below MaxHeaderBytes:
	// nginx allows 8 KiB a header line by default.
	FastMaxHeaderBytes = 16 << 10
)

// bridgeServer marks a request's context as served by a real server
// (http.ServerContextKey), as net/http's does: handlers that abort an
// answer with http.ErrAbortHandler check it.
var bridgeServer = &http.Server{}

// connSet is the server's open connections, to cut at the drain deadline
// (fasthttp's Shutdown closes only idle ones).
type connSet struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

func (s *connSet) track(c net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateNew:
		s.mu.Lock()
		if s.m == nil {
			s.m = make(map[net.Conn]struct{})
		}
		s.m[c] = struct{}{}
		s.mu.Unlock()
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		s.mu.Lock()
		delete(s.m, c)
		s.mu.Unlock()
	}
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.m {
		_ = c.Close()
	}
}

// fastLogger sends fasthttp's own messages (malformed requests, read
// errors) to the log at debug, as Serve does with net/http's ErrorLog.
type fastLogger struct{ log *slog.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("http server", "msg", fmt.Sprintf(format, args...))
	}
}
