package run

import (
	"context"
	"fmt"
	"time"

	"github.com/oais/oais/gateway"
	"github.com/oais/oais/internal/every"
	"github.com/oais/oais/internal/usage"
)

// budgetEvery is how often the gateway reads what budgets have used from
// the ledger and its spool, and how long it waits before handing the
// result to the limiter. The wait must outlast the slowest settlement of
// a reservation (go-redis retries included, about 25 s at worst): a floor
// that counts a request whose settlement lands after the floor raised the
// counter would count that request twice (ratelimit.Counter.Floor).
// Raise both together.
const budgetEvery = 30 * time.Second

// budgetUsage is what the budgets have used, from the ledger and this
// replica's unshipped spool counted once each (spool.Unshipped): every
// workspace's tokens and cost in the month of now, and each key with a
// request limit's answered requests (all time). keys false skips the
// keys.
func (g *Gateway) budgetUsage(ctx context.Context, now time.Time, keys bool) (*gateway.BudgetFloors, error) {
	now = now.UTC()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	f := &gateway.BudgetFloors{Month: from.Format("2006-01"), Workspaces: map[string]gateway.MonthUsage{}}
	if keys {
		f.KeyRequests = map[string]int64{}
	}
	read := func(ctx context.Context) error {
		mt, err := g.Ledger.MonthToDate(ctx, now)
		if err != nil {
			return err
		}
		for ws, t := range mt.Workspaces {
			f.Workspaces[ws] = gateway.MonthUsage{Tokens: t.Tokens, CostMicros: t.CostMicros}
		}
		if !keys {
			return nil
		}
		// api_keys.request_count moves in the transaction that ships the
		// usage, so it agrees with the ledger read above.
		rows, err := g.Store.DB.QueryContext(ctx, `SELECT id, request_count FROM api_keys WHERE max_requests > 0`)
		if err != nil {
			return fmt.Errorf("read key request counts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				return fmt.Errorf("read key request counts: %w", err)
			}
			f.KeyRequests[id] = n
		}
		return rows.Err()
	}
	each := func(r *usage.Record) {
		if !r.Time.Before(from) && r.Time.Before(to) {
			u := f.Workspaces[r.WorkspaceID]
			u.Tokens += r.PromptTokens + r.CompletionTokens
			u.CostMicros += r.CostMicros
			f.Workspaces[r.WorkspaceID] = u
		}
		// As the ledger counts requests: answered ones (internal/ledger).
		if n, ok := f.KeyRequests[r.KeyID]; ok && r.Status < 400 {
			f.KeyRequests[r.KeyID] = n + 1
		}
	}
	if err := g.Spool.Unshipped(ctx, read, each); err != nil {
		return nil, err
	}
	return f, nil
}

// monthTotals seeds the key snapshot's monthly budgets.
func (g *Gateway) monthTotals(ctx context.Context, now time.Time) (map[string]int64, map[string]int64, error) {
	f, err := g.budgetUsage(ctx, now, false)
	if err != nil {
		return nil, nil, err
	}
	tok, cost := make(map[string]int64, len(f.Workspaces)), make(map[string]int64, len(f.Workspaces))
	for ws, u := range f.Workspaces {
		tok[ws], cost[ws] = u.Tokens, u.CostMicros
	}
	return tok, cost, nil
}

// followBudgets hands the limiter what budgets have used, every
// budgetEvery, one period late (see budgetEvery), until ctx ends. This is
// what makes budget counters eventually exact: usage that a Redis loss, a
// dropped settlement or an outage's local limits kept from the shared
// counter is added back once the ledger has it, and a reservation that was
// never settled expires on its own (ratelimit.Options.ReservationTTL).
func (g *Gateway) followBudgets(ctx context.Context) {
	var next *gateway.BudgetFloors
	failing := false
	every.Run(ctx, budgetEvery, func(ctx context.Context) {
		if next != nil {
			g.GW.SetBudgetFloors(next)
		}
		rctx, cancel := context.WithTimeout(ctx, budgetEvery/2)
		defer cancel()
		f, err := g.budgetUsage(rctx, time.Now(), true)
		if err != nil {
			next = nil
			if ctx.Err() == nil && !failing {
				g.log.Warn("budgets: cannot read usage from the ledger; budget counters lost with Redis start from the last known totals until it answers", "err", err)
			}
			failing = ctx.Err() == nil
			return
		}
		if failing {
			g.log.Info("budgets: usage readable again from the ledger")
			failing = false
		}
		next = f
	}, every.Now())
}
