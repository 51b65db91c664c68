// Package billing sends each workspace's metered cost to Stripe and applies
// Stripe's verdicts (paid, failed, cancelled) back to the workspace.
//
// Money flows one way: usage rows (usage.Record.CostMicros) are claimed into
// per-workspace Periods in the local ledger, in one transaction, and each
// Period is then sent to a Stripe Billing Meter as one meter event whose
// identifier is derived from (workspace, interval). The ledger is the source
// of truth; Stripe is told the same numbers, at least once, and its
// identifier de-duplication makes that exactly once while it lasts
// (DedupWindow). Past that window the worker resends nothing before it has
// read, from Stripe's meter event summaries, whether the event was counted
// (Worker, SafeResendWindow); Reconciler compares the ledger with those
// summaries per workspace.
//
// Storage is reached only through the narrow interfaces declared here
// (Ledger, Customers, Accounts, ReconcileStore); package billingtest has
// in-memory versions, a stateful fake Stripe, and a conformance suite for
// real ledgers.
package billing

import (
	"context"
	"errors"
	"time"
)

// Errors returned by this package and by implementations of its interfaces.
var (
	// ErrNotFound is returned by a store for a workspace, customer or period
	// that does not exist.
	ErrNotFound = errors.New("billing: not found")
	// ErrNotConfigured is returned by NewStripe without an API key.
	ErrNotConfigured = errors.New("billing: stripe not configured")
	// ErrPermanent marks a Stripe answer that retrying cannot change (a 4xx
	// other than 429): the request itself is wrong.
	ErrPermanent = errors.New("billing: permanent stripe error")
	// ErrRetryable marks a failure that may succeed later: 429, 5xx, or no
	// answer at all.
	ErrRetryable = errors.New("billing: retryable stripe error")
	// ErrInvalid is returned for a value this package refuses to send, such
	// as a negative amount or an over-long identifier.
	ErrInvalid = errors.New("billing: invalid value")
)

// Period is one workspace's cost for one closed billing interval: the unit
// sent to Stripe as a single meter event.
type Period struct {
	// ID is the ledger's key for the period.
	ID          string
	WorkspaceID string
	// IntervalStart and IntervalEnd bound the interval that closed when the
	// period was written. The period holds every row the ledger ingested
	// before IntervalEnd that no earlier period claimed, so a late row is
	// billed in the interval that saw it, never in one already sent.
	IntervalStart time.Time
	IntervalEnd   time.Time
	// CostMicros is the sum of the claimed rows' usage.Record.CostMicros.
	CostMicros int64
	// Identifier is the meter event identifier of generation 0, fixed when
	// the period is written so every retry sends the same one.
	Identifier string
	// Generation counts the times the period was given a fresh identifier
	// because Stripe had not counted it and may have forgotten the old one
	// (see EventIdentifier).
	Generation int
	// AttemptedAt is when this generation's event was first about to be
	// sent, written before the request left; nil until then. Stripe
	// deduplicates an identifier for at least DedupWindow from when it
	// received it, so this bounds how long a plain resend is safe.
	AttemptedAt *time.Time
	// EventTime is the timestamp this generation's event carries, fixed with
	// AttemptedAt so every resend is filed under the same minute; zero until
	// then.
	EventTime time.Time
	// SentAt is when Stripe accepted the event; nil until then.
	SentAt *time.Time
	// Review, when not empty, says why the period waits for an operator: the
	// worker sends nothing for it until `controlplane billing resolve`.
	Review string
	// Sends counts the workers' claims to send the period's current
	// generation (ClaimSend; a reissue starts again from 0): a worker sends
	// only after moving it on from the value it read, so of several
	// replicas that list the period unsent at once exactly one sends it.
	Sends int
}

// EventIdentifier is the identifier the period's current generation is sent
// under: Identifier for generation 0, ReissueIdentifier after that.
func (p Period) EventIdentifier() string {
	if p.Generation == 0 {
		return p.Identifier
	}
	return ReissueIdentifier(p.ID, p.Generation)
}

// Stamp is the minute Stripe files the period's event under: EventTime once
// attempted, else where a first attempt right after the interval puts it.
func (p Period) Stamp() time.Time {
	if !p.EventTime.IsZero() {
		return p.EventTime
	}
	return intervalStamp(p)
}

// Ledger is the part of the usage ledger that the metering worker needs.
// The control plane's store implements it; billingtest.RunLedgerSuite
// checks an implementation.
type Ledger interface {
	// ClosePeriods, in ONE transaction, claims every usage row not yet
	// billed whose ingestion time is before `before`, sums CostMicros per
	// workspace, and for each workspace whose sum is positive writes
	//
	//	Period{IntervalStart: before.Add(-interval), IntervalEnd: before,
	//	       CostMicros: sum, Identifier: Identifier(ws, before.Add(-interval))}
	//
	// marking the rows billed by it. It returns the periods it wrote.
	// Workspaces whose sum is zero have their rows marked billed and get no
	// period. (workspace, IntervalStart) is unique: if a workspace already
	// has a period starting there (a second replica, a repeated tick), its
	// rows are left unclaimed and roll into the next interval; they are never
	// added to a period that may already be sent.
	ClosePeriods(ctx context.Context, before time.Time, interval time.Duration) ([]Period, error)
	// UnsentPeriods returns every period with SentAt nil that is not held
	// for review, oldest first.
	UnsentPeriods(ctx context.Context) ([]Period, error)
	// MarkSent sets a period's SentAt. Marking a sent period again is not an
	// error and keeps the first time. ErrNotFound for an unknown id.
	MarkSent(ctx context.Context, periodID string, at time.Time) error
	// Periods returns the periods whose IntervalStart is in [from, to),
	// ordered by IntervalStart then WorkspaceID.
	Periods(ctx context.Context, from, to time.Time) ([]Period, error)
	// BeginAttempt records, if the period is still at generation and has
	// no attempt, that its event is about to be sent at `at` with timestamp
	// stamp; then it returns the period as stored, whoever recorded the
	// attempt. ErrNotFound for an unknown id.
	BeginAttempt(ctx context.Context, periodID string, generation int, at, stamp time.Time) (Period, error)
	// ClaimSend moves an unsent period's Sends from sends (the value the
	// caller read) to sends+1 and reports whether this call moved it: the
	// right to send the period now. Another replica that read the same
	// value gets false and leaves the period alone; a claim whose sender
	// died is taken over at a later tick by whoever reads the new value.
	ClaimSend(ctx context.Context, periodID string, sends int) (bool, error)
	// Reissue moves the period from generation to generation+1 (a new
	// identifier), not attempted, not sent, not held and not claimed
	// (Sends 0), and reports whether
	// this call moved it; a period already past generation is returned
	// unchanged with false, so two replicas cannot both reissue it.
	Reissue(ctx context.Context, periodID string, generation int) (Period, bool, error)
	// Hold sets the period's Review reason; an empty reason releases it.
	Hold(ctx context.Context, periodID, reason string) error
	// Stamped returns workspaceID's periods whose Stamp is in [from, to).
	Stamped(ctx context.Context, workspaceID string, from, to time.Time) ([]Period, error)
}

// Customer is what billing needs to know about a workspace to bill it.
type Customer struct {
	WorkspaceID string
	Name        string
	Email       string
	// StripeCustomerID is empty until EnsureCustomer created one.
	StripeCustomerID string
}

// Customers reads and records workspaces' Stripe customers.
type Customers interface {
	// Customer returns the workspace's billing details; ErrNotFound if the
	// workspace does not exist.
	Customer(ctx context.Context, workspaceID string) (Customer, error)
	// SetCustomerID records the workspace's Stripe customer id.
	SetCustomerID(ctx context.Context, workspaceID, customerID string) error
}
