package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Budgets is what the gateway's budget counters count, as the ledger has
// it: the month's usage of every workspace with a spend cap or a token
// quota (zero for those without usage), and of every key with a request
// limit or a credit quota that is not deleted, its answered requests since
// its count was reset (KeyResetAt, zero if never) and its cost, all time.
type Budgets struct {
	From, To      time.Time // the month: [From, To)
	Workspaces    map[string]Totals
	KeyRequests   map[string]int64
	KeyResetAt    map[string]time.Time
	KeyCostMicros map[string]int64
}

// Budgets returns the budgets' usage in the calendar month (UTC) that holds
// now. The gateway reads it every 30 s on every replica, so it reads only
// the workspaces and keys that have a budget, from the hourly rollups and
// api_keys.request_count and credit_used_micros (which Ship moves in the
// transaction that stores the events).
func (l *Ledger) Budgets(ctx context.Context, now time.Time) (Budgets, error) {
	now = now.UTC()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	b := Budgets{From: from, To: from.AddDate(0, 1, 0), Workspaces: map[string]Totals{}, KeyRequests: map[string]int64{},
		KeyResetAt: map[string]time.Time{}, KeyCostMicros: map[string]int64{}}
	err := l.queryDB(ctx, `SELECT w.id,
		CAST(COALESCE(SUM(r.prompt_tokens + r.completion_tokens), 0) AS BIGINT),
		CAST(COALESCE(SUM(r.cost_micros), 0) AS BIGINT)
		FROM workspaces w LEFT JOIN usage_rollups r ON r.workspace_id = w.id AND r.hour >= ? AND r.hour < ?
		WHERE w.spend_cap_cents IS NOT NULL OR w.monthly_token_quota > 0
		GROUP BY w.id`, []any{b.From, b.To},
		func(row rowScanner) error {
			var ws string
			var t Totals
			if err := row.Scan(&ws, &t.Tokens, &t.CostMicros); err != nil {
				return err
			}
			b.Workspaces[ws] = t
			return nil
		})
	if err != nil {
		return Budgets{}, fmt.Errorf("ledger: budgets: %w", err)
	}
	err = l.queryDB(ctx, `SELECT id, request_count, requests_reset_at, credit_used_micros FROM api_keys
		WHERE (max_requests > 0 OR credit_quota_cents IS NOT NULL) AND deleted_at IS NULL`, nil,
		func(row rowScanner) error {
			var id string
			var n, cost int64
			var reset sql.NullTime
			if err := row.Scan(&id, &n, &reset, &cost); err != nil {
				return err
			}
			b.KeyRequests[id], b.KeyCostMicros[id] = n, cost
			if reset.Valid {
				b.KeyResetAt[id] = reset.Time
			}
			return nil
		})
	if err != nil {
		return Budgets{}, fmt.Errorf("ledger: budgets: key requests: %w", err)
	}
	return b, nil
}
