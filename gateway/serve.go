package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Serve serves the gateway on ln until ctx is cancelled, then drains: it
// stops accepting, fails /readyz, lets in-flight requests and streams
// finish for up to Config.DrainTimeout, cuts what is left (streams cut
// there are billed as estimated) and returns.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: a stream may legitimately last minutes; the
		// upstream timeout bounds it instead.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		BaseContext:    func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	g.draining.Store(true)
	dctx, cancel := context.WithTimeout(context.Background(), g.cfg.DrainTimeout)
	defer cancel()
	err := srv.Shutdown(dctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
