package billingtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/billing"
)

// DedupWindow is how long the fake remembers a meter event identifier: the
// "at least 24 hours" Stripe promises, and not a second more, which is the
// case exactly-once must survive.
const DedupWindow = 24 * time.Hour

// Stripe is a stateful fake of the part of the Stripe API that billing uses
// (meters, customers, meter events and meter event summaries), served over
// HTTP so the real client (billing.Stripe, stripe-go) talks to it. Unlike
// stripe-mock it keeps what it is sent: it counts each accepted meter event
// in its customer's total, refuses an identifier it saw within DedupWindow
// and forgets it after, checks timestamps as Stripe does, and answers event
// summaries from what it counted. Its clock is the test's.
type Stripe struct {
	// URL is the base URL to give billing.Config.APIBase.
	URL string

	mu        sync.Mutex
	now       func() time.Time
	meterID   string
	customers map[string]string // customer id → oais_workspace_id
	seen      map[string]time.Time
	events    []StripeEvent
	drop      map[string]bool
	nextID    int
}

// StripeEvent is one meter event the fake accepted.
type StripeEvent struct {
	Identifier string
	CustomerID string
	Value      int64
	Timestamp  time.Time
	Received   time.Time
	// Counted is false for an event the fake accepted but, like Stripe's
	// asynchronous validation, left out of every total (see Drop).
	Counted bool
}

// NewStripe starts a fake Stripe whose clock is now and stops it when the
// test ends.
func NewStripe(t testing.TB, now func() time.Time) *Stripe {
	t.Helper()
	f := &Stripe{now: now, customers: map[string]string{}, seen: map[string]time.Time{}, drop: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/billing/meters", f.listMeters)
	mux.HandleFunc("POST /v1/billing/meters", f.createMeter)
	mux.HandleFunc("GET /v1/billing/meters/{id}/event_summaries", f.summaries)
	mux.HandleFunc("POST /v1/billing/meter_events", f.meterEvent)
	mux.HandleFunc("GET /v1/customers/search", f.searchCustomers)
	mux.HandleFunc("POST /v1/customers", f.createCustomer)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Drop makes the fake accept the meter event with identifier but never
// count it, as Stripe does with an event that fails its asynchronous
// validation (and then reports in billing.meter.error_report_triggered).
func (f *Stripe) Drop(identifier string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drop[identifier] = true
}

// Inject counts an event that did not come from oais (another integration,
// a manual entry in the dashboard) for customerID at ts.
func (f *Stripe) Inject(customerID string, value int64, ts time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.events = append(f.events, StripeEvent{Identifier: fmt.Sprintf("injected-%d", f.nextID), CustomerID: customerID,
		Value: value, Timestamp: ts.UTC(), Received: f.now().UTC(), Counted: true})
}

// Total returns the sum of customerID's counted events: what Stripe would
// bill it.
func (f *Stripe) Total(customerID string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var sum int64
	for _, e := range f.events {
		if e.Counted && e.CustomerID == customerID {
			sum += e.Value
		}
	}
	return sum
}

// Events returns every event the fake accepted, in order.
func (f *Stripe) Events() []StripeEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]StripeEvent(nil), f.events...)
}

// Customers returns the customers the fake created: id → workspace.
func (f *Stripe) Customers() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.customers))
	for k, v := range f.customers {
		out[k] = v
	}
	return out
}

func (f *Stripe) meterEvent(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		stripeError(w, http.StatusBadRequest, "", "unparsable form")
		return
	}
	now := f.now().UTC()
	id := r.PostForm.Get("identifier")
	customer := r.PostForm.Get("payload[" + billing.MeterCustomerKey + "]")
	value, err := strconv.ParseInt(r.PostForm.Get("payload["+billing.MeterValueKey+"]"), 10, 64)
	if err != nil {
		stripeError(w, http.StatusBadRequest, "", "the meter event value must be a whole number")
		return
	}
	ts := now
	if s := r.PostForm.Get("timestamp"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			stripeError(w, http.StatusBadRequest, "", "bad timestamp")
			return
		}
		ts = time.Unix(sec, 0).UTC()
	}
	// Stripe's documented bounds: the past 35 calendar days, at most 5
	// minutes ahead.
	if ts.Before(now.Add(-35*24*time.Hour)) || ts.After(now.Add(5*time.Minute)) {
		stripeError(w, http.StatusBadRequest, "", "timestamp must be within the past 35 days and at most 5 minutes in the future")
		return
	}
	if r.PostForm.Get("event_name") != billing.MeterEventName || customer == "" || id == "" {
		stripeError(w, http.StatusBadRequest, "", "event_name, identifier and the customer are required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if at, ok := f.seen[id]; ok && now.Sub(at) < DedupWindow {
		stripeError(w, http.StatusBadRequest, "", fmt.Sprintf("An event with identifier %s already exists.", id))
		return
	}
	f.seen[id] = now
	f.events = append(f.events, StripeEvent{Identifier: id, CustomerID: customer, Value: value, Timestamp: ts, Received: now, Counted: !f.drop[id]})
	writeJSON(w, map[string]any{
		"object": "billing.meter_event", "created": now.Unix(), "event_name": billing.MeterEventName, "identifier": id,
		"livemode": false, "timestamp": ts.Unix(),
		"payload": map[string]string{billing.MeterCustomerKey: customer, billing.MeterValueKey: strconv.FormatInt(value, 10)},
	})
}

// summaries answers GET /v1/billing/meters/{id}/event_summaries with one
// summary of the customer's counted events stamped in [start_time,
// end_time), which Stripe requires on minute boundaries.
func (f *Stripe) summaries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, err1 := strconv.ParseInt(q.Get("start_time"), 10, 64)
	end, err2 := strconv.ParseInt(q.Get("end_time"), 10, 64)
	customer := q.Get("customer")
	switch {
	case err1 != nil || err2 != nil || customer == "":
		stripeError(w, http.StatusBadRequest, "parameter_missing", "customer, start_time and end_time are required")
		return
	case start%60 != 0 || end%60 != 0:
		stripeError(w, http.StatusBadRequest, "", "start_time and end_time must be aligned with minute boundaries")
		return
	case end <= start:
		stripeError(w, http.StatusBadRequest, "", "end_time must be after start_time")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.PathValue("id") != f.meterID || f.meterID == "" {
		stripeError(w, http.StatusNotFound, "resource_missing", "No such billing meter")
		return
	}
	var sum int64
	for _, e := range f.events {
		if e.Counted && e.CustomerID == customer && e.Timestamp.Unix() >= start && e.Timestamp.Unix() < end {
			sum += e.Value
		}
	}
	writeJSON(w, map[string]any{
		"object": "list", "has_more": false, "url": r.URL.Path,
		"data": []map[string]any{{
			"id": fmt.Sprintf("mtrusg_%s_%d_%d", customer, start, end), "object": "billing.meter_event_summary",
			"aggregated_value": float64(sum), "start_time": start, "end_time": end, "meter": f.meterID, "livemode": false,
		}},
	})
}

func (f *Stripe) listMeters(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data := []map[string]any{}
	if f.meterID != "" {
		data = append(data, f.meter())
	}
	writeJSON(w, map[string]any{"object": "list", "has_more": false, "url": r.URL.Path, "data": data})
}

func (f *Stripe) createMeter(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.meterID == "" {
		f.meterID = "mtr_fake"
	}
	writeJSON(w, f.meter())
}

func (f *Stripe) meter() map[string]any {
	return map[string]any{
		"id": f.meterID, "object": "billing.meter", "event_name": billing.MeterEventName, "status": "active",
		"default_aggregation": map[string]any{"formula": "sum"},
		"customer_mapping":    map[string]any{"event_payload_key": billing.MeterCustomerKey, "type": "by_id"},
		"value_settings":      map[string]any{"event_payload_key": billing.MeterValueKey},
	}
}

func (f *Stripe) searchCustomers(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// The only query billing makes is metadata['oais_workspace_id']:'<ws>'.
	q := r.URL.Query().Get("query")
	data := []map[string]any{}
	for id, ws := range f.customers {
		if strings.Contains(q, "'"+ws+"'") {
			data = append(data, customer(id, ws))
		}
	}
	writeJSON(w, map[string]any{"object": "search_result", "has_more": false, "url": r.URL.Path, "data": data})
}

func (f *Stripe) createCustomer(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		stripeError(w, http.StatusBadRequest, "", "unparsable form")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ws := r.PostForm.Get("metadata[oais_workspace_id]")
	for id, w2 := range f.customers {
		if w2 == ws && ws != "" { // what the Idempotency-Key gives the real client
			writeJSON(w, customer(id, ws))
			return
		}
	}
	f.nextID++
	id := fmt.Sprintf("cus_fake%d", f.nextID)
	f.customers[id] = ws
	writeJSON(w, customer(id, ws))
}

func customer(id, ws string) map[string]any {
	return map[string]any{"id": id, "object": "customer", "metadata": map[string]string{"oais_workspace_id": ws}}
}

func stripeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": "invalid_request_error", "code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
