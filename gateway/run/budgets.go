package run

import (
	"context"
	"time"

	"github.com/oais/oais/gateway"
	"github.com/oais/oais/internal/every"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

// budgetEvery is how often the gateway reads what budgets have used from
// the ledger and its spool, and how long it waits before handing the
// result to the limiter. The wait must outlast the slowest settlement
// (go-redis retries included, about 25 s at worst) of a charge that
// reserved nothing (a response-cache hit's tokens, ratelimit.Charger): a
// floor that counts it before it lands would count it twice. (A
// reservation's use is safe either way: a budget counts its open
// reservations toward its floor, ratelimit.Counter.Floor.) Raise both
// together.
const budgetEvery = 30 * time.Second

// budgetUsage is what the budgets have used, from the ledger and this
// replica's unshipped spool counted once each (spool.Unshipped): the
// month (of now) of every workspace with a spend cap or token quota, and
// of every key with a request limit or a credit quota its answered
// requests since its last reset and its cost (all time). keys false
// leaves the keys out.
func (g *Gateway) budgetUsage(ctx context.Context, now time.Time, keys bool) (*gateway.BudgetFloors, error) {
	var b ledger.Budgets
	read := func(ctx context.Context) (err error) {
		b, err = g.Ledger.Budgets(ctx, now)
		return err
	}
	each := func(r *usage.Record) {
		if u, ok := b.Workspaces[r.WorkspaceID]; ok && !r.Time.Before(b.From) && r.Time.Before(b.To) {
			u.Tokens += r.PromptTokens + r.CompletionTokens
			u.CostMicros += r.CostMicros
			b.Workspaces[r.WorkspaceID] = u
		}
		// As the ledger counts requests: answered ones (internal/ledger),
		// since the key's count was reset.
		if n, ok := b.KeyRequests[r.KeyID]; ok && r.Status < 400 && !r.Time.Before(b.KeyResetAt[r.KeyID]) {
			b.KeyRequests[r.KeyID] = n + 1
		}
		if c, ok := b.KeyCostMicros[r.KeyID]; ok {
			b.KeyCostMicros[r.KeyID] = c + r.CostMicros
		}
	}
	if err := g.Spool.Unshipped(ctx, read, each); err != nil {
		return nil, err
	}
	f := &gateway.BudgetFloors{Month: b.From.Format("2006-01"), Workspaces: make(map[string]gateway.MonthUsage, len(b.Workspaces))}
	for ws, t := range b.Workspaces {
		f.Workspaces[ws] = gateway.MonthUsage{Tokens: t.Tokens, CostMicros: t.CostMicros}
	}
	if keys {
		f.KeyRequests, f.KeyCostMicros = b.KeyRequests, b.KeyCostMicros
		f.KeyRequestGens = make(map[string]int64, len(b.KeyResetAt))
		for id, at := range b.KeyResetAt {
			// As keysnapshot names the generation (gateway.KeyPolicy.RequestGen).
			f.KeyRequestGens[id] = at.UnixMicro()
		}
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

// followBudgets hands the limiter what budgets have used, every period
// (budgetEvery), one period late (see budgetEvery), until ctx ends. This is
// what makes budget counters eventually exact: usage that a Redis loss, a
// dropped settlement or an outage's local limits kept from the shared
// counter is added back once the ledger has it, and a reservation that was
// never settled expires on its own (ratelimit.Options.ReservationTTL).
func (g *Gateway) followBudgets(ctx context.Context, period time.Duration) {
	var next *gateway.BudgetFloors
	failing := false
	every.Run(ctx, period, func(ctx context.Context) {
		if next != nil {
			g.GW.SetBudgetFloors(next)
		}
		rctx, cancel := context.WithTimeout(ctx, period/2)
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
