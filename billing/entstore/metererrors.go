package entstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/auditevent"
	"github.com/oais/oais/ent/billingaccount"
	"github.com/oais/oais/ent/billingperiod"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
)

// Keys of a meter error line's details. The report lives in the audit log
// (append-only, site admins read lines of no workspace) rather than a table
// of its own: it is rare, never changes, and is read by time.
const (
	detailStripeEvent     = "stripe_event"
	detailSummary         = "summary"
	detailErrorCount      = "error_count"
	detailErrorTypes      = "error_types" // JSON of []billing.MeterErrorType
	detailValidationStart = "validation_start"
	detailValidationEnd   = "validation_end"
	detailHeldPeriods     = "held_periods"
)

// maxSamples bounds the samples kept per report; Stripe sends a handful.
const maxSamples = 20

// RecordMeterErrors implements billing.Accounts: one audit line of no
// workspace for the report, and, in the same transaction, a hold (audited in
// its workspace) on every period whose current event identifier a sample
// names. A sample naming an earlier generation changes nothing: that
// identifier is no longer the period's.
func (s *Store) RecordMeterErrors(ctx context.Context, report billing.MeterErrorReport) ([]string, error) {
	var held []string
	err := s.inTx(ctx, func(ctx context.Context, tx *ent.Tx) error {
		held = nil
		kept := 0
		for ti, t := range report.Types {
			for si, sample := range t.Samples {
				if kept++; kept > maxSamples {
					report.Types[ti].Samples = report.Types[ti].Samples[:si]
					break
				}
				p, err := periodOfIdentifier(ctx, tx, sample.Identifier)
				if err != nil {
					return err
				}
				if p == nil || p.ReviewReason != "" {
					continue
				}
				reason := fmt.Sprintf("%s: Stripe refused event %s as invalid (%s): %s", billing.HoldMeterError, sample.Identifier, t.Code, sample.Message)
				if err := hold(ctx, tx, p.ID, reason); err != nil {
					return err
				}
				held = append(held, p.ID)
			}
		}
		types, err := json.Marshal(report.Types)
		if err != nil {
			return fmt.Errorf("encode meter error types: %w", err)
		}
		return audit.Record(ctx, tx.Client(), audit.Event{
			Action: audit.MeterError, TargetType: targetMeter, TargetID: report.MeterID,
			Details: map[string]string{
				detailStripeEvent:     report.EventID,
				detailSummary:         store.Truncate(report.Summary, 500),
				detailErrorCount:      strconv.FormatInt(report.ErrorCount, 10),
				detailErrorTypes:      string(types),
				detailValidationStart: formatTime(report.ValidationStart),
				detailValidationEnd:   formatTime(report.ValidationEnd),
				detailHeldPeriods:     strings.Join(held, ","),
			},
		})
	})
	if err != nil {
		return nil, err
	}
	return held, nil
}

// periodOfIdentifier returns the period whose current event identifier is
// identifier, or nil.
func periodOfIdentifier(ctx context.Context, tx *ent.Tx, identifier string) (*ent.BillingPeriod, error) {
	if identifier == "" {
		return nil, nil
	}
	q := tx.BillingPeriod.Query().Where(billingperiod.Identifier(identifier), billingperiod.GenerationEQ(0))
	if id, gen, ok := billing.ParseReissueIdentifier(identifier); ok {
		q = tx.BillingPeriod.Query().Where(billingperiod.ID(id), billingperiod.GenerationEQ(gen))
	}
	p, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr("period of identifier "+identifier, err)
	}
	return p, nil
}

// MeterErrors implements billing.ReconcileStore. Reports are rare (Stripe
// sends at most a few an hour while events fail), so every line of the
// action is read and filtered by its validation window, which is Stripe's
// clock, not the line's.
func (s *Store) MeterErrors(ctx context.Context, from, to time.Time) ([]billing.MeterErrorReport, error) {
	lines, err := s.db.Ent.AuditEvent.Query().
		Where(auditevent.Action(audit.MeterError), auditevent.WorkspaceIDIsNil()).
		Order(ent.Asc(auditevent.FieldCreatedAt), ent.Asc(auditevent.FieldID)).
		All(system(ctx))
	if err != nil {
		return nil, dbErr("meter errors", err)
	}
	var out []billing.MeterErrorReport
	for _, l := range lines {
		r := billing.MeterErrorReport{EventID: l.Details[detailStripeEvent], MeterID: l.TargetID, Summary: l.Details[detailSummary]}
		r.ErrorCount, _ = strconv.ParseInt(l.Details[detailErrorCount], 10, 64)
		_ = json.Unmarshal([]byte(l.Details[detailErrorTypes]), &r.Types)
		if r.ValidationStart, err = parseTime(l.Details[detailValidationStart]); err != nil {
			return nil, err
		}
		if r.ValidationEnd, err = parseTime(l.Details[detailValidationEnd]); err != nil {
			return nil, err
		}
		if r.ValidationEnd.IsZero() {
			r.ValidationStart, r.ValidationEnd = l.CreatedAt.UTC(), l.CreatedAt.UTC()
		}
		if r.ValidationStart.Before(to) && !r.ValidationEnd.Before(from) {
			out = append(out, r)
		}
	}
	return out, nil
}

// StripeCustomers implements billing.ReconcileStore.
func (s *Store) StripeCustomers(ctx context.Context) (map[string]string, error) {
	accts, err := s.db.Ent.BillingAccount.Query().
		Where(billingaccount.StripeCustomerIDNotNil()).
		All(system(ctx))
	if err != nil {
		return nil, dbErr("stripe customers", err)
	}
	out := make(map[string]string, len(accts))
	for _, a := range accts {
		out[a.WorkspaceID] = *a.StripeCustomerID
	}
	return out, nil
}
