package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/usage"
)

// The quarantine is a table, usage_quarantine, not a file beside the
// spool's segments: a record moves aside in the transaction that ships the
// rest of its batch, so it is quarantined exactly when its batch commits
// (never twice, never lost to a crash in between); it sits in the database
// that operators and billing already read, whichever gateway replica
// shipped it, and outlives that replica's disk; and a fixed record is
// shipped again with SQL. docs/billing.md, "Quarantined usage", is the
// operator's side.

// Reasons a record is quarantined, the values of the metric's label.
const (
	quarantineInvalid = "invalid" // it fails Ship's validation
	quarantineRefused = "refused" // the database refused it
	maxQuarantineWhy  = 1000      // ent/schema/usagequarantine.go: reason MaxLen
	quarantineLogged  = 5         // records named in one batch's log line
)

// quarantined is a record Ship moves aside, and why.
type quarantined struct {
	rec    *usage.Record
	reason string
	label  string // quarantineInvalid or quarantineRefused
}

// newQuarantineCounter is the ledger's oais_usage_quarantined_records_total.
func newQuarantineCounter() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oais_usage_quarantined_records_total",
		Help: "Usage records moved to the usage_quarantine table instead of the ledger, because they fail validation (invalid) or the database refused them (refused). Each is an answered request not billed until an operator ships it again.",
	}, []string{"reason"})
	c.WithLabelValues(quarantineInvalid)
	c.WithLabelValues(quarantineRefused)
	return c
}

// Collector returns the ledger's metrics, for a process's registry.
func (l *Ledger) Collector() prometheus.Collector { return l.quarantineCount }

// quarantine stores qs in usage_quarantine, in t, skipping records already
// there, and returns those it added.
func (l *Ledger) quarantine(ctx context.Context, t txn, qs []quarantined) ([]quarantined, error) {
	var added []quarantined
	q := l.rebind(`INSERT INTO usage_quarantine (id, request_id, workspace_id, reason, record, quarantined_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id`)
	now := time.Now().UTC()
	for _, x := range qs {
		record := recordJSON(x.rec)
		sum := sha256.Sum256(record)
		id := "uq_" + hex.EncodeToString(sum[:16])
		n := 0
		err := t.query(ctx, q, []any{id, store.Clean(x.rec.RequestID, maxRequestID), store.Clean(x.rec.WorkspaceID, 64),
			store.Clean(x.reason, maxQuarantineWhy), string(record), now}, func(row rowScanner) error {
			var got string
			n++
			return row.Scan(&got)
		})
		if err != nil {
			return nil, fmt.Errorf("ledger: quarantine a usage record: %w", err)
		}
		if n > 0 {
			added = append(added, x)
		}
	}
	return added, nil
}

// recordJSON is r as the spool stores it. encoding/json writes valid UTF-8
// and escapes NUL, so the text column takes any record; a time outside
// years 0 to 9999, which it cannot encode, is left out.
func recordJSON(r *usage.Record) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		c := *r
		c.Time = time.Time{}
		b, _ = json.Marshal(&c)
	}
	return b
}

// reportQuarantined counts and logs the records a committed batch moved
// aside: one line per batch, naming the first few.
func (l *Ledger) reportQuarantined(added []quarantined) {
	if len(added) == 0 {
		return
	}
	named := make([]string, 0, min(len(added), quarantineLogged))
	for i, x := range added {
		l.quarantineCount.WithLabelValues(x.label).Inc()
		if i < quarantineLogged {
			named = append(named, fmt.Sprintf("request_id=%.40q workspace_id=%.40q key_id=%.40q: %s",
				x.rec.RequestID, x.rec.WorkspaceID, x.rec.KeyID, x.reason))
		}
	}
	l.log.Error("usage ledger: quarantined usage records it cannot store, in usage_quarantine; the rest of their batch shipped. "+
		"They are unbilled until shipped again (docs/billing.md, \"Quarantined usage\")",
		"count", len(added), "records", named)
}

// refused reports whether err is the database refusing a value of the
// batch (a data or constraint error) rather than failing to run it: the
// same batch would fail the same way forever.
func refused(err error) bool {
	k := store.Classify(err)
	return errors.Is(k, store.ErrInvalidData) || errors.Is(k, store.ErrConstraint) || errors.Is(k, store.ErrConflict)
}

// shipIsolating is Ship for a batch the database refused: in one
// transaction, it ships recs in halves, each in a savepoint, down to the
// single records the database refuses, and quarantines those with bad. A
// batch with one poisoned record among n costs about 2·log2(n) attempts.
func (l *Ledger) shipIsolating(ctx context.Context, recs []*usage.Record, bad []quarantined) ([]quarantined, error) {
	var added []quarantined
	err := l.inTx(ctx, func(t sqlTxn, insert insertFunc) error {
		all := slices.Clone(bad)
		var isolate func(part []*usage.Record) error
		isolate = func(part []*usage.Record) error {
			// ship sorts and filters its argument in place: give it a copy,
			// so a retry sees the records as they were.
			err := savepoint(ctx, t, func() error { return l.ship(ctx, t, slices.Clone(part), insert) })
			if err == nil || !refused(err) {
				return err
			}
			if len(part) == 1 {
				all = append(all, quarantined{rec: part[0], reason: "insert failed: " + err.Error(), label: quarantineRefused})
				return nil
			}
			if err := isolate(part[:len(part)/2]); err != nil {
				return err
			}
			return isolate(part[len(part)/2:])
		}
		if len(recs) > 0 {
			if err := isolate(recs); err != nil {
				return err
			}
		}
		var err error
		added, err = l.quarantine(ctx, t, all)
		return err
	})
	return added, err
}

// savepoint runs f inside a savepoint of t, rolled back if f fails, so
// that t goes on (PostgreSQL refuses every statement of a transaction
// after a failed one, until it rolls back to a savepoint).
func savepoint(ctx context.Context, t txn, f func() error) error {
	if err := t.exec(ctx, "SAVEPOINT ledger_part"); err != nil {
		return err
	}
	if err := f(); err != nil {
		if rerr := t.exec(ctx, "ROLLBACK TO SAVEPOINT ledger_part"); rerr != nil {
			return fmt.Errorf("ledger: roll back a refused part: %w", rerr)
		}
		if rerr := t.exec(ctx, "RELEASE SAVEPOINT ledger_part"); rerr != nil {
			return fmt.Errorf("ledger: release a savepoint: %w", rerr)
		}
		return err
	}
	return t.exec(ctx, "RELEASE SAVEPOINT ledger_part")
}
