package billing_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/internal/stripetest"
)

// testAPIKey is stripe-mock's: any sk_test_ key is accepted.
const testAPIKey = "sk_test_oais"

// newStripe returns a client for baseURL whose every request rec records.
func newStripe(t *testing.T, baseURL string, rec *stripetest.RecordingTransport) *billing.Stripe {
	t.Helper()
	s, err := billing.NewStripe(billing.Config{
		APIKey:     testAPIKey,
		APIBase:    baseURL,
		HTTPClient: &http.Client{Transport: rec, Timeout: 30 * time.Second},
	})
	if err != nil {
		t.Fatalf("NewStripe: %v", err)
	}
	return s
}

func TestStripeAgainstMock(t *testing.T) {
	ctx := context.Background()
	rec := &stripetest.RecordingTransport{}
	s := newStripe(t, stripetest.Start(t), rec)

	t.Run("ensure meter", func(t *testing.T) {
		id, name, err := s.EnsureMeter(ctx)
		if err != nil || id == "" || name != billing.MeterEventName {
			t.Fatalf("EnsureMeter = %q, %q, %v", id, name, err)
		}
		if lists := rec.Filter(http.MethodGet, "/v1/billing/meters"); len(lists) == 0 {
			t.Fatalf("EnsureMeter created without looking for an existing meter")
		}
		// stripe-mock's fixture meter has another event name, so one is created.
		created := rec.Filter(http.MethodPost, "/v1/billing/meters")
		if len(created) != 1 {
			t.Fatalf("meter creations = %d, want 1", len(created))
		}
		want := map[string]string{
			"event_name":                          billing.MeterEventName,
			"default_aggregation[formula]":        "sum",
			"customer_mapping[event_payload_key]": "stripe_customer_id",
			"customer_mapping[type]":              "by_id",
			"value_settings[event_payload_key]":   "value",
		}
		for k, v := range want {
			if got := created[0].Form.Get(k); got != v {
				t.Errorf("meter %s = %q, want %q", k, got, v)
			}
		}
	})

	t.Run("ensure customer", func(t *testing.T) {
		id, err := s.EnsureCustomer(ctx, "ws_1", "Acme", "billing@acme.test")
		if err != nil || id == "" {
			t.Fatalf("EnsureCustomer = %q, %v", id, err)
		}
		created := rec.Filter(http.MethodPost, "/v1/customers")
		if len(created) != 1 {
			t.Fatalf("customer creations = %d, want 1", len(created))
		}
		c := created[0]
		if c.Form.Get("metadata[oais_workspace_id]") != "ws_1" || c.Form.Get("email") != "billing@acme.test" || c.Form.Get("name") != "Acme" {
			t.Fatalf("customer form = %v", c.Form)
		}
		if c.IdempotencyKey != "oais-customer-ws_1" {
			t.Fatalf("Idempotency-Key = %q, want one derived from the workspace", c.IdempotencyKey)
		}
	})

	t.Run("send meter event", func(t *testing.T) {
		ts := time.Date(2030, 1, 2, 3, 4, 59, 0, time.UTC)
		ev := billing.MeterEvent{Identifier: "oais-ws_1-x", CustomerID: "cus_1", ValueMicros: 9_007_199_254_740_993, Timestamp: ts}
		if err := s.SendMeterEvent(ctx, ev); err != nil {
			t.Fatalf("SendMeterEvent: %v", err)
		}
		sent := rec.Filter(http.MethodPost, "/v1/billing/meter_events")
		f := sent[len(sent)-1].Form
		// Above 2^53: a float anywhere on the way would have changed it.
		if f.Get("payload[value]") != "9007199254740993" || f.Get("payload[stripe_customer_id]") != "cus_1" ||
			f.Get("identifier") != "oais-ws_1-x" || f.Get("event_name") != billing.MeterEventName || f.Get("timestamp") != fmt.Sprint(ts.Unix()) {
			t.Fatalf("meter event form = %v", f)
		}
	})

	t.Run("checkout and portal", func(t *testing.T) {
		checkout, err := s.CheckoutURL(ctx, "cus_1", "https://oais.test/billing")
		if err != nil || checkout == "" {
			t.Fatalf("CheckoutURL = %q, %v", checkout, err)
		}
		portal, err := s.PortalURL(ctx, "cus_1", "https://oais.test/billing")
		if err != nil || portal == "" {
			t.Fatalf("PortalURL = %q, %v", portal, err)
		}
	})

	t.Run("api key never recorded", func(t *testing.T) {
		for _, r := range rec.Requests() {
			if strings.Contains(fmt.Sprint(r), testAPIKey) {
				t.Fatalf("request record carries the API key: %+v", r)
			}
		}
	})
}

func TestSendMeterEventErrors(t *testing.T) {
	stripeError := func(status int, typ, code, msg string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"type":%q,"code":%q,"message":%q}}`, typ, code, msg)
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: nothing listens
		want    error            // nil: success
	}{
		{"duplicate identifier is success", stripeError(400, "invalid_request_error", "",
			"An event already exists with identifier oais-ws_1-x."), nil},
		{"resource already exists is success", stripeError(400, "invalid_request_error", "resource_already_exists", "exists"), nil},
		{"bad request is permanent", stripeError(400, "invalid_request_error", "parameter_missing", "Missing payload"), billing.ErrPermanent},
		{"unknown customer is permanent", stripeError(404, "invalid_request_error", "resource_missing", "No such customer"), billing.ErrPermanent},
		{"auth is permanent", stripeError(401, "invalid_request_error", "", "Invalid API Key provided"), billing.ErrPermanent},
		{"rate limit is retryable", stripeError(429, "invalid_request_error", "rate_limit", "Too many requests"), billing.ErrRetryable},
		{"key in use is retryable", stripeError(409, "idempotency_error", "idempotency_key_in_use", "in use"), billing.ErrRetryable},
		{"server error is retryable", stripeError(500, "api_error", "", "boom"), billing.ErrRetryable},
		{"non-JSON 502 is retryable", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}, billing.ErrRetryable},
		{"connection refused is retryable", nil, billing.ErrRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var base string
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				t.Cleanup(srv.Close)
				base = srv.URL
			} else {
				srv := httptest.NewServer(http.NotFoundHandler())
				base = srv.URL
				srv.Close() // a loopback port with nothing behind it
			}
			s := newStripe(t, base, &stripetest.RecordingTransport{})
			err := s.SendMeterEvent(context.Background(), billing.MeterEvent{Identifier: "oais-ws_1-x", CustomerID: "cus_1", ValueMicros: 1})
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("SendMeterEvent error = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), testAPIKey) {
				t.Fatalf("error carries the API key: %v", err)
			}
		})
	}
}

func TestNewStripeConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  billing.Config
		want error
	}{
		{"no key", billing.Config{}, billing.ErrNotConfigured},
		{"bad base", billing.Config{APIKey: testAPIKey, APIBase: "ftp://x"}, billing.ErrInvalid},
		{"base with /v1", billing.Config{APIKey: testAPIKey, APIBase: "http://127.0.0.1:1/v1"}, nil},
		{"real stripe", billing.Config{APIKey: testAPIKey}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := billing.NewStripe(tt.cfg); !errors.Is(err, tt.want) {
				t.Fatalf("NewStripe error = %v, want %v", err, tt.want)
			}
		})
	}
}
