// Package billing sends each workspace's metered cost to Stripe and applies
// Stripe's verdicts (paid, failed, cancelled) back to the workspace.
//
// Money flows one way: usage rows (usage.Record.CostMicros) are claimed into
// per-workspace Periods in the local ledger, in one transaction, and each
// Period is then sent to a Stripe Billing Meter as one meter event whose
// identifier is derived from (workspace, interval). The ledger is the source
// of truth; Stripe is told the same numbers, at least once, and its
// identifier de-duplication makes that exactly once.
//
// Storage is reached only through the narrow interfaces declared here
// (Ledger, Customers, Accounts); package billingtest has in-memory versions
// and a conformance suite for real ones.
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
	// Identifier is the meter event identifier, fixed when the period is
	// written so every retry sends the same one.
	Identifier string
	// SentAt is when Stripe accepted the event; nil until then.
	SentAt *time.Time
}

// Ledger is the part of the usage ledger that billing needs. The control
// plane's store implements it; billingtest.RunLedgerSuite checks an
// implementation.
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
	// UnsentPeriods returns every period with SentAt nil, oldest first.
	UnsentPeriods(ctx context.Context) ([]Period, error)
	// MarkSent sets a period's SentAt. Marking a sent period again is not an
	// error and keeps the first time. ErrNotFound for an unknown id.
	MarkSent(ctx context.Context, periodID string, at time.Time) error
	// Periods returns the periods whose IntervalStart is in [from, to),
	// ordered by IntervalStart then WorkspaceID.
	Periods(ctx context.Context, from, to time.Time) ([]Period, error)
	// ClaimedCost returns, for each period id in ids, the sum of the
	// CostMicros of the usage rows it claimed, recomputed from the rows.
	ClaimedCost(ctx context.Context, ids []string) (map[string]int64, error)
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
