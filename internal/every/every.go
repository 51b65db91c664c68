// Package every runs a function on a ticker until its context ends: the one
// loop behind the gateway's key snapshot, price and spool followers and the
// control plane's billing, spend-alert and retention jobs. Zero is the same
// loop waiting for a count of things in flight to drain.
package every

import (
	"context"
	"sync/atomic"
	"time"
)

// Option changes how Run ticks.
type Option func(*options)

type options struct {
	now  bool
	wake <-chan struct{}
}

// Now makes Run call f once at start, before the first interval.
func Now() Option { return func(o *options) { o.now = true } }

// Wake makes Run call f early whenever wake receives (a change
// notification, say); the ticker keeps its own rhythm.
func Wake(wake <-chan struct{}) Option { return func(o *options) { o.wake = wake } }

// Run calls f every interval until ctx ends, then returns nil. f gets ctx
// and is never called concurrently with itself; a slow f delays the next
// call rather than piling them up. interval must be positive.
func Run(ctx context.Context, interval time.Duration, f func(context.Context), opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	if o.now && ctx.Err() == nil {
		f(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-o.wake:
		}
		if ctx.Err() != nil {
			return nil
		}
		f(ctx)
	}
}

// Zero waits, looking every interval, until n is zero or ctx ends (then
// it returns ctx's error): how a draining server waits for its handlers,
// or a limiter for its settlements in flight, without a condition variable
// on their hot path.
func Zero(ctx context.Context, n *atomic.Int64, interval time.Duration) error {
	if n.Load() <= 0 {
		return nil
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for n.Load() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
