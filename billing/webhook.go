package billing

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
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
	// RecordMeterErrors keeps report where the reconciliation reads it
	// (ReconcileStore.MeterErrors) and, in the same transaction, holds for
	// review (HoldMeterError) every period whose current event identifier
	// it names. It returns the ids of the periods it held.
	RecordMeterErrors(ctx context.Context, report MeterErrorReport) ([]string, error)
}

// MeterErrorReport is what a billing.meter.error_report_triggered event
// says: events Stripe acknowledged, then refused in its asynchronous
// validation, so they count for nothing. Stripe names a few of them
// (Samples); the reconciliation finds the rest by their missing quantity.
type MeterErrorReport struct {
	// EventID is the Stripe event that carried the report.
	EventID    string
	MeterID    string
	Summary    string
	ErrorCount int64
	Types      []MeterErrorType
	// ValidationStart and ValidationEnd bound when Stripe validated the
	// events (about when they were sent, not their timestamps).
	ValidationStart, ValidationEnd time.Time
}

// MeterErrorType is one error code of a report.
type MeterErrorType struct {
	Code    string
	Count   int64
	Samples []MeterErrorSample
}

// MeterErrorSample is one refused event Stripe shows.
type MeterErrorSample struct {
	Identifier string
	Message    string
}

// Identifiers returns the sampled events' identifiers.
func (r MeterErrorReport) Identifiers() []string {
	var out []string
	for _, t := range r.Types {
		for _, s := range t.Samples {
			if s.Identifier != "" {
				out = append(out, s.Identifier)
			}
		}
	}
	return out
}

// Codes returns the report's error codes with their counts, "code=n,…".
func (r MeterErrorReport) Codes() string {
	parts := make([]string, len(r.Types))
	for i, t := range r.Types {
		parts[i] = t.Code + "=" + strconv.FormatInt(t.Count, 10)
	}
	return strings.Join(parts, ",")
}

// WebhookOptions tunes WebhookHandler.
type WebhookOptions struct {
	// SuspendAfter is the grace between a failed payment and suspension;
	// 0 suspends at once.
	SuspendAfter time.Duration
	Logger       *slog.Logger
	// Metrics counts invalid meter events; nil counts nothing.
	Metrics *Metrics
}

// Stripe event types the handler acts on.
const (
	eventPaymentFailed       = "invoice.payment_failed"
	eventInvoicePaid         = "invoice.paid"
	eventPaymentSucceeded    = "invoice.payment_succeeded"
	eventSubscriptionDeleted = "customer.subscription.deleted"
	// eventMeterErrorReport is the snapshot event stripe-go v76 parses; the
	// thin v2 "v1."+eventMeterErrorReport is read by thinMeterError.
	eventMeterErrorReport = "billing.meter.error_report_triggered"
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
	return &webhookHandler{secret: secret, accounts: accounts, grace: opts.SuspendAfter, metrics: opts.Metrics, log: log.With("component", "billing-webhook")}
}

type webhookHandler struct {
	secret   string
	accounts Accounts
	grace    time.Duration
	metrics  *Metrics
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
		thin, ok := h.thinMeterError(body, r.Header.Get("Stripe-Signature"))
		if !ok {
			h.log.Warn("stripe webhook rejected", "err", err, "remote", r.RemoteAddr)
			http.Error(w, "invalid signature", http.StatusBadRequest)
			return
		}
		event = thin
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
	case eventPaymentFailed, eventInvoicePaid, eventPaymentSucceeded, eventSubscriptionDeleted, eventMeterErrorReport:
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
	if event.Type == eventMeterErrorReport {
		return h.meterErrors(ctx, event)
	}
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

// thinMeterError reads a signed v2 "thin" event of type
// v1.billing.meter.error_report_triggered, which stripe-go v76 cannot parse
// (its times are strings), as the snapshot event the handler knows. A thin
// notification carries no report, only the meter: it is still recorded, so
// the alert is not lost; its details are in the Stripe dashboard.
func (h *webhookHandler) thinMeterError(body []byte, signature string) (stripe.Event, bool) {
	if webhook.ValidatePayloadWithTolerance(body, signature, h.secret, webhook.DefaultTolerance) != nil {
		return stripe.Event{}, false
	}
	var thin struct {
		ID            string          `json:"id"`
		Object        string          `json:"object"`
		Type          string          `json:"type"`
		Data          json.RawMessage `json:"data"`
		RelatedObject struct {
			ID string `json:"id"`
		} `json:"related_object"`
	}
	if json.Unmarshal(body, &thin) != nil || thin.Object != "v2.core.event" || thin.Type != "v1."+eventMeterErrorReport || thin.ID == "" {
		return stripe.Event{}, false
	}
	data := map[string]any{}
	_ = json.Unmarshal(thin.Data, &data)
	if _, ok := data["meter"]; !ok {
		data["meter"] = thin.RelatedObject.ID
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return stripe.Event{}, false
	}
	return stripe.Event{ID: thin.ID, Type: eventMeterErrorReport, Data: &stripe.EventData{Raw: raw}}, true
}

// meterErrors records a meter error report, holds the periods it names, and
// says so at error level: money Stripe will not bill.
func (h *webhookHandler) meterErrors(ctx context.Context, event stripe.Event) error {
	report, err := parseMeterErrorReport(event)
	if err != nil {
		// Signed by Stripe but not the shape we know: keep what arrived.
		h.log.Warn("stripe meter error report not understood; recorded without details", "stripe_event", event.ID, "err", err)
	}
	held, err := h.accounts.RecordMeterErrors(ctx, report)
	if err != nil {
		return fmt.Errorf("record meter error report: %w", err)
	}
	h.metrics.invalidEvents(report.ErrorCount)
	h.log.Error("stripe refused meter events as invalid: they are not billed",
		"stripe_event", event.ID, "meter", report.MeterID, "error_count", report.ErrorCount, "codes", report.Codes(),
		"summary", report.Summary, "held_periods", held,
		"validation_start", report.ValidationStart, "validation_end", report.ValidationEnd)
	return nil
}

// parseMeterErrorReport reads the billing.meter_error_report object of a
// snapshot event. It also accepts the field names of the v2 event's data
// (developer_message_summary, RFC 3339 times), in case Stripe delivers
// that shape.
func parseMeterErrorReport(event stripe.Event) (MeterErrorReport, error) {
	report := MeterErrorReport{EventID: event.ID}
	if event.Data == nil {
		return report, errors.New("no data")
	}
	var raw struct {
		Meter         string `json:"meter"`
		RelatedObject struct {
			ID string `json:"id"`
		} `json:"related_object"`
		Summary          string   `json:"summary"`
		DeveloperSummary string   `json:"developer_message_summary"`
		ValidationStart  flexTime `json:"validation_start"`
		ValidationEnd    flexTime `json:"validation_end"`
		Reason           struct {
			ErrorCount int64 `json:"error_count"`
			ErrorTypes []struct {
				Code         string `json:"code"`
				ErrorCount   int64  `json:"error_count"`
				SampleErrors []struct {
					ErrorMessage string `json:"error_message"`
					Request      struct {
						Identifier string `json:"identifier"`
					} `json:"request"`
				} `json:"sample_errors"`
			} `json:"error_types"`
		} `json:"reason"`
	}
	if err := json.Unmarshal(event.Data.Raw, &raw); err != nil {
		return report, err
	}
	report.MeterID = cmp.Or(raw.Meter, raw.RelatedObject.ID)
	report.Summary = cmp.Or(raw.Summary, raw.DeveloperSummary)
	report.ErrorCount = max(raw.Reason.ErrorCount, 0)
	report.ValidationStart, report.ValidationEnd = time.Time(raw.ValidationStart), time.Time(raw.ValidationEnd)
	for _, et := range raw.Reason.ErrorTypes {
		t := MeterErrorType{Code: et.Code, Count: et.ErrorCount}
		for _, se := range et.SampleErrors {
			t.Samples = append(t.Samples, MeterErrorSample{Identifier: se.Request.Identifier, Message: se.ErrorMessage})
		}
		report.Types = append(report.Types, t)
	}
	return report, nil
}

// flexTime is a time Stripe sends as Unix seconds (v1) or RFC 3339 (v2).
type flexTime time.Time

func (t *flexTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var sec int64
	if err := json.Unmarshal(b, &sec); err == nil {
		*t = flexTime(time.Unix(sec, 0).UTC())
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return err
	}
	*t = flexTime(v.UTC())
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
