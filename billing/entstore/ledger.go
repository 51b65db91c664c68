package entstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/billingperiod"
	"github.com/oais/oais/ent/predicate"
	"github.com/oais/oais/ent/usageevent"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/usage"
)

// closeLockKey names the PostgreSQL advisory lock that serializes
// ClosePeriods across control-plane replicas ("oaisbill" in ASCII). Without
// it two replicas could both see no period at an interval start, claim
// disjoint rows, and one would then fail on the unique (workspace,
// interval_start) index; with it the second simply finds the period there.
const closeLockKey int64 = 0x6f61697362696c6c

// ClosePeriods implements billing.Ledger. Per workspace with unclaimed rows
// ingested before `before`, it picks the period id first, claims the rows
// with one UPDATE … WHERE billing_period_id IS NULL, and then sums exactly
// the rows it claimed, so a row ingested meanwhile is either in the sum or
// left for the next interval, never half.
func (s *Store) ClosePeriods(ctx context.Context, before time.Time, interval time.Duration) ([]billing.Period, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("%w: interval %v", billing.ErrInvalid, interval)
	}
	before = before.UTC()
	start := before.Add(-interval)
	var out []billing.Period
	err := s.inTx(ctx, func(ctx context.Context, tx *ent.Tx) error {
		out = nil
		if s.postgres() {
			if _, err := tx.Client().ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", closeLockKey); err != nil {
				return dbErr("lock periods", err)
			}
		}
		unclaimed := []predicate.UsageEvent{usageevent.BillingPeriodIDIsNil(), usageevent.IngestedAtLT(before)}
		pending, err := tx.UsageEvent.Query().Where(unclaimed...).Unique(true).
			Select(usageevent.FieldWorkspaceID).Strings(ctx)
		if err != nil {
			return dbErr("unbilled workspaces", err)
		}
		if len(pending) == 0 {
			return nil
		}
		taken, err := tx.BillingPeriod.Query().
			Where(billingperiod.IntervalStartEQ(start), billingperiod.WorkspaceIDIn(pending...)).
			Select(billingperiod.FieldWorkspaceID).Strings(ctx)
		if err != nil {
			return dbErr("existing periods", err)
		}
		slices.Sort(pending)
		periodOf := map[string]string{} // period id → workspace
		var claimedIDs []string
		for _, ws := range pending {
			if slices.Contains(taken, ws) {
				// Already closed here (a repeated tick, another replica):
				// that period may be sent, so these rows wait for the next.
				continue
			}
			id := ids.New(ids.BillingPeriod)
			n, err := tx.UsageEvent.Update().
				Where(usageevent.WorkspaceIDEQ(ws)).
				Where(unclaimed...).
				SetBillingPeriodID(id).
				Save(ctx)
			if err != nil {
				return dbErr("claim usage of "+ws, err)
			}
			if n > 0 {
				periodOf[id] = ws
				claimedIDs = append(claimedIDs, id)
			}
		}
		if len(claimedIDs) == 0 {
			return nil
		}
		var sums []struct {
			PeriodID   string `json:"billing_period_id"`
			Cost       int64  `json:"cost"`
			Prompt     int64  `json:"prompt"`
			Completion int64  `json:"completion"`
		}
		err = tx.UsageEvent.Query().Where(usageevent.BillingPeriodIDIn(claimedIDs...)).
			GroupBy(usageevent.FieldBillingPeriodID).
			Aggregate(
				ent.As(s.sum(usageevent.FieldCostMicros), "cost"),
				ent.As(s.sum(usageevent.FieldPromptTokens), "prompt"),
				ent.As(s.sum(usageevent.FieldCompletionTokens), "completion"),
			).Scan(ctx, &sums)
		if err != nil {
			return dbErr("sum claimed usage", err)
		}
		var creates []*ent.BillingPeriodCreate
		for _, sum := range sums {
			// A workspace whose rows sum to zero keeps them marked with an
			// id no period has: billed, at nothing, and never sent.
			if sum.Cost <= 0 {
				continue
			}
			ws := periodOf[sum.PeriodID]
			p := billing.Period{
				ID:            sum.PeriodID,
				WorkspaceID:   ws,
				IntervalStart: start,
				IntervalEnd:   before,
				CostMicros:    sum.Cost,
				Identifier:    billing.Identifier(ws, start),
			}
			out = append(out, p)
			creates = append(creates, tx.BillingPeriod.Create().
				SetID(p.ID).
				SetWorkspaceID(ws).
				SetIntervalStart(start).
				SetIntervalEnd(before).
				SetCostMicros(p.CostMicros).
				SetTokens(usage.SaturatingAdd(sum.Prompt, sum.Completion)).
				SetIdentifier(p.Identifier))
		}
		if len(creates) == 0 {
			return nil
		}
		if err := tx.BillingPeriod.CreateBulk(creates...).Exec(ctx); err != nil {
			return dbErr("write periods", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("close periods before %v: %w", before, err)
	}
	sortPeriods(out)
	return out, nil
}

// sum is ent.Sum that saturates at int64's limit instead of failing
// (store.Store.SaturatingSum): a sum past it failed ClosePeriods on every
// tick, and with it billing for every workspace, since one transaction
// closes them all. Ledger rows are bounded, so only corrupt or ancient
// rows reach it.
func (s *Store) sum(field string) ent.AggregateFunc {
	return func(sel *sql.Selector) string { return s.db.SaturatingSum(sel.C(field)) }
}

// UnsentPeriods implements billing.Ledger.
func (s *Store) UnsentPeriods(ctx context.Context) ([]billing.Period, error) {
	rows, err := s.db.Ent.BillingPeriod.Query().
		Where(billingperiod.SentAtIsNil()).
		Order(ent.Asc(billingperiod.FieldIntervalStart), ent.Asc(billingperiod.FieldWorkspaceID)).
		All(system(ctx))
	if err != nil {
		return nil, dbErr("unsent periods", err)
	}
	return periods(rows), nil
}

// MarkSent implements billing.Ledger.
func (s *Store) MarkSent(ctx context.Context, periodID string, at time.Time) error {
	ctx = system(ctx)
	n, err := s.db.Ent.BillingPeriod.Update().
		Where(billingperiod.ID(periodID), billingperiod.SentAtIsNil()).
		SetSentAt(at.UTC()).
		Save(ctx)
	if err != nil {
		return dbErr("mark period "+periodID+" sent", err)
	}
	if n > 0 {
		return nil
	}
	// Nothing updated: already sent (keep the first time), or no such period.
	exists, err := s.db.Ent.BillingPeriod.Query().Where(billingperiod.ID(periodID)).Exist(ctx)
	if err != nil {
		return dbErr("period "+periodID, err)
	}
	if !exists {
		return notFound("period %s", periodID)
	}
	return nil
}

// Periods implements billing.Ledger.
func (s *Store) Periods(ctx context.Context, from, to time.Time) ([]billing.Period, error) {
	rows, err := s.db.Ent.BillingPeriod.Query().
		Where(billingperiod.IntervalStartGTE(from.UTC()), billingperiod.IntervalStartLT(to.UTC())).
		Order(ent.Asc(billingperiod.FieldIntervalStart), ent.Asc(billingperiod.FieldWorkspaceID)).
		All(system(ctx))
	if err != nil {
		return nil, dbErr("periods", err)
	}
	return periods(rows), nil
}

// ClaimedCost implements billing.Ledger. It reads only the rows stamped with
// each period's id, so a period never counts another workspace's usage.
func (s *Store) ClaimedCost(ctx context.Context, periodIDs []string) (map[string]int64, error) {
	out := make(map[string]int64, len(periodIDs))
	if len(periodIDs) == 0 {
		return out, nil
	}
	var sums []struct {
		PeriodID string `json:"billing_period_id"`
		Cost     int64  `json:"cost"`
	}
	// Chunked to stay under the databases' bound-parameter limits.
	for chunk := range slices.Chunk(periodIDs, 500) {
		sums = sums[:0]
		err := s.db.Ent.UsageEvent.Query().Where(usageevent.BillingPeriodIDIn(chunk...)).
			GroupBy(usageevent.FieldBillingPeriodID).
			Aggregate(ent.As(s.sum(usageevent.FieldCostMicros), "cost")).
			Scan(system(ctx), &sums)
		if err != nil {
			return nil, dbErr("claimed cost", err)
		}
		for _, sum := range sums {
			out[sum.PeriodID] = sum.Cost
		}
	}
	return out, nil
}

func periods(rows []*ent.BillingPeriod) []billing.Period {
	out := make([]billing.Period, len(rows))
	for i, r := range rows {
		out[i] = billing.Period{
			ID:            r.ID,
			WorkspaceID:   r.WorkspaceID,
			IntervalStart: r.IntervalStart.UTC(),
			IntervalEnd:   r.IntervalEnd.UTC(),
			CostMicros:    r.CostMicros,
			Identifier:    r.Identifier,
		}
		if r.SentAt != nil {
			at := r.SentAt.UTC()
			out[i].SentAt = &at
		}
	}
	return out
}

func sortPeriods(ps []billing.Period) {
	slices.SortFunc(ps, func(a, b billing.Period) int {
		if c := a.IntervalStart.Compare(b.IntervalStart); c != 0 {
			return c
		}
		if a.WorkspaceID < b.WorkspaceID {
			return -1
		}
		if a.WorkspaceID > b.WorkspaceID {
			return 1
		}
		return 0
	})
}
