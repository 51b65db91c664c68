package billing_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oais/oais/billing"
)

// FuzzWebhookHandler delivers arbitrary bodies to billing.WebhookHandler,
// signed with the right secret, the wrong one, or not at all: it never
// panics, answers only 200, 400 or 413, and an unsigned or wrongly signed
// delivery is 400 and changes no workspace's standing.
func FuzzWebhookHandler(f *testing.F) {
	for name := range fixtures {
		b, err := os.ReadFile(filepath.Join("testdata", "webhooks", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0), int64(0))
	}
	f.Add([]byte(`{"id":"evt_x","type":"invoice.payment_failed","data":{"object":{"customer":{"id":7}}}}`), uint8(0), int64(0))
	f.Add([]byte(`{"id":"evt_x","type":"invoice.paid","data":null}`), uint8(0), int64(0))
	f.Add([]byte(`{"id":"","type":"customer.subscription.deleted","created":-1,"data":{"object":{"customer":"cus_a"}}}`), uint8(0), int64(-1<<40))
	f.Add([]byte("not json"), uint8(1), int64(0))
	f.Add([]byte(`{}`), uint8(2), int64(0))
	f.Add([]byte(`{}`), uint8(0), int64(3600))

	f.Fuzz(func(t *testing.T, body []byte, how uint8, skew int64) {
		store := linkedStore(t)
		before := store.Standing("ws_a")
		h := billing.WebhookHandler(webhookSecret, store, billing.WebhookOptions{SuspendAfter: time.Hour})
		var req *http.Request
		unsigned := true
		switch how % 3 {
		case 0:
			skew %= 1 << 40 // keep the timestamp a valid time
			ts := time.Now().Add(time.Duration(skew) * time.Second)
			req = signed(t, body, webhookSecret, ts)
			// stripe-go refuses stale timestamps only (older than its 300 s
			// tolerance); a future one still needs the secret to be made.
			unsigned = skew < -300
		case 1:
			req = signed(t, body, "whsec_someone_else", time.Now())
		default:
			req = httptest.NewRequest(http.MethodPost, billing.WebhookPath, bytes.NewReader(body))
			req.Header.Set("Stripe-Signature", string(body[:min(len(body), 200)]))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if unsigned {
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("a delivery without a valid signature got %d", rec.Code)
			}
			if after := store.Standing("ws_a"); after != before {
				t.Fatalf("a delivery without a valid signature changed the standing: %+v -> %+v", before, after)
			}
		}
	})
}
