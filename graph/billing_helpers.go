package graph

import (
	"context"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/graph/model"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/prices"
	"github.com/oais/oais/internal/pricing"
	"github.com/oais/oais/internal/viewer"
)

// Helpers of billing.resolvers.go, kept here because gqlgen moves unknown
// code to the end of a resolver file.

func priceRow(r prices.Row) *model.ModelPriceRow {
	return &model.ModelPriceRow{
		Model:                    r.Model,
		InputMicrosPerMTok:       int(r.InputMicrosPerMTok),
		CachedInputMicrosPerMTok: int(r.CachedInputMicrosPerMTok),
		OutputMicrosPerMTok:      int(r.OutputMicrosPerMTok),
		BuiltIn:                  r.BuiltIn,
	}
}

func priceOf(in model.ModelPriceInput) pricing.Price {
	return pricing.Price{
		InputMicrosPerMTok:       int64(in.InputMicrosPerMTok),
		CachedInputMicrosPerMTok: int64(in.CachedInputMicrosPerMTok),
		OutputMicrosPerMTok:      int64(in.OutputMicrosPerMTok),
	}
}

// txClient is the mutation's transaction (entgql.Transactioner), or the
// root client outside one (tests that call a resolver directly).
func (r *Resolver) txClient(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return r.Client
}

// siteAdmin lets only an operator of the whole installation through: the
// reconciliation shows every workspace's money, so no workspace role is
// enough.
func siteAdmin(ctx context.Context) error {
	if err := signedIn(ctx); err != nil {
		return err
	}
	if !viewer.FromContext(ctx).SiteAdmin {
		return keys.ErrForbidden
	}
	return nil
}

func reconciliationRow(r billing.ReconcileRow) *model.BillingReconciliationRow {
	row := &model.BillingReconciliationRow{
		WorkspaceID:   r.WorkspaceID,
		LedgerMicros:  int(r.LedgerMicros),
		Status:        model.BillingReconciliationStatus(r.Status),
		Periods:       r.Periods,
		UnsentPeriods: r.UnsentPeriods,
		HeldPeriods:   r.HeldPeriods,
		MeterErrors:   r.MeterErrors,
	}
	if r.CustomerID != "" {
		row.StripeCustomerID = &r.CustomerID
	}
	if r.StripeRead {
		stripe, diff := int(r.StripeMicros), int(r.DifferenceMicros)
		row.StripeMicros, row.DifferenceMicros = &stripe, &diff
	}
	return row
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
