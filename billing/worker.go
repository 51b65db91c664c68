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
)

// Exactly-once bounds. Stripe drops a meter event whose identifier it
// received within DedupWindow, and promises no more than that.
const (
	// DedupWindow is how long Stripe is documented to remember a meter event
	// identifier ("a rolling period of at least 24 hours").
	DedupWindow = 24 * time.Hour
	// SafeResendWindow is how long after a generation's first attempt the
	// worker resends it as it is. The hour of margin covers a tick's
	// retries (minutes), request timeouts and clock drift between the
	// replicas and Stripe. Past it the worker reads Stripe's meter event
	// summary before sending anything. Keep it below DedupWindow.
	SafeResendWindow = DedupWindow - time.Hour
	// FinalizationGrace is Stripe's default invoice finalization grace:
	// usage stamped in a billing cycle still reaches that cycle's invoice
	// for this long after the cycle ends. A period first attempted later
	// than this after its interval is stamped at the attempt instead, so it
	// lands on the invoice still open rather than on one Stripe may have
	// finalized (docs/billing.md, "Late usage"). Raise it together with the
	// Stripe account's setting.
	FinalizationGrace = time.Hour
	// legacyEventAge is how old a stamp the worker before attempt
	// bookkeeping could have replaced by "now" (Stripe refuses events older
	// than 35 days; it kept a day's margin). A period from then whose
	// projected stamp is older cannot be checked against Stripe and is held.
	legacyEventAge = 34 * 24 * time.Hour
)

// Sender is the part of Stripe the worker uses; *Stripe implements it.
type Sender interface {
	EnsureMeter(ctx context.Context) (meterID, eventName string, err error)
	EnsureCustomer(ctx context.Context, workspaceID, name, email string) (string, error)
	SendMeterEvent(ctx context.Context, ev MeterEvent) error
	UsageReader
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
	// Metrics counts reissued and held periods; nil counts nothing.
	Metrics *Metrics
}

// Worker is the metering worker: each tick it closes the interval's periods
// in the ledger and sends every unsent period to Stripe.
type Worker struct {
	cfg        WorkerConfig
	log        *slog.Logger
	meterReady bool
	// claims is each unsent period's Sends as this worker last left it
	// (see sendUnsent); only the Run goroutine touches it.
	claims map[string]int
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
	// Every replica's worker ticks at the same interval boundaries and
	// lists the same unsent periods; each period must reach Stripe once (a
	// second send under its identifier would be dropped by Stripe, but it
	// is a request too many: TestFourReplicas counted 13 of 31 sent twice).
	// A worker sends only what its claim moved on (ClaimSend), and leaves
	// alone a period another replica claimed since this worker last looked
	// (which may be being sent this very moment); a claim still standing a
	// whole tick later is presumed dead, and taken over.
	claims := make(map[string]int, len(periods))
	defer func() { w.claims = claims }()
	var permanent error
	for _, p := range periods {
		if p.Sends > 0 && w.claims[p.ID] != p.Sends {
			claims[p.ID] = p.Sends
			continue
		}
		won, err := w.cfg.Ledger.ClaimSend(ctx, p.ID, p.Sends)
		if err != nil {
			return fmt.Errorf("claim period %s: %w", p.ID, err)
		}
		claims[p.ID] = p.Sends + 1 // what the winner, whoever it is, left
		if !won {
			continue
		}
		err = w.send(ctx, p, now)
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

// send sends one unsent period, or finds out it needs no sending. Within
// SafeResendWindow of its generation's first attempt it goes out as it is:
// Stripe still drops a copy. A first attempt is recorded before the
// request leaves. Past the window nothing is sent before settle has read
// what Stripe counted.
func (w *Worker) send(ctx context.Context, p Period, now time.Time) error {
	customerID, err := w.customerID(ctx, p.WorkspaceID)
	if err != nil {
		return err
	}
	switch {
	case p.AttemptedAt != nil && now.Sub(*p.AttemptedAt) < SafeResendWindow:
		return w.post(ctx, p, customerID)
	case p.AttemptedAt == nil && (p.Generation > 0 || now.Sub(p.IntervalEnd) < SafeResendWindow):
		// Never attempted: a generation above 0 was written before any of
		// its sends, and a first one this young could only have been sent
		// by an older worker within the window.
		return w.attempt(ctx, p, customerID, now)
	}
	return w.settle(ctx, p, customerID, now)
}

// attempt records the first attempt of p's generation, then sends it.
func (w *Worker) attempt(ctx context.Context, p Period, customerID string, now time.Time) error {
	q, err := w.cfg.Ledger.BeginAttempt(ctx, p.ID, p.Generation, now, stampFor(p, now))
	if err != nil {
		return fmt.Errorf("record attempt of period %s: %w", p.ID, err)
	}
	if q.Generation != p.Generation || q.SentAt != nil || q.Review != "" || q.AttemptedAt == nil {
		return nil // another replica moved it on meanwhile
	}
	return w.post(ctx, q, customerID)
}

// post sends p's current generation and marks it sent.
func (w *Worker) post(ctx context.Context, p Period, customerID string) error {
	ev := MeterEvent{
		Identifier:  p.EventIdentifier(),
		CustomerID:  customerID,
		ValueMicros: p.CostMicros,
		Timestamp:   p.EventTime,
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
	w.log.Info("billing period sent", "period", p.ID, "workspace", p.WorkspaceID, "identifier", ev.Identifier, "cost_micros", p.CostMicros)
	return nil
}

// settle decides an unsent period whose identifier Stripe may have
// forgotten: marked sent if Stripe counted it, reissued under a new
// identifier if it did not, held for an operator if Stripe's numbers tell
// neither.
func (w *Worker) settle(ctx context.Context, p Period, customerID string, now time.Time) error {
	stamp := p.EventTime
	if p.AttemptedAt == nil {
		// Sent, if ever, by a worker that kept no attempt time, stamped
		// where a prompt send puts it, unless it was old enough for that
		// worker to stamp it "now".
		stamp = intervalStamp(p)
		if now.Sub(stamp) > legacyEventAge {
			return w.hold(ctx, p, HoldUnexplained, fmt.Sprintf(
				"the period is older than %v and may have been sent by an earlier version with a timestamp this one cannot know: check the customer's meter events in Stripe", legacyEventAge))
		}
	}
	counted, why, err := w.counted(ctx, p, customerID, stamp)
	switch {
	case err != nil:
		return err
	case counted == verdictCounted:
		if err := w.cfg.Ledger.MarkSent(ctx, p.ID, w.cfg.Now()); err != nil {
			return fmt.Errorf("mark period %s sent: %w", p.ID, err)
		}
		w.log.Info("billing period already counted by stripe; not resent", "period", p.ID, "workspace", p.WorkspaceID, "identifier", p.EventIdentifier())
		return nil
	case counted == verdictUnknown:
		return w.hold(ctx, p, HoldUnexplained, why)
	}
	next, moved, err := w.cfg.Ledger.Reissue(ctx, p.ID, p.Generation)
	if err != nil {
		return fmt.Errorf("reissue period %s: %w", p.ID, err)
	}
	if !moved {
		return nil // another replica settled it
	}
	w.cfg.Metrics.reissued()
	w.log.Warn("billing period not counted by stripe and past its dedup window: sending it under a new identifier",
		"period", p.ID, "workspace", p.WorkspaceID, "old_identifier", p.EventIdentifier(), "identifier", next.EventIdentifier())
	return w.attempt(ctx, next, customerID, now)
}

type verdict int

const (
	verdictNotCounted verdict = iota
	verdictCounted
	verdictUnknown
)

// counted reads Stripe's total for the customer in the minute of stamp and
// explains it with the ledger: p's workspace's periods stamped in that
// minute that Stripe confirmed (known), and those it did not, p included
// (in doubt). Every period's value is positive, so Stripe showing exactly
// the known sum means none in doubt was counted, and exactly the known sum
// plus all in doubt means all were; anything else is unexplained.
func (w *Worker) counted(ctx context.Context, p Period, customerID string, stamp time.Time) (verdict, string, error) {
	from := stamp.UTC().Truncate(time.Minute)
	to := from.Add(time.Minute)
	var got int64
	if err := w.retry(ctx, "read meter event summary", func(ctx context.Context) error {
		var err error
		got, err = w.cfg.Sender.MeterUsage(ctx, customerID, from, to)
		return err
	}); err != nil {
		return verdictUnknown, "", err
	}
	peers, err := w.cfg.Ledger.Stamped(ctx, p.WorkspaceID, from, to)
	if err != nil {
		return verdictUnknown, "", fmt.Errorf("periods stamped with %s: %w", p.ID, err)
	}
	known, doubt := int64(0), p.CostMicros
	for _, q := range peers {
		switch {
		case q.ID == p.ID:
		case q.SentAt != nil && q.Review == "":
			known += q.CostMicros
		default:
			doubt += q.CostMicros
		}
	}
	switch got {
	case known:
		return verdictNotCounted, "", nil
	case known + doubt:
		return verdictCounted, "", nil
	}
	return verdictUnknown, fmt.Sprintf("Stripe counts %d micro-dollars for customer %s from %s to %s; the ledger explains %d without this period and %d with every unconfirmed one",
		got, customerID, from.Format(time.RFC3339), to.Format(time.RFC3339), known, known+doubt), nil
}

// hold puts p aside for an operator and says so loudly; the other periods
// go on.
func (w *Worker) hold(ctx context.Context, p Period, kind, reason string) error {
	if err := w.cfg.Ledger.Hold(ctx, p.ID, kind+": "+reason); err != nil {
		return fmt.Errorf("hold period %s: %w", p.ID, err)
	}
	w.cfg.Metrics.held(kind)
	w.log.Error("billing period held for review: not sent", "period", p.ID, "workspace", p.WorkspaceID,
		"identifier", p.EventIdentifier(), "cost_micros", p.CostMicros, "reason", reason)
	return nil
}

// intervalStamp is the last second of p's interval: where a prompt send
// files it.
func intervalStamp(p Period) time.Time {
	t := p.IntervalEnd.Add(-time.Second)
	if t.Before(p.IntervalStart) {
		t = p.IntervalStart
	}
	return t.UTC()
}

// stampFor is the timestamp of a generation first attempted at now: inside
// the period's interval, so Stripe bills it in the cycle the usage belongs
// to, unless that is more than FinalizationGrace ago, when the cycle's
// invoice may be final; then now, the cycle still open (see
// docs/billing.md, "Late usage"). Stripe takes whole seconds.
func stampFor(p Period, now time.Time) time.Time {
	t := intervalStamp(p)
	if now.Sub(t) > FinalizationGrace || t.After(now) {
		return now.UTC().Truncate(time.Second)
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
