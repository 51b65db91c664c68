package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/oais/oais/internal/usage"
)

// ReconcileLine compares one period's three numbers: what its usage rows
// add up to, what the period says, and what was sent to Stripe.
type ReconcileLine struct {
	PeriodID      string
	WorkspaceID   string
	IntervalStart time.Time
	IntervalEnd   time.Time
	Identifier    string
	// LedgerMicros is recomputed from the usage rows the period claimed.
	LedgerMicros int64
	// PeriodMicros is the period's CostMicros, the value sent to Stripe.
	PeriodMicros int64
	// SentMicros is PeriodMicros once Stripe accepted it, else 0.
	SentMicros int64
	SentAt     *time.Time
}

// Balanced reports whether the rows, the period and Stripe all agree.
func (l ReconcileLine) Balanced() bool {
	return l.LedgerMicros == l.PeriodMicros && l.SentMicros == l.PeriodMicros
}

// WorkspaceTotals sums a workspace's lines.
type WorkspaceTotals struct {
	LedgerMicros int64
	SentMicros   int64
	Unsent       int // periods not yet accepted by Stripe
}

// Report is the outcome of Reconcile over [From, To).
type Report struct {
	From, To    time.Time
	Lines       []ReconcileLine
	Workspaces  map[string]WorkspaceTotals
	LedgerTotal int64
	SentTotal   int64
}

// Mismatches returns the lines that are not Balanced: unsent periods, or a
// period whose rows do not add up to it (a ledger bug).
func (r Report) Mismatches() []ReconcileLine {
	var out []ReconcileLine
	for _, l := range r.Lines {
		if !l.Balanced() {
			out = append(out, l)
		}
	}
	return out
}

// Reconcile reports, per workspace and period whose interval starts in
// [from, to), the ledger's cost against the cost sent to Stripe.
func (w *Worker) Reconcile(ctx context.Context, from, to time.Time) (Report, error) {
	periods, err := w.cfg.Ledger.Periods(ctx, from, to)
	if err != nil {
		return Report{}, fmt.Errorf("periods: %w", err)
	}
	ids := make([]string, len(periods))
	for i, p := range periods {
		ids[i] = p.ID
	}
	claimed, err := w.cfg.Ledger.ClaimedCost(ctx, ids)
	if err != nil {
		return Report{}, fmt.Errorf("claimed cost: %w", err)
	}
	r := Report{From: from, To: to, Workspaces: map[string]WorkspaceTotals{}}
	for _, p := range periods {
		l := ReconcileLine{
			PeriodID:      p.ID,
			WorkspaceID:   p.WorkspaceID,
			IntervalStart: p.IntervalStart,
			IntervalEnd:   p.IntervalEnd,
			Identifier:    p.Identifier,
			LedgerMicros:  claimed[p.ID],
			PeriodMicros:  p.CostMicros,
			SentAt:        p.SentAt,
		}
		ws := r.Workspaces[p.WorkspaceID]
		if p.SentAt != nil {
			l.SentMicros = p.CostMicros
		} else {
			ws.Unsent++
		}
		// Saturating, as the ledger's own sums are: a report never wraps.
		add := usage.SaturatingAdd
		ws.LedgerMicros = add(ws.LedgerMicros, l.LedgerMicros)
		ws.SentMicros = add(ws.SentMicros, l.SentMicros)
		r.Workspaces[p.WorkspaceID] = ws
		r.LedgerTotal = add(r.LedgerTotal, l.LedgerMicros)
		r.SentTotal = add(r.SentTotal, l.SentMicros)
		r.Lines = append(r.Lines, l)
	}
	return r, nil
}
