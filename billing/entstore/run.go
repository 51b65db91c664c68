package entstore

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/internal/every"
	"github.com/oais/oais/internal/store"
)

// StartWorker runs billing on s until ctx ends: the metering worker (close
// each interval's periods, send the unsent ones to stripe) and, every
// interval, the sweep that suspends past-due workspaces whose grace is over.
// A nil stripe runs the local ledger only; metrics may be nil. It returns
// nil when ctx ends, or an error if the configuration is invalid.
func StartWorker(ctx context.Context, s *store.Store, stripe *billing.Stripe, interval time.Duration, metrics *billing.Metrics, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st := New(s)
	cfg := billing.WorkerConfig{Interval: interval, Ledger: st, Customers: st, Logger: logger, Metrics: metrics}
	if stripe != nil { // a nil *Stripe in the interface would not be a nil Sender
		cfg.Sender = stripe
	}
	w, err := billing.NewWorker(cfg)
	if err != nil {
		return err
	}
	if interval == 0 {
		interval = billing.DefaultInterval
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return w.Run(ctx) })
	g.Go(func() error {
		log := logger.With("component", "billing")
		return every.Run(ctx, interval, func(ctx context.Context) {
			if n, err := st.SuspendOverdue(ctx, time.Now()); err != nil && ctx.Err() == nil {
				log.Warn("suspending overdue workspaces failed", "err", err)
			} else if n > 0 {
				log.Info("overdue workspaces suspended", "count", n)
			}
		}, every.Now())
	})
	return g.Wait()
}

// Webhook returns the handler for POST billing.WebhookPath on s: Stripe's
// payment events, verified with secret, suspend a workspace suspendAfter a
// failed payment (0: at once) and reactivate it when an invoice is paid;
// its meter error reports are recorded and counted in metrics (may be nil).
func Webhook(s *store.Store, secret string, suspendAfter time.Duration, metrics *billing.Metrics, logger *slog.Logger) http.Handler {
	return billing.WebhookHandler(secret, New(s), billing.WebhookOptions{SuspendAfter: suspendAfter, Logger: logger, Metrics: metrics})
}

// Reconciler compares the ledger on s with what stripe counted; a nil
// stripe (not configured) leaves every row billing.ReconcileUnchecked.
func Reconciler(s *store.Store, stripe *billing.Stripe) billing.Reconciler {
	r := billing.Reconciler{Store: New(s)}
	if stripe != nil { // a nil *Stripe in the interface would not be a nil reader
		r.Stripe = stripe
	}
	return r
}
