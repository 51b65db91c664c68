package billing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oais/oais/billing"
)

// TestMeterErrorReportIsVerifiedAndRecorded attacks the meter-error webhook:
// Stripe tells us, after the fact, that events it acknowledged were invalid
// and not counted. A forged or replayed report must change nothing; a
// genuine one must be recorded where operators look (an error log line),
// not acknowledged and forgotten.
func TestMeterErrorReportIsVerifiedAndRecorded(t *testing.T) {
	for _, fixture := range []string{"billing.meter.error_report_triggered", "v1.billing.meter.error_report_triggered"} {
		t.Run(fixture, func(t *testing.T) { checkMeterErrorDelivery(t, fixture) })
	}
}

func checkMeterErrorDelivery(t *testing.T, fixture string) {
	payload := loadFixture(t, fixture)
	var ev struct{ ID string }
	_ = json.Unmarshal(payload, &ev)
	tests := []struct {
		name       string
		req        func(t *testing.T) *http.Request
		wantStatus int
		wantLogged bool
	}{
		{name: "wrong secret", wantStatus: 400, req: func(t *testing.T) *http.Request {
			return signed(t, payload, "whsec_other", time.Now())
		}},
		{name: "stale signature", wantStatus: 400, req: func(t *testing.T) *http.Request {
			return signed(t, payload, webhookSecret, time.Now().Add(-time.Hour))
		}},
		{name: "body changed after signing", wantStatus: 400, req: func(t *testing.T) *http.Request {
			r := signed(t, payload, webhookSecret, time.Now())
			forged := bytes.Replace(payload, []byte(`mtr_fake`), []byte(`mtr_evil`), 1)
			r2 := httptest.NewRequest(http.MethodPost, billing.WebhookPath, bytes.NewReader(forged))
			r2.Header.Set("Stripe-Signature", r.Header.Get("Stripe-Signature"))
			return r2
		}},
		{name: "genuine report", wantStatus: 200, wantLogged: true, req: func(t *testing.T) *http.Request {
			return signed(t, payload, webhookSecret, time.Now())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			store := linkedStore(t)
			// ws_a's period of 03:03 is the one the report's sample names.
			addUsage(t, store, "ws_a", 900, time.Date(2030, 1, 2, 3, 3, 30, 0, time.UTC))
			ps, err := store.ClosePeriods(context.Background(), time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC), interval)
			if err != nil || len(ps) != 1 || ps[0].EventIdentifier() != "oais-ws_a-20300102T030300.000000000Z" {
				t.Fatalf("period %+v, %v does not carry the fixture's identifier", ps, err)
			}
			if err := store.MarkSent(context.Background(), ps[0].ID, time.Now()); err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			metrics := billing.NewMetrics(reg)
			h := billing.WebhookHandler(webhookSecret, store, billing.WebhookOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: metrics})
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, tt.req(t))
			if rr.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", rr.Code, tt.wantStatus, rr.Body)
			}
			logged := false
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var l map[string]any
				if json.Unmarshal([]byte(line), &l) == nil && l["level"] == "ERROR" && l["stripe_event"] == ev.ID {
					logged = true
				}
			}
			if logged != tt.wantLogged {
				t.Fatalf("error line for the report logged = %v, want %v:\n%s", logged, tt.wantLogged, logs.String())
			}

			reports, _ := store.MeterErrors(context.Background(), fixtureCreated.Add(-time.Hour), fixtureCreated)
			held, _ := store.HeldPeriods(context.Background())
			counted := counterValue(t, reg, "oais_billing_meter_invalid_events_total")
			if !tt.wantLogged {
				if len(reports) != 0 || len(held) != 0 || counted != 0 {
					t.Fatalf("a delivery that is not Stripe's changed something: reports %+v, held %+v, counted %v", reports, held, counted)
				}
				return
			}
			want := map[string]string{ev.ID: "meter_event_customer_not_found=2"}
			if strings.HasPrefix(fixture, "v1.") {
				want[ev.ID] = "meter_event_no_customer_defined=1"
			}
			if len(reports) != 1 || reports[0].EventID != ev.ID || reports[0].MeterID != "mtr_fake" ||
				reports[0].Codes() != want[ev.ID] || len(reports[0].Identifiers()) != 1 ||
				!reports[0].ValidationEnd.Equal(fixtureCreated.Add(-5*time.Minute)) {
				t.Fatalf("recorded reports = %+v", reports)
			}
			if len(held) != 1 || held[0].ID != ps[0].ID || !strings.HasPrefix(held[0].Review, billing.HoldMeterError) {
				t.Fatalf("held = %+v, want the sampled period held for a meter error", held)
			}
			if counted != float64(reports[0].ErrorCount) || counted == 0 {
				t.Fatalf("oais_billing_meter_invalid_events_total = %v, want %d", counted, reports[0].ErrorCount)
			}
			// Stripe redelivers: nothing is recorded or counted twice.
			rr = httptest.NewRecorder()
			h.ServeHTTP(rr, tt.req(t))
			reports, _ = store.MeterErrors(context.Background(), fixtureCreated.Add(-time.Hour), fixtureCreated)
			if rr.Code != 200 || len(reports) != 1 || counterValue(t, reg, "oais_billing_meter_invalid_events_total") != counted {
				t.Fatalf("redelivery: status %d, %d reports", rr.Code, len(reports))
			}
		})
	}
}

// counterValue returns the value of the unlabelled counter name in reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
