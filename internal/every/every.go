// Package every runs a function on a ticker until its context ends: the one
// loop behind the gateway's key snapshot, price and spool followers and the
// control plane's billing, spend-alert and retention jobs.
package every

import (
	"context"
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
