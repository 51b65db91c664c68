// Package entstore is billing's storage on the control plane's database: the
// usage ledger's periods (billing.Ledger, billing.ReconcileStore),
// workspaces' Stripe customers (billing.Customers), their payment standing
// and Stripe's meter error reports (billing.Accounts), written through ent
// with the system's authority, on SQLite and PostgreSQL alike.
//
// A workspace's standing lives in two places that must agree: the billing
// account (ACTIVE, PAST_DUE, SUSPENDED, as billing sees it) and the
// workspace row's status, which is what the gateway enforces. Every change
// writes both in one transaction, with an audit line.
package entstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// Store implements billing's storage interfaces on a store.Store. It is safe
// for concurrent use, also by several processes sharing one database.
type Store struct {
	db *store.Store
	// now is the clock UpdateStanding judges a past-due deadline by.
	now func() time.Time
}

var (
	_ billing.Ledger         = (*Store)(nil)
	_ billing.Customers      = (*Store)(nil)
	_ billing.Accounts       = (*Store)(nil)
	_ billing.ReconcileStore = (*Store)(nil)
)

// New returns the billing store of s.
func New(s *store.Store) *Store { return &Store{db: s, now: time.Now} }

// system is ctx with the system viewer: billing acts for no user, and its
// queries must see every workspace.
func system(ctx context.Context) context.Context { return viewer.SystemContext(ctx) }

// postgres reports whether the database is PostgreSQL, where transactions
// run concurrently and need explicit locks; SQLite's are serialized by the
// store's _txlock=immediate.
func (s *Store) postgres() bool { return s.db.Dialect == dialect.Postgres }

// inTx runs fn in a transaction with the system viewer, committing if fn
// returns nil.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, tx *ent.Tx) error) (err error) {
	ctx = system(ctx)
	tx, err := s.db.Ent.Tx(ctx)
	if err != nil {
		return dbErr("begin", err)
	}
	defer func() {
		if v := recover(); v != nil {
			_ = tx.Rollback()
			panic(v)
		}
	}()
	if err := fn(ctx, tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			err = errors.Join(err, dbErr("rollback", rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return dbErr("commit", err)
	}
	return nil
}

// dbErr classifies a database error once (STYLE rule 12) and maps "not
// found" onto billing's sentinel, which is what billing's callers check.
func dbErr(what string, err error) error {
	err = store.Classify(err)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w: %w", what, billing.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func notFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), billing.ErrNotFound)
}
