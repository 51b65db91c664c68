// Package drain serves HTTP with the lifecycle both binaries share: bounded
// header reads, and on shutdown a drain. When the context ends, Serve calls
// OnDrain (the binary's /readyz starts answering 503), stops accepting,
// lets requests and streams in flight run to their end for up to Timeout,
// then cuts what is left and waits for those handlers to return, so that
// whatever they do on the way out (metering a cut stream) is done before
// the process closes its stores.
package drain

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/oais/oais/internal/every"
)

// Defaults of Options, and the limits every server gets.
const (
	// DefaultTimeout sits under Kubernetes' default 30 s grace period, so
	// the process exits on its own before the kubelet sends SIGKILL.
	DefaultTimeout = 25 * time.Second
	// ReadHeaderTimeout bounds a client's request line and headers
	// (slowloris).
	ReadHeaderTimeout = 10 * time.Second
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
	// IdleTimeout closes keep-alive connections nobody uses.
	IdleTimeout = 2 * time.Minute
	// CutGrace bounds the wait for handlers once their connections were
	// cut at the deadline; they only have to notice their context ended.
	CutGrace = 5 * time.Second
)

// Options configure Serve.
type Options struct {
	// Timeout bounds the drain; DefaultTimeout if zero.
	Timeout time.Duration
	// OnDrain, if set, is called once as the drain starts, before the
	// listener closes.
	OnDrain func()
	// ReadTimeout and WriteTimeout bound a whole request and its answer.
	// Leave them zero on a server that streams: net/http ends a request's
	// context once ReadTimeout passes, even mid-answer.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// Logger receives the drain's progress; slog.Default() if nil.
	Logger *slog.Logger
	// Name names the server in log lines ("gateway", "control plane").
	Name string
}

// withDefaults fills the options left zero.
func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Serve serves h on ln until ctx ends, then drains as the package says. It
// returns nil after a drain, cut or not, and the server's error if it
// stopped on its own.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, o Options) error {
	o = o.withDefaults()
	log := o.Logger
	// hard is every request's base context: it ends only when the drain
	// gives up on them, so a stream runs to its end while the rest drains.
	hard, cut := context.WithCancel(context.Background())
	defer cut()
	var inflight atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight.Add(1)
			defer inflight.Add(-1)
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return hard },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if o.OnDrain != nil {
		o.OnDrain()
	}
	start := time.Now()
	log.Info(o.Name+": draining: no new connections; requests in flight run to their end", "in_flight", inflight.Load(), "timeout", o.Timeout.String())
	dctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	err := srv.Shutdown(dctx)
	if errors.Is(err, context.DeadlineExceeded) {
		left := inflight.Load()
		log.Warn(o.Name+": drain timeout reached: cutting the requests still in flight", "in_flight", left, "timeout", o.Timeout.String())
		cut()
		err = srv.Close()
		if !waitZero(&inflight, CutGrace) {
			log.Error(o.Name+": handlers still running after their connections were cut", "in_flight", inflight.Load())
		}
	}
	if serr := <-errc; err == nil && !errors.Is(serr, http.ErrServerClosed) {
		err = serr
	}
	log.Info(o.Name+": drained", "took", time.Since(start).Round(time.Millisecond).String())
	return err
}

// waitZero waits up to d for n to reach zero.
func waitZero(n *atomic.Int64, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return every.Zero(ctx, n, 10*time.Millisecond) == nil
}
