package entstore

import (
	"context"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/internal/store"
)

// Links makes Stripe Checkout and customer-portal links for workspaces,
// creating the workspace's Stripe customer on first use. The caller checks
// that the viewer manages the workspace.
type Links struct {
	store  *Store
	stripe *billing.Stripe
}

// NewLinks returns Links over s and the Stripe client.
func NewLinks(s *store.Store, stripe *billing.Stripe) *Links {
	return &Links{store: New(s), stripe: stripe}
}

func (l *Links) customer(ctx context.Context, workspaceID string) (string, error) {
	c, err := l.store.Customer(ctx, workspaceID)
	if err != nil {
		return "", err
	}
	if c.StripeCustomerID != "" {
		return c.StripeCustomerID, nil
	}
	id, err := l.stripe.EnsureCustomer(ctx, workspaceID, c.Name, c.Email)
	if err != nil {
		return "", err
	}
	return id, l.store.SetCustomerID(ctx, workspaceID, id)
}

// CheckoutURL returns a Checkout link to add a payment method.
func (l *Links) CheckoutURL(ctx context.Context, workspaceID, returnURL string) (string, error) {
	id, err := l.customer(ctx, workspaceID)
	if err != nil {
		return "", err
	}
	return l.stripe.CheckoutURL(ctx, id, returnURL)
}

// PortalURL returns a customer-portal link (invoices, payment methods).
func (l *Links) PortalURL(ctx context.Context, workspaceID, returnURL string) (string, error) {
	id, err := l.customer(ctx, workspaceID)
	if err != nil {
		return "", err
	}
	return l.stripe.PortalURL(ctx, id, returnURL)
}
