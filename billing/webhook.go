package billing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	stripe "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// WebhookPath is where Stripe is told to deliver events.
const WebhookPath = "/webhooks/stripe"

// MaxWebhookBytes bounds a webhook body. Stripe's events are a few KiB; an
// invoice with many lines stays well below this.
const MaxWebhookBytes = 1 << 20

// Status is a workspace's billing standing.
type Status string

// Statuses. The zero Status means StatusActive.
const (
	// StatusActive: billing is in order.
	StatusActive Status = "active"
	// StatusPastDue: a payment failed; the workspace keeps working until
	// Standing.SuspendAt.
	StatusPastDue Status = "past_due"
	// StatusSuspended: the gateway refuses the workspace's requests
	// (workspace_suspended).
	StatusSuspended Status = "suspended"
)

// Reasons recorded in Standing.Reason.
const (
	// ReasonPaymentFailed: an invoice payment failed.
	ReasonPaymentFailed = "payment_failed"
	// ReasonSubscriptionDeleted: the subscription was cancelled; a late
	// paid invoice does not lift it (an operator, or a new subscription
	// flow, must).
	ReasonSubscriptionDeleted = "subscription_deleted"
)

// Standing is a workspace's billing state as the webhooks left it.
type Standing struct {
	Status Status
	// Reason says which event set a non-active Status.
	Reason string
	// SuspendAt is when a past-due workspace counts as suspended (zero:
	// not scheduled). Stored rather than acted on by a timer, so nothing
	// needs to run at that moment.
	SuspendAt time.Time
	// EventTime is the creation time of the Stripe event that last changed
	// the standing. Stripe does not deliver in order; an older event never
	// overrides a newer one.
	EventTime time.Time
}

// Suspended reports whether the workspace must be refused at now.
func (s Standing) Suspended(now time.Time) bool {
	switch s.Status {
	case StatusSuspended:
		return true
	case StatusPastDue:
		return !s.SuspendAt.IsZero() && !now.Before(s.SuspendAt)
	}
	return false
}

// Accounts is what the webhook handler needs from the store.
type Accounts interface {
	// RecordEvent records a Stripe event id and reports whether it was new.
	RecordEvent(ctx context.Context, eventID string) (firstTime bool, err error)
	// ForgetEvent removes a recorded event id, so that Stripe's redelivery
	// of an event the handler failed to apply is applied then.
	ForgetEvent(ctx context.Context, eventID string) error
	// WorkspaceByCustomer returns the workspace whose Stripe customer is
	// customerID; ErrNotFound if none.
	WorkspaceByCustomer(ctx context.Context, customerID string) (string, error)
	// UpdateStanding replaces the workspace's Standing with update(current)
	// atomically (in a transaction, the row locked), so that two events for
	// one workspace delivered together cannot lose one another.
	UpdateStanding(ctx context.Context, workspaceID string, update func(Standing) Standing) error
}

// WebhookOptions tunes WebhookHandler.
type WebhookOptions struct {
	// SuspendAfter is the grace between a failed payment and suspension;
	// 0 suspends at once.
	SuspendAfter time.Duration
	Logger       *slog.Logger
}

// Stripe event types the handler acts on.
const (
	eventPaymentFailed       = "invoice.payment_failed"
	eventInvoicePaid         = "invoice.paid"
	eventPaymentSucceeded    = "invoice.payment_succeeded"
	eventSubscriptionDeleted = "customer.subscription.deleted"
)

// WebhookHandler returns the handler for POST WebhookPath. It verifies the
// Stripe-Signature with secret (default tolerance, API version not checked:
// the account's version may differ from stripe-go's), applies each event at
// most once (by event id), and answers 400 to a bad signature without
// touching anything. An empty secret makes it refuse everything, since an
// empty HMAC key is one any sender can use.
func WebhookHandler(secret string, accounts Accounts, opts WebhookOptions) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &webhookHandler{secret: secret, accounts: accounts, grace: opts.SuspendAfter, log: log.With("component", "billing-webhook")}
}

type webhookHandler struct {
	secret   string
	accounts Accounts
	grace    time.Duration
	log      *slog.Logger
}

func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.secret == "" {
		http.Error(w, "stripe webhooks not configured", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	event, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), h.secret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		h.log.Warn("stripe webhook rejected", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "invalid signature", http.StatusBadRequest)
		return
	}
	if err := h.handle(r.Context(), event); err != nil {
		h.log.Error("stripe webhook failed", "event", event.ID, "type", event.Type, "err", err)
		// 500 makes Stripe deliver it again.
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"received":true}`)
}

func (h *webhookHandler) handle(ctx context.Context, event stripe.Event) error {
	switch event.Type {
	case eventPaymentFailed, eventInvoicePaid, eventPaymentSucceeded, eventSubscriptionDeleted:
	default:
		return nil // not ours to act on; recording it would only grow the table
	}
	first, err := h.accounts.RecordEvent(ctx, event.ID)
	if err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	if !first {
		h.log.Debug("stripe webhook already applied", "event", event.ID)
		return nil
	}
	if err := h.apply(ctx, event); err != nil {
		if ferr := h.accounts.ForgetEvent(ctx, event.ID); ferr != nil {
			err = errors.Join(err, fmt.Errorf("forget event: %w", ferr))
		}
		return err
	}
	return nil
}

func (h *webhookHandler) apply(ctx context.Context, event stripe.Event) error {
	customerID := eventCustomer(event)
	if customerID == "" {
		h.log.Warn("stripe webhook without customer", "event", event.ID, "type", event.Type)
		return nil
	}
	workspaceID, err := h.accounts.WorkspaceByCustomer(ctx, customerID)
	if errors.Is(err, ErrNotFound) {
		// Another product on the same Stripe account; retrying won't help.
		h.log.Info("stripe webhook for unknown customer", "event", event.ID, "type", event.Type)
		return nil
	}
	if err != nil {
		return fmt.Errorf("workspace of customer: %w", err)
	}
	created := time.Unix(event.Created, 0).UTC()
	var next Standing
	err = h.accounts.UpdateStanding(ctx, workspaceID, func(cur Standing) Standing {
		next = Transition(cur, string(event.Type), created, h.grace)
		return next
	})
	if err != nil {
		return fmt.Errorf("update standing of %s: %w", workspaceID, err)
	}
	h.log.Info("workspace billing standing", "workspace", workspaceID, "event", event.ID, "type", event.Type, "status", next.Status)
	return nil
}

// Transition returns the Standing after a Stripe event of eventType created
// at created, with grace between a failed payment and suspension. Events
// older than the one that set cur change nothing; repeated payment failures
// keep the first suspension time, so dunning retries cannot extend the
// grace; a paid invoice does not revive a cancelled subscription.
func Transition(cur Standing, eventType string, created time.Time, grace time.Duration) Standing {
	if created.Before(cur.EventTime) {
		return cur
	}
	switch eventType {
	case eventPaymentFailed:
		switch {
		case cur.Status == StatusSuspended:
			return cur
		case cur.Status == StatusPastDue:
			cur.EventTime = created
			return cur
		case grace <= 0:
			return Standing{Status: StatusSuspended, Reason: ReasonPaymentFailed, EventTime: created}
		default:
			return Standing{Status: StatusPastDue, Reason: ReasonPaymentFailed, SuspendAt: created.Add(grace), EventTime: created}
		}
	case eventInvoicePaid, eventPaymentSucceeded:
		if cur.Reason == ReasonSubscriptionDeleted {
			return cur
		}
		return Standing{Status: StatusActive, EventTime: created}
	case eventSubscriptionDeleted:
		return Standing{Status: StatusSuspended, Reason: ReasonSubscriptionDeleted, EventTime: created}
	}
	return cur
}

// eventCustomer returns the customer id of an invoice or subscription event,
// whether Stripe sent it as an id or as an expanded object.
func eventCustomer(event stripe.Event) string {
	if event.Data == nil {
		return ""
	}
	switch c := event.Data.Object["customer"].(type) {
	case string:
		return c
	case map[string]any:
		id, _ := c["id"].(string)
		return id
	}
	return ""
}
