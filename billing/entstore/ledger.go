package entstore

import (
	"cmp"
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
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/store"
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
		Where(billingperiod.SentAtIsNil(), billingperiod.ReviewReasonEQ("")).
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

// BeginAttempt implements billing.Ledger with one conditional UPDATE, so of
// two replicas attempting at once the first one's time and stamp stay.
func (s *Store) BeginAttempt(ctx context.Context, periodID string, generation int, at, stamp time.Time) (billing.Period, error) {
	ctx = system(ctx)
	_, err := s.db.Ent.BillingPeriod.Update().
		Where(billingperiod.ID(periodID), billingperiod.GenerationEQ(generation), billingperiod.AttemptedAtIsNil()).
		SetAttemptedAt(at.UTC()).
		SetEventAt(stamp.UTC()).
		Save(ctx)
	if err != nil {
		return billing.Period{}, dbErr("attempt of period "+periodID, err)
	}
	return s.period(ctx, periodID)
}

// ClaimSend implements billing.Ledger with one conditional UPDATE of the
// period's attempts column.
func (s *Store) ClaimSend(ctx context.Context, periodID string, sends int) (bool, error) {
	n, err := s.db.Ent.BillingPeriod.Update().
		Where(billingperiod.ID(periodID), billingperiod.AttemptsEQ(sends), billingperiod.SentAtIsNil()).
		AddAttempts(1).
		Save(system(ctx))
	if err != nil {
		return false, dbErr("claim period "+periodID, err)
	}
	return n > 0, nil
}

// Reissue implements billing.Ledger with one conditional UPDATE on the
// generation.
func (s *Store) Reissue(ctx context.Context, periodID string, generation int) (billing.Period, bool, error) {
	ctx = system(ctx)
	n, err := s.db.Ent.BillingPeriod.Update().
		Where(billingperiod.ID(periodID), billingperiod.GenerationEQ(generation)).
		AddGeneration(1).
		ClearAttemptedAt().
		ClearEventAt().
		ClearSentAt().
		SetAttempts(0). // a new generation is sent afresh
		SetReviewReason("").
		Save(ctx)
	if err != nil {
		return billing.Period{}, false, dbErr("reissue period "+periodID, err)
	}
	p, err := s.period(ctx, periodID)
	return p, n > 0 && err == nil, err
}

// Hold implements billing.Ledger. The change is audited in the period's
// workspace, so its owners see why a usage period was not billed.
func (s *Store) Hold(ctx context.Context, periodID, reason string) error {
	return s.inTx(ctx, func(ctx context.Context, tx *ent.Tx) error {
		return hold(ctx, tx, periodID, reason)
	})
}

func hold(ctx context.Context, tx *ent.Tx, periodID, reason string) error {
	p, err := tx.BillingPeriod.Get(ctx, periodID)
	if err != nil {
		return dbErr("period "+periodID, err)
	}
	reason = store.Truncate(reason, 2000)
	if p.ReviewReason == reason {
		return nil
	}
	if err := tx.BillingPeriod.UpdateOne(p).SetReviewReason(reason).Exec(ctx); err != nil {
		return dbErr("hold period "+periodID, err)
	}
	details := map[string]string{detailPeriodHeld: reason, detailIdentifier: eventIdentifier(p)}
	if reason == "" {
		details = map[string]string{detailPeriodReleased: p.ReviewReason, detailIdentifier: eventIdentifier(p)}
	}
	return audit.Record(ctx, tx.Client(), audit.Event{
		WorkspaceID: p.WorkspaceID, Action: audit.BillingEvent, TargetType: targetPeriod, TargetID: p.ID, Details: details,
	})
}

// Stamped implements billing.Ledger.
func (s *Store) Stamped(ctx context.Context, workspaceID string, from, to time.Time) ([]billing.Period, error) {
	rows, err := s.db.Ent.BillingPeriod.Query().
		Where(billingperiod.WorkspaceIDEQ(workspaceID),
			// A stamp is never before its interval: bounds the index range.
			billingperiod.IntervalStartLT(to.UTC()),
			stampedIn(from, to)).
		Order(ent.Asc(billingperiod.FieldIntervalStart), ent.Asc(billingperiod.FieldID)).
		All(system(ctx))
	if err != nil {
		return nil, dbErr("stamped periods", err)
	}
	return periods(rows), nil
}

// stampedIn selects the periods whose billing.Period.Stamp is in [from,
// to): event_at once attempted, else the last second of the interval.
func stampedIn(from, to time.Time) predicate.BillingPeriod {
	from, to = from.UTC(), to.UTC()
	return billingperiod.Or(
		billingperiod.And(billingperiod.EventAtNotNil(), billingperiod.EventAtGTE(from), billingperiod.EventAtLT(to)),
		billingperiod.And(billingperiod.EventAtIsNil(),
			billingperiod.IntervalEndGTE(from.Add(time.Second)), billingperiod.IntervalEndLT(to.Add(time.Second))),
	)
}

// Totals implements billing.ReconcileStore with three grouped sums over the
// stamp index: all periods, those still being sent, those held.
func (s *Store) Totals(ctx context.Context, from, to time.Time) ([]billing.PeriodTotals, error) {
	ctx = system(ctx)
	type sum struct {
		WorkspaceID string `json:"workspace_id"`
		N           int    `json:"n"`
		Micros      int64  `json:"micros"`
	}
	group := func(what string, ps ...predicate.BillingPeriod) ([]sum, error) {
		var out []sum
		err := s.db.Ent.BillingPeriod.Query().Where(append(ps, stampedIn(from, to))...).
			GroupBy(billingperiod.FieldWorkspaceID).
			Aggregate(ent.As(ent.Count(), "n"), ent.As(s.sum(billingperiod.FieldCostMicros), "micros")).
			Scan(ctx, &out)
		if err != nil {
			return nil, dbErr(what, err)
		}
		return out, nil
	}
	all, err := group("period totals")
	if err != nil {
		return nil, err
	}
	unsent, err := group("unsent totals", billingperiod.SentAtIsNil(), billingperiod.ReviewReasonEQ(""))
	if err != nil {
		return nil, err
	}
	held, err := group("held totals", billingperiod.ReviewReasonNEQ(""))
	if err != nil {
		return nil, err
	}
	by := make(map[string]*billing.PeriodTotals, len(all))
	out := make([]billing.PeriodTotals, 0, len(all))
	for _, a := range all {
		out = append(out, billing.PeriodTotals{WorkspaceID: a.WorkspaceID, Periods: a.N, Micros: a.Micros})
	}
	slices.SortFunc(out, func(a, b billing.PeriodTotals) int { return cmp.Compare(a.WorkspaceID, b.WorkspaceID) })
	for i := range out {
		by[out[i].WorkspaceID] = &out[i]
	}
	for _, u := range unsent {
		by[u.WorkspaceID].Unsent, by[u.WorkspaceID].UnsentMicros = u.N, u.Micros
	}
	for _, h := range held {
		by[h.WorkspaceID].Held, by[h.WorkspaceID].HeldMicros = h.N, h.Micros
	}
	return out, nil
}

// HeldPeriods implements billing.ReconcileStore.
func (s *Store) HeldPeriods(ctx context.Context) ([]billing.Period, error) {
	rows, err := s.db.Ent.BillingPeriod.Query().
		Where(billingperiod.ReviewReasonNEQ("")).
		Order(ent.Asc(billingperiod.FieldIntervalStart), ent.Asc(billingperiod.FieldWorkspaceID)).
		All(system(ctx))
	if err != nil {
		return nil, dbErr("held periods", err)
	}
	return periods(rows), nil
}

// Resolve ends an operator's review of a period (`controlplane billing
// resolve`): counted says Stripe did count its event, so it is marked sent;
// otherwise it goes out again under a new identifier (Reissue). Either way
// it is released and the decision audited in its workspace.
func (s *Store) Resolve(ctx context.Context, periodID string, counted bool) (billing.Period, error) {
	err := s.inTx(ctx, func(ctx context.Context, tx *ent.Tx) error {
		p, err := tx.BillingPeriod.Get(ctx, periodID)
		if err != nil {
			return dbErr("period "+periodID, err)
		}
		u := tx.BillingPeriod.UpdateOne(p).SetReviewReason("")
		decision := "counted"
		if counted {
			if p.SentAt == nil {
				u.SetSentAt(time.Now().UTC())
			}
		} else {
			decision = "resend"
			u.AddGeneration(1).ClearAttemptedAt().ClearEventAt().ClearSentAt().SetAttempts(0)
		}
		if err := u.Exec(ctx); err != nil {
			return dbErr("resolve period "+periodID, err)
		}
		return audit.Record(ctx, tx.Client(), audit.Event{
			WorkspaceID: p.WorkspaceID, Action: audit.BillingEvent, TargetType: targetPeriod, TargetID: p.ID,
			Details: map[string]string{detailResolved: decision, detailPeriodReleased: p.ReviewReason, detailIdentifier: eventIdentifier(p)},
		})
	})
	if err != nil {
		return billing.Period{}, err
	}
	return s.period(system(ctx), periodID)
}

func (s *Store) period(ctx context.Context, periodID string) (billing.Period, error) {
	row, err := s.db.Ent.BillingPeriod.Get(ctx, periodID)
	if err != nil {
		return billing.Period{}, dbErr("period "+periodID, err)
	}
	return periods([]*ent.BillingPeriod{row})[0], nil
}

func eventIdentifier(p *ent.BillingPeriod) string {
	return billing.Period{ID: p.ID, Identifier: p.Identifier, Generation: p.Generation}.EventIdentifier()
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
			Generation:    r.Generation,
			Review:        r.ReviewReason,
			Sends:         r.Attempts,
		}
		if r.SentAt != nil {
			at := r.SentAt.UTC()
			out[i].SentAt = &at
		}
		if r.AttemptedAt != nil {
			at := r.AttemptedAt.UTC()
			out[i].AttemptedAt = &at
		}
		if r.EventAt != nil {
			out[i].EventTime = r.EventAt.UTC()
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
