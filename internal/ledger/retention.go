package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/oais/oais/internal/store"
)

// PartitionsAhead is how many months after the current one EnsurePartitions
// prepares, so a month's first event never waits for its partition.
const PartitionsAhead = 2

// EnsurePartitions makes, on PostgreSQL, the usage_events partitions of the
// UTC month holding now and of the PartitionsAhead months after it (the SQL
// function oais_usage_partition of migration *_partition_usage_events),
// and returns the names it was asked for. SQLite has no partitions: it
// returns nothing.
func (l *Ledger) EnsurePartitions(ctx context.Context, now time.Time) ([]string, error) {
	if !l.pg {
		return nil, nil
	}
	now = now.UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	var names []string
	for i := range PartitionsAhead + 1 {
		var name string
		if err := l.s.DB.QueryRowContext(ctx, `SELECT oais_usage_partition($1)`, month.AddDate(0, i, 0)).Scan(&name); err != nil {
			return names, fmt.Errorf("ledger: make the usage_events partition of %s: %w", month.AddDate(0, i, 0).Format("2006-01"), store.Classify(err))
		}
		names = append(names, name)
	}
	return names, nil
}

// Pruned is what Prune removed, and what it had to keep.
type Pruned struct {
	// Partitions are the monthly partitions dropped (PostgreSQL).
	Partitions []string
	// Rows counts the rows deleted one by one (SQLite; PostgreSQL's
	// default partition).
	Rows int64
	// Unbilled counts old raw events kept because billing has not yet
	// claimed them; they go on a later run.
	Unbilled int64
}

// pruneChunk bounds one DELETE on SQLite, so the write lock is held briefly.
const pruneChunk = 5000

// Prune removes the raw usage events that occurred before before, keeping
// every event billing has not yet claimed (billing_period_id IS NULL): raw
// events are what billing sums, so retention never loses money. Hourly
// rollups are kept, so charts, quotas and totals of pruned hours stay
// right; only the per-request log of those hours goes.
//
// On PostgreSQL it drops whole monthly partitions that end at or before
// before (a month partly inside the retention stays whole until it is all
// out); on SQLite it deletes rows in chunks.
func (l *Ledger) Prune(ctx context.Context, before time.Time) (Pruned, error) {
	before = before.UTC()
	var p Pruned
	if l.pg {
		return l.prunePartitions(ctx, before)
	}
	for {
		res, err := l.s.DB.ExecContext(ctx, `DELETE FROM usage_events WHERE id IN (
			SELECT id FROM usage_events WHERE occurred_at < ? AND billing_period_id IS NOT NULL LIMIT ?)`, before, pruneChunk)
		if err != nil {
			return p, fmt.Errorf("ledger: prune usage events: %w", store.Classify(err))
		}
		n, _ := res.RowsAffected()
		p.Rows += n
		if n < pruneChunk {
			break
		}
	}
	err := l.s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM usage_events WHERE occurred_at < ? AND billing_period_id IS NULL`, before).Scan(&p.Unbilled)
	return p, store.Classify(err)
}

func (l *Ledger) prunePartitions(ctx context.Context, before time.Time) (Pruned, error) {
	var p Pruned
	var parts []string
	err := l.queryDB(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class t ON t.oid = i.inhparent
		WHERE t.relname = 'usage_events' AND t.relnamespace = to_regnamespace(current_schema()) ORDER BY 1`, nil,
		func(row rowScanner) error {
			var name string
			if err := row.Scan(&name); err != nil {
				return err
			}
			parts = append(parts, name)
			return nil
		})
	if err != nil {
		return p, fmt.Errorf("ledger: list usage_events partitions: %w", err)
	}
	for _, name := range parts {
		month, ok := partitionMonth(name)
		if !ok || month.AddDate(0, 1, 0).After(before) {
			continue // the default partition, or a month not wholly old
		}
		// name matches usage_events_pYYYYMM: safe to quote as an identifier.
		var unbilled int64
		if err := l.s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+name+`" WHERE billing_period_id IS NULL`).Scan(&unbilled); err != nil {
			return p, fmt.Errorf("ledger: count unbilled events of %s: %w", name, store.Classify(err))
		}
		if unbilled > 0 {
			p.Unbilled += unbilled
			continue
		}
		if _, err := l.s.DB.ExecContext(ctx, `DROP TABLE "`+name+`"`); err != nil {
			return p, fmt.Errorf("ledger: drop %s: %w", name, store.Classify(err))
		}
		p.Partitions = append(p.Partitions, name)
	}
	res, err := l.s.DB.ExecContext(ctx, `DELETE FROM usage_events_default WHERE occurred_at < $1 AND billing_period_id IS NOT NULL`, before)
	if err != nil {
		return p, fmt.Errorf("ledger: prune the default partition: %w", store.Classify(err))
	}
	p.Rows, _ = res.RowsAffected()
	var unbilled int64
	if err := l.s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM usage_events_default WHERE occurred_at < $1 AND billing_period_id IS NULL`, before).Scan(&unbilled); err != nil {
		return p, fmt.Errorf("ledger: count unbilled events: %w", store.Classify(err))
	}
	p.Unbilled += unbilled
	return p, nil
}

// partitionMonth parses usage_events_pYYYYMM.
func partitionMonth(name string) (time.Time, bool) {
	s, ok := strings.CutPrefix(name, "usage_events_p")
	if !ok || len(s) != 6 {
		return time.Time{}, false
	}
	t, err := time.Parse("200601", s)
	return t, err == nil
}
