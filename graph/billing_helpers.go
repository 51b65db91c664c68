package graph

import (
	"context"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/graph/model"
	"github.com/oais/oais/internal/prices"
	"github.com/oais/oais/internal/pricing"
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
