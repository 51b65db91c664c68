package store

import (
	"context"

	"github.com/oais/oais/ent"
)

// InTx runs fn in ctx's transaction if there is one (ent.TxFromContext:
// a GraphQL mutation's), else in a new one it commits when fn succeeds.
// Errors are classified (Classify).
func InTx(ctx context.Context, c *ent.Client, fn func(*ent.Client) error) error {
	if ent.TxFromContext(ctx) != nil {
		return fn(c)
	}
	tx, err := c.Tx(ctx)
	if err != nil {
		return Classify(err)
	}
	if err := fn(tx.Client()); err != nil {
		_ = tx.Rollback()
		return err
	}
	return Classify(tx.Commit())
}
