package billing

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oais/oais/internal/usage"
)

// UsageReader reads what Stripe counted; *Stripe implements it.
type UsageReader interface {
	// MeterUsage returns the sum of the values of customerID's meter
	// events stamped in [from, to), both on whole minutes, as Stripe's meter
	// event summaries report it.
	MeterUsage(ctx context.Context, customerID string, from, to time.Time) (int64, error)
}

// PeriodTotals sums one workspace's periods stamped in a window.
type PeriodTotals struct {
	WorkspaceID string
	// Periods and Micros count every period.
	Periods int
	Micros  int64
	// Unsent and UnsentMicros count those Stripe has not confirmed and no
	// operator needs to look at: the worker is still sending them.
	Unsent       int
	UnsentMicros int64
	// Held and HeldMicros count those held for review, sent or not.
	Held       int
	HeldMicros int64
}

// ReconcileStore is what Reconciler reads from the database.
type ReconcileStore interface {
	// Totals sums, per workspace, the periods whose Stamp is in [from, to).
	Totals(ctx context.Context, from, to time.Time) ([]PeriodTotals, error)
	// HeldPeriods returns every period held for review, oldest first.
	HeldPeriods(ctx context.Context) ([]Period, error)
	// StripeCustomers maps every workspace that has a Stripe customer to it.
	StripeCustomers(ctx context.Context) (map[string]string, error)
	// MeterErrors returns the meter error reports whose validation window
	// overlaps [from, to), oldest first.
	MeterErrors(ctx context.Context, from, to time.Time) ([]MeterErrorReport, error)
}

// ReconcileStatus is how one workspace's ledger and Stripe compare.
type ReconcileStatus string

// Reconciliation statuses. Missing, Extra and Review are mismatches.
const (
	// ReconcileOK: Stripe counted exactly what the ledger billed.
	ReconcileOK ReconcileStatus = "OK"
	// ReconcilePending: Stripe is short by no more than the periods the
	// worker is still sending.
	ReconcilePending ReconcileStatus = "PENDING"
	// ReconcileMissing: Stripe counted less than the ledger billed, by more
	// than what is still being sent.
	ReconcileMissing ReconcileStatus = "MISSING"
	// ReconcileExtra: Stripe counted more than the ledger billed.
	ReconcileExtra ReconcileStatus = "EXTRA"
	// ReconcileReview: a period waits for an operator (Report.Held says why).
	ReconcileReview ReconcileStatus = "REVIEW"
	// ReconcileUnchecked: Stripe is not configured; only the ledger is known.
	ReconcileUnchecked ReconcileStatus = "UNCHECKED"
)

// Mismatch reports whether s needs an operator.
func (s ReconcileStatus) Mismatch() bool {
	return s == ReconcileMissing || s == ReconcileExtra || s == ReconcileReview
}

// ReconcileRow compares one workspace's ledger with its Stripe customer's
// meter over the report's window.
type ReconcileRow struct {
	WorkspaceID string
	// CustomerID is the workspace's Stripe customer; empty if it has none
	// (then Stripe has counted nothing for it).
	CustomerID string
	// LedgerMicros sums the values of the workspace's periods stamped in the
	// window: what oais bills for it there.
	LedgerMicros int64
	// StripeMicros is what Stripe's meter event summary counts for the
	// customer in the window; meaningful only when StripeRead.
	StripeMicros int64
	StripeRead   bool
	// DifferenceMicros is StripeMicros − LedgerMicros.
	DifferenceMicros int64
	Status           ReconcileStatus
	Periods          int
	UnsentPeriods    int
	UnsentMicros     int64
	HeldPeriods      int
	// MeterErrors counts the workspace's periods in the window that Stripe
	// reported invalid (held, HoldMeterError).
	MeterErrors int
}

// Report is the outcome of Reconcile over [From, To).
type Report struct {
	From, To time.Time
	// Rows has one row per workspace with periods in the window or usage in
	// Stripe, by workspace id.
	Rows []ReconcileRow
	// Held lists every period waiting for an operator, in any window.
	Held []Period
	// MeterErrors lists Stripe's error reports that overlap the window.
	MeterErrors              []MeterErrorReport
	LedgerTotal, StripeTotal int64
}

// Mismatches returns the rows whose status needs an operator.
func (r Report) Mismatches() []ReconcileRow {
	var out []ReconcileRow
	for _, row := range r.Rows {
		if row.Status.Mismatch() {
			out = append(out, row)
		}
	}
	return out
}

// Reconciler compares the ledger with what Stripe counted.
type Reconciler struct {
	Store ReconcileStore
	// Stripe reads meter event summaries; nil (Stripe not configured)
	// leaves every row ReconcileUnchecked.
	Stripe UsageReader
}

// Reconcile reports, per workspace, the value of the periods whose meter
// events are stamped in [from, to) against Stripe's meter event summary of
// the workspace's customer over the same window. Comparing by stamp is
// comparing what Stripe files in the window: a period is stamped where it is
// billed (see stampFor), which is not always where its usage happened.
// from and to must be whole minutes (Stripe's rule for summaries). It reads
// one summary per customer.
func (r Reconciler) Reconcile(ctx context.Context, from, to time.Time) (Report, error) {
	from, to = from.UTC(), to.UTC()
	if !from.Truncate(time.Minute).Equal(from) || !to.Truncate(time.Minute).Equal(to) || !to.After(from) {
		return Report{}, fmt.Errorf("%w: reconciliation window %v–%v must be whole minutes, from before to", ErrInvalid, from, to)
	}
	totals, err := r.Store.Totals(ctx, from, to)
	if err != nil {
		return Report{}, fmt.Errorf("ledger totals: %w", err)
	}
	customers, err := r.Store.StripeCustomers(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("stripe customers: %w", err)
	}
	held, err := r.Store.HeldPeriods(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("held periods: %w", err)
	}
	reports, err := r.Store.MeterErrors(ctx, from, to)
	if err != nil {
		return Report{}, fmt.Errorf("meter errors: %w", err)
	}
	rep := Report{From: from, To: to, Held: held, MeterErrors: reports}
	rows := map[string]*ReconcileRow{}
	for _, t := range totals {
		rows[t.WorkspaceID] = &ReconcileRow{WorkspaceID: t.WorkspaceID, LedgerMicros: t.Micros, Periods: t.Periods,
			UnsentPeriods: t.Unsent, UnsentMicros: t.UnsentMicros, HeldPeriods: t.Held}
	}
	// Every customer is read, not only those with periods here: usage
	// Stripe counts that the ledger never sent shows up only this way.
	if r.Stripe != nil {
		for ws := range customers {
			if rows[ws] == nil {
				rows[ws] = &ReconcileRow{WorkspaceID: ws}
			}
		}
	}
	for _, p := range held {
		if row := rows[p.WorkspaceID]; row != nil && strings.HasPrefix(p.Review, HoldMeterError) && inWindow(p.Stamp(), from, to) {
			row.MeterErrors++
		}
	}
	for _, ws := range sortedIDs(rows) {
		row := rows[ws]
		row.CustomerID = customers[ws]
		if r.Stripe != nil {
			row.StripeRead = true
			if row.CustomerID != "" {
				if row.StripeMicros, err = r.Stripe.MeterUsage(ctx, row.CustomerID, from, to); err != nil {
					return Report{}, fmt.Errorf("stripe usage of workspace %s: %w", ws, err)
				}
			}
		}
		row.DifferenceMicros = usage.SaturatingAdd(row.StripeMicros, -row.LedgerMicros)
		row.Status = status(*row)
		if row.Status == ReconcileOK && row.LedgerMicros == 0 && row.StripeMicros == 0 {
			continue // a customer with nothing in the window on either side
		}
		// Saturating, as the ledger's own sums are: a report never wraps.
		rep.LedgerTotal = usage.SaturatingAdd(rep.LedgerTotal, row.LedgerMicros)
		rep.StripeTotal = usage.SaturatingAdd(rep.StripeTotal, row.StripeMicros)
		rep.Rows = append(rep.Rows, *row)
	}
	return rep, nil
}

func status(r ReconcileRow) ReconcileStatus {
	d := r.DifferenceMicros
	switch {
	case !r.StripeRead:
		return ReconcileUnchecked
	case r.HeldPeriods > 0:
		return ReconcileReview
	case d == 0:
		return ReconcileOK
	case d < 0 && r.UnsentPeriods > 0 && -d <= r.UnsentMicros:
		return ReconcilePending
	case d < 0:
		return ReconcileMissing
	}
	return ReconcileExtra
}

func inWindow(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

func sortedIDs(m map[string]*ReconcileRow) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// MonthWindow returns the UTC calendar month named by period ("2031-06"),
// or the month of now when period is empty, as [from, to).
func MonthWindow(period string, now time.Time) (from, to time.Time, err error) {
	if period == "" {
		now = now.UTC()
		from = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return from, from.AddDate(0, 1, 0), nil
	}
	from, err = time.Parse("2006-01", period)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: period %q is not a month like 2031-06", ErrInvalid, period)
	}
	return from, from.AddDate(0, 1, 0), nil
}
