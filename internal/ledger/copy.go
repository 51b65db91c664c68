package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/oais/oais/internal/usage"
)

// stageTable is a per-session temporary table that COPY fills; ON COMMIT
// DELETE ROWS empties it at the end of each batch, and a rollback discards
// what an aborted batch copied. Creating it once per session, not per
// batch, keeps the catalog from churning. Its columns are eventColumns.
// Its name changes with its columns (ledger_stage had no channel): behind
// PgBouncer a server session, and its temporary table of the old shape,
// outlives the control plane that made it.
const stageTable = `CREATE TEMP TABLE IF NOT EXISTS ledger_stage2 (
	id text, request_id text, api_key_id text, workspace_id text, model text, endpoint text,
	stream boolean, prompt_tokens bigint, completion_tokens bigint, cached_tokens bigint,
	cost_micros bigint, status bigint, latency_ms bigint, cache_hit boolean, source text,
	estimate_reason text, client_ip text, error_code text, channel text, occurred_at timestamptz, ingested_at timestamptz
) ON COMMIT DELETE ROWS`

// shipCopy is shipOnce on PostgreSQL in a pgx transaction on one pooled
// connection, so that COPY, which database/sql cannot issue, shares the
// transaction with the rest of the batch.
func (l *Ledger) shipCopy(ctx context.Context, recs []*usage.Record, bad []quarantined) ([]quarantined, error) {
	conn, err := l.s.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var added []quarantined
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("ledger: COPY needs the pgx driver, not %T", dc)
		}
		tx, err := sc.Conn().Begin(ctx)
		if err != nil {
			return err
		}
		err = l.ship(ctx, pgxTxn{tx}, recs, l.insertCopy)
		if err == nil {
			added, err = l.quarantine(ctx, pgxTxn{tx}, bad)
		}
		if err != nil {
			// A cancelled ctx cannot carry the rollback; a short fresh one
			// can, and if it fails pgx closes the connection, which the
			// pool then discards instead of reusing it mid-transaction.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return errors.Join(err, rollbackErr(tx.Rollback(rctx)))
		}
		return tx.Commit(ctx)
	})
	return added, err
}

func rollbackErr(err error) error {
	if err == nil || errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return fmt.Errorf("ledger: rollback: %w", err)
}

// insertCopy copies recs into the stage table and moves the new ones into
// usage_events, skipping request ids already stored.
func (l *Ledger) insertCopy(ctx context.Context, t txn, recs []*usage.Record, now time.Time) (map[string]struct{}, error) {
	tx := t.(pgxTxn).tx
	if _, err := tx.Exec(ctx, stageTable); err != nil {
		return nil, fmt.Errorf("ledger: create stage table: %w", err)
	}
	row := make([]any, 0, len(eventColumns))
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger_stage2"}, eventColumns,
		pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
			row = rowValues(row[:0], recs[i], now) // CopyFrom encodes a row before asking for the next
			return row, nil
		}))
	if err != nil {
		return nil, fmt.Errorf("ledger: copy usage events: %w", err)
	}
	inserted := make(map[string]struct{}, len(recs))
	err = t.query(ctx, `INSERT INTO usage_events (`+columnList+`) SELECT `+columnList+
		` FROM ledger_stage2 ORDER BY request_id COLLATE "C" ON CONFLICT DO NOTHING RETURNING request_id`, nil,
		func(row rowScanner) error {
			var id string
			if err := row.Scan(&id); err != nil {
				return err
			}
			inserted[id] = struct{}{}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("ledger: insert usage events: %w", err)
	}
	return inserted, nil
}

// pgxTxn is a pgx transaction.
type pgxTxn struct{ tx pgx.Tx }

func (t pgxTxn) exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.Exec(ctx, q, args...)
	return err
}

func (t pgxTxn) query(ctx context.Context, q string, args []any, row func(rowScanner) error) error {
	rows, err := t.tx.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
