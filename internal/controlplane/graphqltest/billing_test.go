package graphqltest

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/billing/billingtest"
	"github.com/oais/oais/billing/entstore"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

const reconciliationQuery = `query($p: String) { billingReconciliation(period: $p) {
	workspaceID stripeCustomerID ledgerMicros stripeMicros differenceMicros status periods unsentPeriods heldPeriods meterErrors } }`

// TestBillingReconciliationSiteAdminOnly: the reconciliation shows every
// workspace's money, so only a site admin reads it; an owner gets FORBIDDEN
// (not a list cut to their own workspace, and nothing of another's), and the
// admin's rows compare each workspace with Stripe's numbers.
func TestBillingReconciliationSiteAdminOnly(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		fake := billingtest.NewStripe(t, time.Now)
		s := start(t, dbURL, map[string]string{
			"OAIS_STRIPE_API_KEY": "sk_test_oais", "OAIS_STRIPE_API_BASE": fake.URL, "OAIS_STRIPE_WEBHOOK_SECRET": "whsec_test_oais",
		})
		w := newWorld(t, s) // A has 42 µ$ of usage
		now := time.Now().UTC()
		err := ledger.New(s.cp.Store).Ship(sys(t), []usage.Record{{
			RequestID: s.unique("req-b-"), WorkspaceID: w.wsB, KeyID: w.keyB, Model: "mock-gpt", Endpoint: "/v1/chat/completions",
			Status: 200, Source: usage.SourceUpstream, PromptTokens: 10, CompletionTokens: 5, CostMicros: 58, Time: now,
		}})
		if err != nil {
			t.Fatal(err)
		}
		// Bill both, as the worker would, through the fake Stripe.
		st := entstore.New(s.cp.Store)
		client, err := billing.NewStripe(billing.Config{APIKey: "sk_test_oais", APIBase: fake.URL, HTTPClient: &http.Client{Timeout: 10 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.ClosePeriods(sys(t), now.Truncate(time.Minute).Add(time.Minute), time.Minute); err != nil {
			t.Fatal(err)
		}
		worker, err := billing.NewWorker(billing.WorkerConfig{Ledger: st, Customers: st, Sender: client})
		if err != nil {
			t.Fatal(err)
		}
		if err := worker.Tick(sys(t), time.Now()); err != nil {
			t.Fatal(err)
		}
		vars := map[string]any{"p": now.Format("2006-01")}

		t.Run("site admin sees every workspace against Stripe", func(t *testing.T) {
			d := s.must(t, s.admin.Token, reconciliationQuery, vars)
			rows := list(t, d, "billingReconciliation")
			got := map[string]map[string]any{}
			for _, r := range rows {
				row := r.(map[string]any)
				got[row["workspaceID"].(string)] = row
			}
			for ws, micros := range map[string]float64{w.wsA: 42, w.wsB: 58} {
				row := got[ws]
				if row == nil || row["status"] != "OK" || row["ledgerMicros"] != micros || row["stripeMicros"] != micros || row["differenceMicros"] != 0.0 {
					t.Errorf("row of %s = %v, want OK at %v on both sides (rows %v)", ws, row, micros, rows)
				}
			}
		})
		t.Run("a bad period is bad input", func(t *testing.T) {
			s.wantCode(t, badInput, s.admin.Token, reconciliationQuery, map[string]any{"p": "June"})
		})
		for _, a := range []actor{asOwner, asAdmin, asViewer, asOutsider} {
			t.Run("refused to "+a.String(), func(t *testing.T) {
				r := s.wantCode(t, forbid, w.token(a), reconciliationQuery, vars)
				if r.Data["billingReconciliation"] != nil {
					t.Fatalf("%s got data with the refusal: %s", a, r.Body)
				}
				// Neither tenant's numbers, nor even its id, in the answer.
				for _, ws := range []string{w.wsA, w.wsB} {
					if strings.Contains(string(r.Body), ws) {
						t.Fatalf("%s's refusal names workspace %s: %s", a, ws, r.Body)
					}
				}
			})
		}
		t.Run("refused to the anonymous caller", func(t *testing.T) {
			s.wantCode(t, unauth, "", reconciliationQuery, vars)
		})
		t.Run("metrics expose the billing counters", func(t *testing.T) {
			resp, err := s.client.Get(s.url + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			for _, name := range []string{"oais_billing_meter_invalid_events_total 0", `oais_billing_periods_held_total{reason="meter_error"} 0`, "oais_billing_periods_reissued_total 0"} {
				if !strings.Contains(string(body), name) {
					t.Errorf("/metrics lacks %q", name)
				}
			}
		})
	})
}
