package billing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	stripe "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// Names fixed by the contract (CONTRACT.md §5): one sum meter whose events
// carry the customer and the micro-dollar value under these payload keys.
const (
	// MeterEventName is the event name of the one Billing Meter.
	MeterEventName = "oais_usage_micros"
	// MeterValueKey is the payload key of an event's value (micro-dollars).
	MeterValueKey = "value"
	// MeterCustomerKey is the payload key of an event's Stripe customer.
	MeterCustomerKey = "stripe_customer_id"
)

const (
	meterDisplayName   = "oais usage (micro-dollars)"
	workspaceMetaKey   = "oais_workspace_id"
	maxIdempotencyKey  = 255 // Stripe's limit on an Idempotency-Key header
	defaultHTTPTimeout = 30 * time.Second
)

// Config configures a Stripe client. Only APIKey is required.
type Config struct {
	// APIKey is the secret key (OAIS_STRIPE_API_KEY). Never logged.
	APIKey string
	// APIBase is the API's base URL (OAIS_STRIPE_API_BASE), e.g. stripe-mock's
	// "http://127.0.0.1:12111"; empty means the real Stripe. A trailing "/v1"
	// is tolerated.
	APIBase string
	// HTTPClient sends the requests; nil means a client with a 30s timeout.
	HTTPClient *http.Client
	// PriceID is the metered Price attached to the meter, which CheckoutURL
	// subscribes a customer to. Empty: Checkout only collects a payment
	// method (setup mode).
	PriceID string
	// Logger receives stripe-go's own log lines at debug level; nil discards.
	Logger *slog.Logger
}

// MeterEvent is one workspace's cost for one interval, as sent to Stripe.
type MeterEvent struct {
	// Identifier is unique per (workspace, interval); see Identifier.
	Identifier string
	CustomerID string
	// ValueMicros is the cost in micro-dollars; sent as a decimal integer.
	ValueMicros int64
	// Timestamp places the event in the customer's billing period; zero
	// means now (Stripe's default).
	Timestamp time.Time
}

// Stripe is the billing client for the Stripe API (or stripe-mock). It is safe
// for concurrent use.
type Stripe struct {
	api     *client.API
	priceID string

	mu      sync.Mutex
	meterID string // the meter's id once found or made
}

var _ UsageReader = (*Stripe)(nil)

// NewStripe returns a Stripe client for cfg, or ErrNotConfigured without an
// API key.
func NewStripe(cfg Config) (*Stripe, error) {
	if cfg.APIKey == "" {
		return nil, ErrNotConfigured
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	bc := &stripe.BackendConfig{
		HTTPClient: httpClient,
		// The worker retries with its own backoff and the same identifier;
		// stripe-go's retries would sleep inside a call we cannot bound and
		// add idempotency keys of their own.
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     slogLeveled{cfg.Logger},
	}
	if cfg.APIBase != "" {
		base, err := apiBase(cfg.APIBase)
		if err != nil {
			return nil, err
		}
		bc.URL = stripe.String(base)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	api := client.New(cfg.APIKey, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
	return &Stripe{api: api, priceID: cfg.PriceID}, nil
}

func apiBase(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: OAIS_STRIPE_API_BASE must be an http(s) URL", ErrInvalid)
	}
	return strings.TrimSuffix(strings.TrimSuffix(u.String(), "/"), "/v1"), nil
}

// EnsureMeter returns the active Billing Meter whose event name is
// MeterEventName, creating it (sum aggregation, customer mapped from
// MeterCustomerKey, value from MeterValueKey) if none exists. A deactivated
// one is reactivated rather than duplicated, since Stripe keeps event names
// unique per account.
func (s *Stripe) EnsureMeter(ctx context.Context) (meterID, eventName string, err error) {
	m, err := s.findMeter(ctx)
	switch {
	case err == nil && m.Status == stripe.BillingMeterStatusInactive:
		p := &stripe.BillingMeterReactivateParams{}
		p.Context = ctx
		if _, err := s.api.BillingMeters.Reactivate(m.ID, p); err != nil {
			return "", "", fmt.Errorf("reactivate meter: %w", classify(err))
		}
		return s.remember(m.ID), MeterEventName, nil
	case err == nil:
		return s.remember(m.ID), MeterEventName, nil
	case !errors.Is(err, ErrNotFound):
		return "", "", err
	}

	p := &stripe.BillingMeterParams{
		DisplayName: stripe.String(meterDisplayName),
		EventName:   stripe.String(MeterEventName),
		DefaultAggregation: &stripe.BillingMeterDefaultAggregationParams{
			Formula: stripe.String(string(stripe.BillingMeterDefaultAggregationFormulaSum)),
		},
		CustomerMapping: &stripe.BillingMeterCustomerMappingParams{
			EventPayloadKey: stripe.String(MeterCustomerKey),
			Type:            stripe.String(string(stripe.BillingMeterCustomerMappingTypeByID)),
		},
		ValueSettings: &stripe.BillingMeterValueSettingsParams{
			EventPayloadKey: stripe.String(MeterValueKey),
		},
	}
	p.Context = ctx
	p.SetIdempotencyKey("oais-meter-" + MeterEventName)
	created, err := s.api.BillingMeters.New(p)
	if err != nil {
		return "", "", fmt.Errorf("create meter: %w", classify(err))
	}
	return s.remember(created.ID), MeterEventName, nil
}

// findMeter returns the meter whose event name is MeterEventName, active or
// not; ErrNotFound if the account has none.
func (s *Stripe) findMeter(ctx context.Context) (*stripe.BillingMeter, error) {
	list := &stripe.BillingMeterListParams{}
	list.Context = ctx
	it := s.api.BillingMeters.List(list)
	for it.Next() {
		if m := it.BillingMeter(); m.EventName == MeterEventName {
			return m, nil
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list meters: %w", classify(err))
	}
	return nil, fmt.Errorf("meter %s: %w", MeterEventName, ErrNotFound)
}

func (s *Stripe) remember(meterID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.meterID = meterID
	return meterID
}

// MeterUsage implements UsageReader with Stripe's meter event summaries
// (GET /v1/billing/meters/{id}/event_summaries, no grouping window: one
// summary for the range). Stripe aggregates asynchronously, so an event sent
// a moment ago may be missing; the worker only asks about events a day old.
// An account without the meter has counted nothing.
func (s *Stripe) MeterUsage(ctx context.Context, customerID string, from, to time.Time) (int64, error) {
	from, to = from.UTC(), to.UTC()
	switch {
	case customerID == "":
		return 0, fmt.Errorf("%w: empty customer id", ErrInvalid)
	case !from.Truncate(time.Minute).Equal(from) || !to.Truncate(time.Minute).Equal(to) || !to.After(from):
		// Stripe's own rule for start_time and end_time.
		return 0, fmt.Errorf("%w: usage range %v–%v is not whole minutes", ErrInvalid, from, to)
	}
	s.mu.Lock()
	meterID := s.meterID
	s.mu.Unlock()
	if meterID == "" {
		m, err := s.findMeter(ctx)
		if errors.Is(err, ErrNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		meterID = s.remember(m.ID)
	}
	p := &stripe.BillingMeterEventSummaryListParams{
		ID:        stripe.String(meterID),
		Customer:  stripe.String(customerID),
		StartTime: stripe.Int64(from.Unix()),
		EndTime:   stripe.Int64(to.Unix()),
	}
	p.Context = ctx
	it := s.api.BillingMeterEventSummaries.List(p)
	var sum int64
	for it.Next() {
		v := it.BillingMeterEventSummary().AggregatedValue
		n, ok := exactMicros(v)
		if !ok {
			return 0, fmt.Errorf("%w: meter event summary value %v for %s is not a whole number of micro-dollars", ErrPermanent, v, customerID)
		}
		sum += n
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("meter event summaries of %s: %w", customerID, classify(err))
	}
	return sum, nil
}

// exactMicros converts Stripe's aggregated_value, a JSON number that
// stripe-go decodes as float64, to integer micro-dollars. Sums of our
// integer values are exact below 2^53 µ$ (about $9 billion); anything
// fractional or larger did not come from oais and is refused rather than
// rounded.
func exactMicros(v float64) (int64, bool) {
	const limit = 1 << 53
	if math.IsNaN(v) || math.Trunc(v) != v || v > limit || v < -limit {
		return 0, false
	}
	return int64(v), true
}

// EnsureCustomer returns the Stripe customer of workspaceID, creating it if
// it does not exist. It looks for a customer whose metadata
// oais_workspace_id is workspaceID first, and creates with an
// Idempotency-Key derived from the workspace, so two racing callers (or a
// retry after a lost answer) within Stripe's 24 h key window get the same
// customer even before search has indexed it.
func (s *Stripe) EnsureCustomer(ctx context.Context, workspaceID, name, email string) (string, error) {
	if workspaceID == "" {
		return "", fmt.Errorf("%w: empty workspace id", ErrInvalid)
	}
	search := &stripe.CustomerSearchParams{}
	search.Context = ctx
	search.Query = fmt.Sprintf("metadata['%s']:'%s'", workspaceMetaKey, searchQuote(workspaceID))
	it := s.api.Customers.Search(search)
	for it.Next() {
		// Check again: the query language is not ours to trust with
		// arbitrary ids, and stripe-mock answers any query with a fixture.
		if c := it.Customer(); c.Metadata[workspaceMetaKey] == workspaceID && !c.Deleted {
			return c.ID, nil
		}
	}
	if err := it.Err(); err != nil {
		return "", fmt.Errorf("search customer: %w", classify(err))
	}

	p := &stripe.CustomerParams{}
	p.Context = ctx
	if name != "" {
		p.Name = stripe.String(name)
	}
	if email != "" {
		p.Email = stripe.String(email)
	}
	p.AddMetadata(workspaceMetaKey, workspaceID)
	p.SetIdempotencyKey(idempotencyKey("oais-customer-", workspaceID))
	c, err := s.api.Customers.New(p)
	if err != nil {
		return "", fmt.Errorf("create customer: %w", classify(err))
	}
	return c.ID, nil
}

// SendMeterEvent sends one meter event. Stripe answering that the identifier
// was already used counts as success: that event was sent before (by a
// retry whose answer was lost, or another replica). Errors wrap ErrPermanent
// or ErrRetryable.
func (s *Stripe) SendMeterEvent(ctx context.Context, ev MeterEvent) error {
	switch {
	case ev.Identifier == "" || len(ev.Identifier) > MaxIdentifierLen:
		return fmt.Errorf("%w: identifier %q", ErrInvalid, ev.Identifier)
	case ev.CustomerID == "":
		return fmt.Errorf("%w: empty customer id", ErrInvalid)
	case ev.ValueMicros < 0:
		return fmt.Errorf("%w: negative value %d", ErrInvalid, ev.ValueMicros)
	}
	p := &stripe.BillingMeterEventParams{
		EventName:  stripe.String(MeterEventName),
		Identifier: stripe.String(ev.Identifier),
		Payload: map[string]string{
			MeterCustomerKey: ev.CustomerID,
			MeterValueKey:    strconv.FormatInt(ev.ValueMicros, 10),
		},
	}
	if !ev.Timestamp.IsZero() {
		p.Timestamp = stripe.Int64(ev.Timestamp.Unix())
	}
	p.Context = ctx
	_, err := s.api.BillingMeterEvents.New(p)
	if err != nil && isDuplicateIdentifier(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("send meter event %s: %w", ev.Identifier, classify(err))
	}
	return nil
}

// CheckoutURL returns a Stripe Checkout page where the customer subscribes to
// the metered price (or, without Config.PriceID, saves a payment method);
// both outcomes come back to returnURL.
func (s *Stripe) CheckoutURL(ctx context.Context, customerID, returnURL string) (string, error) {
	p := &stripe.CheckoutSessionParams{
		Customer:   stripe.String(customerID),
		SuccessURL: stripe.String(returnURL),
		CancelURL:  stripe.String(returnURL),
	}
	if s.priceID != "" {
		p.Mode = stripe.String(string(stripe.CheckoutSessionModeSubscription))
		// A metered price takes no quantity: Stripe bills what the meter sums.
		p.LineItems = []*stripe.CheckoutSessionLineItemParams{{Price: stripe.String(s.priceID)}}
	} else {
		p.Mode = stripe.String(string(stripe.CheckoutSessionModeSetup))
		p.Currency = stripe.String(string(stripe.CurrencyUSD))
	}
	p.Context = ctx
	sess, err := s.api.CheckoutSessions.New(p)
	if err != nil {
		return "", fmt.Errorf("create checkout session: %w", classify(err))
	}
	return sess.URL, nil
}

// PortalURL returns a Stripe customer portal session where the customer
// manages payment methods and invoices, coming back to returnURL.
func (s *Stripe) PortalURL(ctx context.Context, customerID, returnURL string) (string, error) {
	p := &stripe.BillingPortalSessionParams{
		Customer:  stripe.String(customerID),
		ReturnURL: stripe.String(returnURL),
	}
	p.Context = ctx
	sess, err := s.api.BillingPortalSessions.New(p)
	if err != nil {
		return "", fmt.Errorf("create portal session: %w", classify(err))
	}
	return sess.URL, nil
}

// classify wraps err in ErrPermanent or ErrRetryable. A cancelled context is
// returned as it is: the caller stopped, nothing failed.
func classify(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se *stripe.Error
	if !errors.As(err, &se) {
		// No Stripe error body: the network, a proxy, or an unparsable 5xx.
		return fmt.Errorf("%w: %w", ErrRetryable, err)
	}
	switch code := se.HTTPStatusCode; {
	case code == http.StatusTooManyRequests, code >= 500, code == 0:
		return fmt.Errorf("%w: %w", ErrRetryable, err)
	case code == http.StatusConflict && se.Code == stripe.ErrorCodeIdempotencyKeyInUse:
		// Another request with the same key is still running: try later.
		return fmt.Errorf("%w: %w", ErrRetryable, err)
	default:
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
}

// isDuplicateIdentifier reports whether Stripe refused a meter event because
// its identifier was already used. Stripe documents the uniqueness rule but
// no error code for it, so the message is matched as well as the codes it
// may carry.
func isDuplicateIdentifier(err error) bool {
	var se *stripe.Error
	if !errors.As(err, &se) || se.HTTPStatusCode < 400 || se.HTTPStatusCode >= 500 || se.HTTPStatusCode == http.StatusTooManyRequests {
		return false
	}
	if se.Code == stripe.ErrorCodeResourceAlreadyExists {
		return true
	}
	msg := strings.ToLower(se.Msg)
	return strings.Contains(msg, "identifier") && (strings.Contains(msg, "already") || strings.Contains(msg, "duplicate"))
}

// idempotencyKey is prefix+id, or prefix+hash(id) when that would exceed
// Stripe's header limit.
func idempotencyKey(prefix, id string) string {
	if len(prefix)+len(id) <= maxIdempotencyKey {
		return prefix + id
	}
	sum := sha256.Sum256([]byte(id))
	return prefix + "sha256-" + hex.EncodeToString(sum[:])
}

// searchQuote escapes a value for a single-quoted Stripe search string.
func searchQuote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

// slogLeveled adapts slog to stripe-go's logger. Everything goes to debug:
// the worker logs outcomes itself, and stripe-go's lines carry no secrets
// but would double every error.
type slogLeveled struct{ l *slog.Logger }

func (s slogLeveled) logf(format string, v ...any) {
	if s.l != nil {
		s.l.Debug(fmt.Sprintf(format, v...), "component", "stripe-go")
	}
}

// Debugf implements stripe.LeveledLoggerInterface.
func (s slogLeveled) Debugf(format string, v ...any) { s.logf(format, v...) }

// Errorf implements stripe.LeveledLoggerInterface.
func (s slogLeveled) Errorf(format string, v ...any) { s.logf(format, v...) }

// Infof implements stripe.LeveledLoggerInterface.
func (s slogLeveled) Infof(format string, v ...any) { s.logf(format, v...) }

// Warnf implements stripe.LeveledLoggerInterface.
func (s slogLeveled) Warnf(format string, v ...any) { s.logf(format, v...) }
