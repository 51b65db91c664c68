package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Defaults of WorkerConfig.
const (
	// DefaultInterval is OAIS_BILLING_INTERVAL's default.
	DefaultInterval = time.Minute
	// MinInterval keeps Identifier's per-interval uniqueness meaningful and
	// the ledger's transaction rate sane.
	MinInterval        = time.Second
	defaultAttempts    = 5
	defaultBaseBackoff = 500 * time.Millisecond
	defaultMaxBackoff  = 30 * time.Second
	// Stripe refuses meter events older than 35 days; keep a day's margin.
	maxEventAge = 34 * 24 * time.Hour
)

// Sender is the part of Stripe the worker uses; *Stripe implements it.
type Sender interface {
	EnsureMeter(ctx context.Context) (meterID, eventName string, err error)
	EnsureCustomer(ctx context.Context, workspaceID, name, email string) (string, error)
	SendMeterEvent(ctx context.Context, ev MeterEvent) error
}

var _ Sender = (*Stripe)(nil)

// Retry bounds how one tick retries a failing Stripe call: capped exponential
// backoff with jitter. A period still unsent after Attempts waits for the
// next tick, which sends it again under the same identifier.
type Retry struct {
	Attempts int           // tries per call per tick; default 5
	Base     time.Duration // first delay; default 500ms
	Max      time.Duration // cap on any delay; default 30s
}

// WorkerConfig configures a Worker. Ledger is required; Customers is required
// with Sender.
type WorkerConfig struct {
	// Interval is OAIS_BILLING_INTERVAL: periods close on multiples of it.
	Interval  time.Duration
	Ledger    Ledger
	Customers Customers
	// Sender is the Stripe client; nil runs the local ledger only (periods
	// are closed, nothing is sent).
	Sender Sender
	Retry  Retry
	Logger *slog.Logger
	// Sleep waits between retries; nil means a timer. Tests replace it so
	// that no test waits on the clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Worker is the metering worker: each tick it closes the interval's periods
// in the ledger and sends every unsent period to Stripe.
type Worker struct {
	cfg        WorkerConfig
	log        *slog.Logger
	meterReady bool
}

// NewWorker validates cfg, fills in defaults and returns a Worker.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	switch {
	case cfg.Interval < MinInterval:
		return nil, fmt.Errorf("%w: OAIS_BILLING_INTERVAL %v is below %v", ErrInvalid, cfg.Interval, MinInterval)
	case cfg.Ledger == nil:
		return nil, fmt.Errorf("%w: worker needs a ledger", ErrInvalid)
	case cfg.Sender != nil && cfg.Customers == nil:
		return nil, fmt.Errorf("%w: worker with a sender needs customers", ErrInvalid)
	}
	if cfg.Retry.Attempts <= 0 {
		cfg.Retry.Attempts = defaultAttempts
	}
	if cfg.Retry.Base <= 0 {
		cfg.Retry.Base = defaultBaseBackoff
	}
	if cfg.Retry.Max <= 0 {
		cfg.Retry.Max = defaultMaxBackoff
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, log: log.With("component", "billing")}, nil
}

// Run ticks once at start (to send what a previous run left unsent), then at
// every interval boundary, until ctx ends. A failed tick is logged and its
// work is picked up by the next one.
func (w *Worker) Run(ctx context.Context) error {
	if w.cfg.Sender == nil {
		w.log.Info("stripe not configured: billing runs on the local ledger only")
	}
	for {
		if err := w.Tick(ctx, w.cfg.Now()); err != nil && ctx.Err() == nil {
			w.log.Warn("billing tick failed", "err", err)
		}
		now := w.cfg.Now()
		timer := time.NewTimer(now.Truncate(w.cfg.Interval).Add(w.cfg.Interval).Sub(now))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// Tick closes the interval that ended at or before now, then (with a Sender)
// sends every unsent period. It returns the first error that stopped it;
// whatever it did not finish stays in the ledger for the next tick.
func (w *Worker) Tick(ctx context.Context, now time.Time) error {
	before := now.Truncate(w.cfg.Interval)
	closed, err := w.cfg.Ledger.ClosePeriods(ctx, before, w.cfg.Interval)
	if err != nil {
		return fmt.Errorf("close periods before %v: %w", before, err)
	}
	if len(closed) > 0 {
		w.log.Info("billing periods closed", "count", len(closed), "interval_end", before)
	}
	if w.cfg.Sender == nil {
		return nil
	}
	if !w.meterReady {
		err := w.retry(ctx, "ensure meter", func(ctx context.Context) error {
			_, _, err := w.cfg.Sender.EnsureMeter(ctx)
			return err
		})
		if err != nil {
			return err
		}
		w.meterReady = true
	}
	return w.sendUnsent(ctx, now)
}

func (w *Worker) sendUnsent(ctx context.Context, now time.Time) error {
	periods, err := w.cfg.Ledger.UnsentPeriods(ctx)
	if err != nil {
		return fmt.Errorf("unsent periods: %w", err)
	}
	var permanent error
	for _, p := range periods {
		err := w.send(ctx, p, now)
		switch {
		case err == nil:
		case errors.Is(err, ErrPermanent) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound):
			// Only this period is wrong (e.g. a customer deleted in
			// Stripe); the others still go. It stays unsent, and in
			// Reconcile, until someone fixes the cause.
			w.log.Error("billing period not sent", "period", p.ID, "workspace", p.WorkspaceID, "identifier", p.Identifier, "err", err)
			permanent = errors.Join(permanent, err)
		default:
			// Stripe is unreachable: the rest would fail the same way.
			return err
		}
	}
	return permanent
}

func (w *Worker) send(ctx context.Context, p Period, now time.Time) error {
	customerID, err := w.customerID(ctx, p.WorkspaceID)
	if err != nil {
		return err
	}
	ev := MeterEvent{
		Identifier:  p.Identifier,
		CustomerID:  customerID,
		ValueMicros: p.CostMicros,
		Timestamp:   eventTime(p, now),
	}
	if err := w.retry(ctx, "send meter event", func(ctx context.Context) error {
		return w.cfg.Sender.SendMeterEvent(ctx, ev)
	}); err != nil {
		return err
	}
	// If this fails after Stripe accepted, the next tick re-sends the same
	// identifier and Stripe drops the copy.
	if err := w.cfg.Ledger.MarkSent(ctx, p.ID, w.cfg.Now()); err != nil {
		return fmt.Errorf("mark period %s sent: %w", p.ID, err)
	}
	w.log.Info("billing period sent", "period", p.ID, "workspace", p.WorkspaceID, "identifier", p.Identifier, "cost_micros", p.CostMicros)
	return nil
}

// eventTime stamps an event inside its interval, so Stripe puts it in the
// invoice period the usage belongs to; a period older than Stripe accepts
// is stamped now instead of being refused forever.
func eventTime(p Period, now time.Time) time.Time {
	t := p.IntervalEnd.Add(-time.Second)
	if t.Before(p.IntervalStart) {
		t = p.IntervalStart
	}
	if now.Sub(t) > maxEventAge || t.After(now) {
		return now
	}
	return t
}

// customerID returns the workspace's Stripe customer, creating it first if
// the workspace has none.
func (w *Worker) customerID(ctx context.Context, workspaceID string) (string, error) {
	c, err := w.cfg.Customers.Customer(ctx, workspaceID)
	if err != nil {
		return "", fmt.Errorf("customer of workspace %s: %w", workspaceID, err)
	}
	if c.StripeCustomerID != "" {
		return c.StripeCustomerID, nil
	}
	var id string
	if err := w.retry(ctx, "ensure customer", func(ctx context.Context) error {
		var err error
		id, err = w.cfg.Sender.EnsureCustomer(ctx, workspaceID, c.Name, c.Email)
		return err
	}); err != nil {
		return "", err
	}
	if err := w.cfg.Customers.SetCustomerID(ctx, workspaceID, id); err != nil {
		return "", fmt.Errorf("record customer of workspace %s: %w", workspaceID, err)
	}
	return id, nil
}

// retry calls fn until it succeeds, fails permanently, ctx ends, or the
// attempts run out.
func (w *Worker) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	var err error
	for attempt := range w.cfg.Retry.Attempts {
		if err = fn(ctx); err == nil || !errors.Is(err, ErrRetryable) {
			return err
		}
		if attempt == w.cfg.Retry.Attempts-1 {
			break
		}
		d := backoff(w.cfg.Retry, attempt, rand.Int64N)
		w.log.Debug("stripe call failed, retrying", "op", what, "attempt", attempt+1, "delay", d, "err", err)
		if serr := w.cfg.Sleep(ctx, d); serr != nil {
			return serr
		}
	}
	return fmt.Errorf("%s: %d attempts: %w", what, w.cfg.Retry.Attempts, err)
}

// backoff returns the delay before retry number attempt+1: Base·2^attempt,
// capped at Max, then drawn uniformly from its upper half so that replicas
// retrying together spread out. randN(n) returns a value in [0, n).
func backoff(r Retry, attempt int, randN func(int64) int64) time.Duration {
	d := r.Max
	if attempt < 62 && r.Base <= r.Max>>attempt {
		d = r.Base << attempt
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return d - half + time.Duration(randN(int64(half)+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
