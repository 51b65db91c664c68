// Package billingtest has in-memory implementations of billing's storage
// interfaces, for tests, and RunLedgerSuite, which checks a real one.
package billingtest

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/internal/usage"
)

// Store is an in-memory billing.Ledger, billing.Customers and
// billing.Accounts. Its zero value is ready; it is safe for concurrent use.
type Store struct {
	mu        sync.Mutex
	rows      []row
	seen      map[string]bool // usage request ids
	periods   []billing.Period
	customers map[string]billing.Customer
	events    map[string]bool
	standings map[string]billing.Standing
	reports   []billing.MeterErrorReport
	nextID    int
}

var (
	_ billing.Ledger         = (*Store)(nil)
	_ billing.Customers      = (*Store)(nil)
	_ billing.Accounts       = (*Store)(nil)
	_ billing.ReconcileStore = (*Store)(nil)
)

type row struct {
	rec      usage.Record
	ingested time.Time
	billed   bool
}

// AddUsage ingests a usage record at ingestedAt, ignoring a RequestID seen
// before (as the real ledger insert does).
func (s *Store) AddUsage(_ context.Context, rec usage.Record, ingestedAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if s.seen[rec.RequestID] {
		return nil
	}
	s.seen[rec.RequestID] = true
	s.rows = append(s.rows, row{rec: rec, ingested: ingestedAt})
	return nil
}

// ClosePeriods implements billing.Ledger.
func (s *Store) ClosePeriods(_ context.Context, before time.Time, interval time.Duration) ([]billing.Period, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := before.Add(-interval)
	taken := map[string]bool{}
	for _, p := range s.periods {
		if p.IntervalStart.Equal(start) {
			taken[p.WorkspaceID] = true
		}
	}
	sums := map[string]int64{}
	var claim []int
	for i, r := range s.rows {
		if r.billed || !r.ingested.Before(before) || taken[r.rec.WorkspaceID] {
			continue
		}
		sums[r.rec.WorkspaceID] += r.rec.CostMicros
		claim = append(claim, i)
	}
	var out []billing.Period
	for _, ws := range sortedKeys(sums) {
		if sums[ws] <= 0 {
			continue
		}
		s.nextID++
		p := billing.Period{
			ID:            "per_" + strconv.Itoa(s.nextID),
			WorkspaceID:   ws,
			IntervalStart: start,
			IntervalEnd:   before,
			CostMicros:    sums[ws],
			Identifier:    billing.Identifier(ws, start),
		}
		s.periods = append(s.periods, p)
		out = append(out, p)
	}
	for _, i := range claim {
		s.rows[i].billed = true
	}
	return out, nil
}

// UnsentPeriods implements billing.Ledger.
func (s *Store) UnsentPeriods(context.Context) ([]billing.Period, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []billing.Period
	for _, p := range s.periods {
		if p.SentAt == nil && p.Review == "" {
			out = append(out, p)
		}
	}
	sortPeriods(out)
	return out, nil
}

// MarkSent implements billing.Ledger.
func (s *Store) MarkSent(_ context.Context, periodID string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.period(periodID)
	if err != nil {
		return err
	}
	if p.SentAt == nil {
		at := at
		p.SentAt = &at
	}
	return nil
}

// Periods implements billing.Ledger.
func (s *Store) Periods(_ context.Context, from, to time.Time) ([]billing.Period, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []billing.Period
	for _, p := range s.periods {
		if !p.IntervalStart.Before(from) && p.IntervalStart.Before(to) {
			out = append(out, p)
		}
	}
	sortPeriods(out)
	return out, nil
}

// BeginAttempt implements billing.Ledger.
func (s *Store) BeginAttempt(_ context.Context, periodID string, generation int, at, stamp time.Time) (billing.Period, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.period(periodID)
	if err != nil {
		return billing.Period{}, err
	}
	if p.Generation == generation && p.AttemptedAt == nil {
		at := at.UTC()
		p.AttemptedAt, p.EventTime = &at, stamp.UTC()
	}
	return *p, nil
}

// ClaimSend implements billing.Ledger.
func (s *Store) ClaimSend(_ context.Context, periodID string, sends int) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.period(periodID)
	if err != nil || p.Sends != sends || p.SentAt != nil {
		return false, err
	}
	p.Sends++
	return true, nil
}

// Reissue implements billing.Ledger.
func (s *Store) Reissue(_ context.Context, periodID string, generation int) (billing.Period, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.period(periodID)
	if err != nil {
		return billing.Period{}, false, err
	}
	if p.Generation != generation {
		return *p, false, nil
	}
	p.Generation++
	p.AttemptedAt, p.EventTime, p.SentAt, p.Review, p.Sends = nil, time.Time{}, nil, "", 0
	return *p, true, nil
}

// Hold implements billing.Ledger.
func (s *Store) Hold(_ context.Context, periodID, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.period(periodID)
	if err != nil {
		return err
	}
	p.Review = reason
	return nil
}

// Stamped implements billing.Ledger.
func (s *Store) Stamped(_ context.Context, workspaceID string, from, to time.Time) ([]billing.Period, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []billing.Period
	for _, p := range s.periods {
		if p.WorkspaceID == workspaceID && stamped(p, from, to) {
			out = append(out, p)
		}
	}
	sortPeriods(out)
	return out, nil
}

// Totals implements billing.ReconcileStore.
func (s *Store) Totals(_ context.Context, from, to time.Time) ([]billing.PeriodTotals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	by := map[string]*billing.PeriodTotals{}
	var order []string
	for _, p := range s.periods {
		if !stamped(p, from, to) {
			continue
		}
		t := by[p.WorkspaceID]
		if t == nil {
			t = &billing.PeriodTotals{WorkspaceID: p.WorkspaceID}
			by[p.WorkspaceID] = t
			order = append(order, p.WorkspaceID)
		}
		t.Periods++
		t.Micros += p.CostMicros
		switch {
		case p.Review != "":
			t.Held++
			t.HeldMicros += p.CostMicros
		case p.SentAt == nil:
			t.Unsent++
			t.UnsentMicros += p.CostMicros
		}
	}
	sort.Strings(order)
	out := make([]billing.PeriodTotals, len(order))
	for i, ws := range order {
		out[i] = *by[ws]
	}
	return out, nil
}

// HeldPeriods implements billing.ReconcileStore.
func (s *Store) HeldPeriods(context.Context) ([]billing.Period, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []billing.Period
	for _, p := range s.periods {
		if p.Review != "" {
			out = append(out, p)
		}
	}
	sortPeriods(out)
	return out, nil
}

// StripeCustomers implements billing.ReconcileStore.
func (s *Store) StripeCustomers(context.Context) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for ws, c := range s.customers {
		if c.StripeCustomerID != "" {
			out[ws] = c.StripeCustomerID
		}
	}
	return out, nil
}

// RecordMeterErrors implements billing.Accounts.
func (s *Store) RecordMeterErrors(_ context.Context, report billing.MeterErrorReport) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, report)
	var held []string
	for _, t := range report.Types {
		for _, sample := range t.Samples {
			for i := range s.periods {
				p := &s.periods[i]
				if sample.Identifier != "" && p.EventIdentifier() == sample.Identifier && p.Review == "" {
					p.Review = billing.HoldMeterError + ": " + t.Code + ": " + sample.Message
					held = append(held, p.ID)
				}
			}
		}
	}
	return held, nil
}

// MeterErrors implements billing.ReconcileStore.
func (s *Store) MeterErrors(_ context.Context, from, to time.Time) ([]billing.MeterErrorReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []billing.MeterErrorReport
	for _, r := range s.reports {
		if r.ValidationStart.Before(to) && !r.ValidationEnd.Before(from) {
			out = append(out, r)
		}
	}
	return out, nil
}

// period returns the stored period periodID; s.mu is held.
func (s *Store) period(periodID string) (*billing.Period, error) {
	for i := range s.periods {
		if s.periods[i].ID == periodID {
			return &s.periods[i], nil
		}
	}
	return nil, fmt.Errorf("period %s: %w", periodID, billing.ErrNotFound)
}

func stamped(p billing.Period, from, to time.Time) bool {
	t := p.Stamp()
	return !t.Before(from) && t.Before(to)
}

// UsageTotal returns the sum of CostMicros of every row of workspaceID,
// billed or not: what the ledger says the workspace owes.
func (s *Store) UsageTotal(workspaceID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sum int64
	for _, r := range s.rows {
		if r.rec.WorkspaceID == workspaceID {
			sum += r.rec.CostMicros
		}
	}
	return sum
}

// AddCustomer adds or replaces a workspace's billing details.
func (s *Store) AddCustomer(c billing.Customer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.customers == nil {
		s.customers = map[string]billing.Customer{}
	}
	s.customers[c.WorkspaceID] = c
}

// Customer implements billing.Customers.
func (s *Store) Customer(_ context.Context, workspaceID string) (billing.Customer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[workspaceID]
	if !ok {
		return billing.Customer{}, fmt.Errorf("workspace %s: %w", workspaceID, billing.ErrNotFound)
	}
	return c, nil
}

// SetCustomerID implements billing.Customers.
func (s *Store) SetCustomerID(_ context.Context, workspaceID, customerID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[workspaceID]
	if !ok {
		return fmt.Errorf("workspace %s: %w", workspaceID, billing.ErrNotFound)
	}
	c.StripeCustomerID = customerID
	s.customers[workspaceID] = c
	return nil
}

// RecordEvent implements billing.Accounts.
func (s *Store) RecordEvent(_ context.Context, eventID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events == nil {
		s.events = map[string]bool{}
	}
	if s.events[eventID] {
		return false, nil
	}
	s.events[eventID] = true
	return true, nil
}

// ForgetEvent implements billing.Accounts.
func (s *Store) ForgetEvent(_ context.Context, eventID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.events, eventID)
	return nil
}

// WorkspaceByCustomer implements billing.Accounts.
func (s *Store) WorkspaceByCustomer(_ context.Context, customerID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ws, c := range s.customers {
		if c.StripeCustomerID == customerID && customerID != "" {
			return ws, nil
		}
	}
	return "", fmt.Errorf("customer %s: %w", customerID, billing.ErrNotFound)
}

// UpdateStanding implements billing.Accounts.
func (s *Store) UpdateStanding(_ context.Context, workspaceID string, update func(billing.Standing) billing.Standing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.customers[workspaceID]; !ok {
		return fmt.Errorf("workspace %s: %w", workspaceID, billing.ErrNotFound)
	}
	if s.standings == nil {
		s.standings = map[string]billing.Standing{}
	}
	s.standings[workspaceID] = update(s.standings[workspaceID])
	return nil
}

// Standing returns the workspace's current standing.
func (s *Store) Standing(workspaceID string) billing.Standing {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.standings[workspaceID]
}

func sortPeriods(ps []billing.Period) {
	sort.Slice(ps, func(i, j int) bool {
		if !ps[i].IntervalStart.Equal(ps[j].IntervalStart) {
			return ps[i].IntervalStart.Before(ps[j].IntervalStart)
		}
		return ps[i].WorkspaceID < ps[j].WorkspaceID
	})
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
