package controlplane

import (
	"context"
	"fmt"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/billing/entstore"
	"github.com/oais/oais/internal/store"
)

// Billing is the control plane's billing over its database and Stripe, for
// the operator commands (`controlplane billing …`) that run beside a
// serving control plane. Close it.
type Billing struct {
	// Reconciler compares the ledger with Stripe (UNCHECKED without it).
	Reconciler billing.Reconciler
	// Ledger resolves held periods.
	Ledger *entstore.Store
	// StripeConfigured says whether OAIS_STRIPE_API_KEY is set.
	StripeConfigured bool
	st               *store.Store
}

// OpenBilling opens cfg's database and Stripe. It applies no migration: a
// database behind the binary is an error that names the command to run.
func OpenBilling(ctx context.Context, cfg Config) (*Billing, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("OAIS_DATABASE_URL: %w", err)
	}
	ms, err := st.MigrationStatus(ctx)
	if err == nil && len(ms.Pending) > 0 {
		err = fmt.Errorf("%d migration(s) pending: run `controlplane migrate up` first", len(ms.Pending))
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("OAIS_DATABASE_URL: %w", err)
	}
	var stripe *billing.Stripe
	if cfg.StripeAPIKey != "" {
		stripe, err = billing.NewStripe(billing.Config{APIKey: cfg.StripeAPIKey.Reveal(), APIBase: cfg.StripeAPIBase})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("OAIS_STRIPE_API_KEY: %w", err)
		}
	}
	return &Billing{Reconciler: entstore.Reconciler(st, stripe), Ledger: entstore.New(st), StripeConfigured: stripe != nil, st: st}, nil
}

// Close releases the database.
func (b *Billing) Close() error { return b.st.Close() }
