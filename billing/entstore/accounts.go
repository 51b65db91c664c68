package entstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/auditevent"
	"github.com/oais/oais/ent/billingaccount"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
)

// Audit target types of the billing.event lines this package writes.
const (
	// targetStanding marks the line written by every standing change. Its
	// details carry the whole billing.Standing, which is where the parts
	// the billing_accounts row has no column for are read back from (see
	// readStanding).
	targetStanding = "billing_standing"
	targetCustomer = "billing_customer"
	// targetPeriod marks a billing period held for review, released or
	// resolved by an operator.
	targetPeriod = "billing_period"
	// targetMeter marks a meter error report (audit.MeterError, no
	// workspace: site admins read it).
	targetMeter = "billing_meter"
)

// Keys of a standing line's details.
const (
	detailStatus     = "status"
	detailPrevious   = "previous_status"
	detailReason     = "reason"
	detailSuspendAt  = "suspend_at"
	detailEventTime  = "event_time"
	detailCustomerID = "stripe_customer_id"

	detailPeriodHeld     = "held"
	detailPeriodReleased = "released"
	detailResolved       = "resolved"
	detailIdentifier     = "identifier"
)

// Customer implements billing.Customers: the workspace's name, the e-mail
// of its first owner, and its Stripe customer if it has one.
func (s *Store) Customer(ctx context.Context, workspaceID string) (billing.Customer, error) {
	ctx = system(ctx)
	ws, err := s.db.Ent.Workspace.Get(ctx, workspaceID)
	if err != nil {
		return billing.Customer{}, dbErr("workspace "+workspaceID, err)
	}
	c := billing.Customer{WorkspaceID: ws.ID, Name: ws.Name}
	owner, err := s.db.Ent.Membership.Query().
		Where(membership.WorkspaceID(ws.ID), membership.RoleEQ(membership.RoleOWNER)).
		Order(ent.Asc(membership.FieldCreatedAt), ent.Asc(membership.FieldID)).
		WithUser().
		First(ctx)
	switch {
	case ent.IsNotFound(err):
		// An ownerless workspace is still billed, without an address.
	case err != nil:
		return billing.Customer{}, dbErr("owner of "+workspaceID, err)
	case owner.Edges.User != nil:
		c.Email = owner.Edges.User.Email
	}
	acct, err := s.db.Ent.BillingAccount.Query().Where(billingaccount.WorkspaceID(ws.ID)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return billing.Customer{}, dbErr("billing account of "+workspaceID, err)
	case acct.StripeCustomerID != nil:
		c.StripeCustomerID = *acct.StripeCustomerID
	}
	return c, nil
}

// SetCustomerID implements billing.Customers. It creates the workspace's
// billing account if the workspace has none yet.
func (s *Store) SetCustomerID(ctx context.Context, workspaceID, customerID string) error {
	if customerID == "" {
		return fmt.Errorf("%w: empty customer id", billing.ErrInvalid)
	}
	return s.inTx(ctx, func(ctx context.Context, tx *ent.Tx) error {
		acct, err := ensureAccount(ctx, tx, workspaceID)
		if err != nil {
			return err
		}
		if acct.StripeCustomerID != nil && *acct.StripeCustomerID == customerID {
			return nil
		}
		if err := tx.BillingAccount.UpdateOne(acct).SetStripeCustomerID(customerID).Exec(ctx); err != nil {
			return dbErr("set customer of "+workspaceID, err)
		}
		return audit.Record(ctx, tx.Client(), audit.Event{
			WorkspaceID: workspaceID, Action: audit.BillingEvent, TargetType: targetCustomer, TargetID: acct.ID,
			Details: map[string]string{detailCustomerID: customerID},
		})
	})
}

// RecordEvent implements billing.Accounts with a row in stripe_events, whose
// primary key makes a second delivery (even to another replica) lose.
func (s *Store) RecordEvent(ctx context.Context, eventID string) (bool, error) {
	if eventID == "" {
		return false, fmt.Errorf("%w: empty event id", billing.ErrInvalid)
	}
	// The event type is not passed in; the id is what deduplicates.
	err := s.db.Ent.StripeEvent.Create().SetID(eventID).SetType("").Exec(system(ctx))
	if err == nil {
		return true, nil
	}
	if err := store.Classify(err); errors.Is(err, store.ErrConflict) {
		return false, nil
	}
	return false, dbErr("record stripe event "+eventID, err)
}

// ForgetEvent implements billing.Accounts.
func (s *Store) ForgetEvent(ctx context.Context, eventID string) error {
	err := s.db.Ent.StripeEvent.DeleteOneID(eventID).Exec(system(ctx))
	if err != nil && !ent.IsNotFound(err) {
		return dbErr("forget stripe event "+eventID, err)
	}
	return nil
}

// WorkspaceByCustomer implements billing.Accounts.
func (s *Store) WorkspaceByCustomer(ctx context.Context, customerID string) (string, error) {
	if customerID == "" {
		return "", notFound("customer %q", customerID)
	}
	// stripe_customer_id is not unique in the schema; the oldest account
	// wins so that the answer is stable.
	acct, err := s.db.Ent.BillingAccount.Query().
		Where(billingaccount.StripeCustomerID(customerID)).
		Order(ent.Asc(billingaccount.FieldCreatedAt), ent.Asc(billingaccount.FieldID)).
		First(system(ctx))
	if err != nil {
		return "", dbErr("customer "+customerID, err)
	}
	return acct.WorkspaceID, nil
}

// UpdateStanding implements billing.Accounts. In one transaction, with the
// workspace row locked (FOR UPDATE on PostgreSQL; SQLite's write lock is
// taken at BEGIN), it writes the new standing to the billing account, sets
// the workspace's status (and so its updated_at, which the gateway reloads
// by) to SUSPENDED while the standing says so and back to ACTIVE when it no
// longer does, and audits both. A workspace suspended for a reason that is
// not billing's is left suspended: a paid invoice must not lift an
// operator's suspension.
func (s *Store) UpdateStanding(ctx context.Context, workspaceID string, update func(billing.Standing) billing.Standing) error {
	_, err := s.updateStanding(ctx, workspaceID, s.now(), update)
	return err
}

// SuspendOverdue suspends every past-due workspace whose grace ended at or
// before now, and returns how many it suspended. Standing.SuspendAt is
// stored rather than acted on by a timer; this is the sweep that makes the
// gateway (which reads only the workspace's status) see it.
func (s *Store) SuspendOverdue(ctx context.Context, now time.Time) (int, error) {
	ws, err := s.db.Ent.BillingAccount.Query().
		Where(billingaccount.StandingEQ(billingaccount.StandingPAST_DUE)).
		Select(billingaccount.FieldWorkspaceID).
		Strings(system(ctx))
	if err != nil {
		return 0, dbErr("past-due accounts", err)
	}
	n := 0
	for _, id := range ws {
		suspended, err := s.updateStanding(ctx, id, now, func(cur billing.Standing) billing.Standing { return cur })
		if err != nil {
			return n, err
		}
		if suspended {
			n++
		}
	}
	return n, nil
}

// updateStanding is UpdateStanding judged at now; it reports whether it
// suspended the workspace.
func (s *Store) updateStanding(ctx context.Context, workspaceID string, now time.Time, update func(billing.Standing) billing.Standing) (suspended bool, err error) {
	err = s.inTx(ctx, func(ctx context.Context, tx *ent.Tx) error {
		suspended = false
		q := tx.Workspace.Query().Where(workspace.ID(workspaceID))
		if s.postgres() {
			q.ForUpdate()
		}
		ws, err := q.Only(ctx)
		if err != nil {
			return dbErr("workspace "+workspaceID, err)
		}
		acct, err := ensureAccount(ctx, tx, workspaceID)
		if err != nil {
			return err
		}
		cur, err := readStanding(ctx, tx, ws, acct)
		if err != nil {
			return err
		}
		next := update(cur)
		if next.Status == "" {
			next.Status = billing.StatusActive
		}
		if !sameStanding(cur, next) {
			if err := writeStanding(ctx, tx, acct, cur, next); err != nil {
				return err
			}
		}
		suspended, err = applyToWorkspace(ctx, tx, ws, next, now)
		return err
	})
	return suspended, err
}

// readStanding assembles the current Standing: Status from the billing
// account, the rest from the latest standing audit line if it describes
// that Status. A Status changed by other means (an operator editing the
// account) comes with the workspace's suspension reason and no times.
//
// TODO(schema): billing_accounts has no columns for the reason, the
// suspension deadline and the time of the event that set the standing;
// with standing_reason, suspend_at and standing_event_at this reads one row.
func readStanding(ctx context.Context, tx *ent.Tx, ws *ent.Workspace, acct *ent.BillingAccount) (billing.Standing, error) {
	st := billing.Standing{Status: statusOf(acct.Standing)}
	line, err := tx.AuditEvent.Query().
		Where(auditevent.WorkspaceID(ws.ID), auditevent.Action(audit.BillingEvent), auditevent.TargetType(targetStanding)).
		Order(ent.Desc(auditevent.FieldCreatedAt), ent.Desc(auditevent.FieldID)).
		First(ctx)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return st, dbErr("standing of "+ws.ID, err)
	case line.Details[detailStatus] == string(st.Status):
		st.Reason = line.Details[detailReason]
		if st.SuspendAt, err = parseTime(line.Details[detailSuspendAt]); err != nil {
			return st, fmt.Errorf("standing of %s: %w", ws.ID, err)
		}
		if st.EventTime, err = parseTime(line.Details[detailEventTime]); err != nil {
			return st, fmt.Errorf("standing of %s: %w", ws.ID, err)
		}
		return st, nil
	}
	if st.Status != billing.StatusActive {
		st.Reason = ws.SuspendedReason
	}
	return st, nil
}

// writeStanding stores next on the account and audits the change.
func writeStanding(ctx context.Context, tx *ent.Tx, acct *ent.BillingAccount, cur, next billing.Standing) error {
	u := tx.BillingAccount.UpdateOne(acct).SetStanding(standingOf(next.Status))
	switch {
	case next.Status == billing.StatusActive:
		u.ClearPastDueSince()
	case acct.PastDueSince == nil:
		// In arrears since the event that first took it out of good
		// standing; repeated failures keep the first time.
		since := next.EventTime
		if since.IsZero() {
			since = time.Now()
		}
		u.SetPastDueSince(since.UTC())
	}
	if err := u.Exec(ctx); err != nil {
		return dbErr("standing of "+acct.WorkspaceID, err)
	}
	details := map[string]string{
		detailStatus:   string(next.Status),
		detailPrevious: string(cur.Status),
	}
	if next.Reason != "" {
		details[detailReason] = next.Reason
	}
	if !next.SuspendAt.IsZero() {
		details[detailSuspendAt] = formatTime(next.SuspendAt)
	}
	if !next.EventTime.IsZero() {
		details[detailEventTime] = formatTime(next.EventTime)
	}
	return audit.Record(ctx, tx.Client(), audit.Event{
		WorkspaceID: acct.WorkspaceID, Action: audit.BillingEvent, TargetType: targetStanding, TargetID: acct.ID, Details: details,
	})
}

// applyToWorkspace makes the workspace's status say what the standing says
// at now, and reports whether it suspended it.
func applyToWorkspace(ctx context.Context, tx *ent.Tx, ws *ent.Workspace, st billing.Standing, now time.Time) (bool, error) {
	suspend := st.Suspended(now)
	switch {
	case ws.Status == workspace.StatusSUSPENDED && !billingReason(ws.SuspendedReason):
		return false, nil // suspended by someone else; theirs to lift
	case suspend && ws.Status == workspace.StatusSUSPENDED && ws.SuspendedReason == reasonOf(st):
		return false, nil
	case !suspend && ws.Status == workspace.StatusACTIVE:
		return false, nil
	}
	u := tx.Workspace.UpdateOne(ws)
	action := audit.WorkspaceResume
	details := map[string]string{"billing_status": string(st.Status)}
	if suspend {
		u.SetStatus(workspace.StatusSUSPENDED).SetSuspendedReason(reasonOf(st))
		action = audit.WorkspaceSuspend
		details["reason"] = reasonOf(st)
	} else {
		u.SetStatus(workspace.StatusACTIVE).ClearSuspendedReason()
	}
	if err := u.Exec(ctx); err != nil {
		return false, dbErr("status of workspace "+ws.ID, err)
	}
	err := audit.Record(ctx, tx.Client(), audit.Event{
		WorkspaceID: ws.ID, Action: action, TargetType: "workspace", TargetID: ws.ID, Details: details,
	})
	return suspend && ws.Status != workspace.StatusSUSPENDED, err
}

// ensureAccount returns the workspace's billing account, creating it for a
// workspace made before accounts were (workspaces.Create makes one now).
func ensureAccount(ctx context.Context, tx *ent.Tx, workspaceID string) (*ent.BillingAccount, error) {
	acct, err := tx.BillingAccount.Query().Where(billingaccount.WorkspaceID(workspaceID)).Only(ctx)
	if err == nil {
		return acct, nil
	}
	if !ent.IsNotFound(err) {
		return nil, dbErr("billing account of "+workspaceID, err)
	}
	exists, err := tx.Workspace.Query().Where(workspace.ID(workspaceID)).Exist(ctx)
	if err != nil {
		return nil, dbErr("workspace "+workspaceID, err)
	}
	if !exists {
		return nil, notFound("workspace %s", workspaceID)
	}
	acct, err = tx.BillingAccount.Create().SetWorkspaceID(workspaceID).Save(ctx)
	if err != nil {
		return nil, dbErr("create billing account of "+workspaceID, err)
	}
	return acct, nil
}

func sameStanding(a, b billing.Standing) bool {
	return a.Status == b.Status && a.Reason == b.Reason && a.SuspendAt.Equal(b.SuspendAt) && a.EventTime.Equal(b.EventTime)
}

// reasonOf is the workspace's suspended_reason for a suspending standing.
func reasonOf(st billing.Standing) string {
	if st.Reason != "" {
		return st.Reason
	}
	return billing.ReasonPaymentFailed
}

// billingReason reports whether a workspace's suspension reason is one this
// package sets (empty counts: nobody claimed it).
func billingReason(r string) bool {
	switch r {
	case "", billing.ReasonPaymentFailed, billing.ReasonSubscriptionDeleted:
		return true
	}
	return false
}

func statusOf(s billingaccount.Standing) billing.Status {
	switch s {
	case billingaccount.StandingPAST_DUE:
		return billing.StatusPastDue
	case billingaccount.StandingSUSPENDED:
		return billing.StatusSuspended
	}
	return billing.StatusActive
}

func standingOf(s billing.Status) billingaccount.Standing {
	switch s {
	case billing.StatusPastDue:
		return billingaccount.StandingPAST_DUE
	case billing.StatusSuspended:
		return billingaccount.StandingSUSPENDED
	}
	return billingaccount.StandingACTIVE
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q in audit details: %w", s, err)
	}
	return t.UTC(), nil
}
