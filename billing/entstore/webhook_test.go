package entstore_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/billing/entstore"
	"github.com/oais/oais/ent/billingaccount"
	"github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
)

const webhookSecret = "whsec_test_oais"

// fixture returns billing's webhook fixture name (customer cus_a).
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "webhooks", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signed is a delivery of payload signed with secret now.
func signed(t *testing.T, payload []byte, secret string) *http.Request {
	t.Helper()
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: time.Now()})
	req := httptest.NewRequest(http.MethodPost, billing.WebhookPath, bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", sp.Header)
	return req
}

func TestWebhookOnStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := entstore.New(s)
		a := newWorkspace(t, s, "a", "a@example.test")
		b := newWorkspace(t, s, "b", "b@example.test")
		if err := l.SetCustomerID(ctx, a, "cus_a"); err != nil {
			t.Fatal(err)
		}
		if err := l.SetCustomerID(ctx, b, "cus_b"); err != nil {
			t.Fatal(err)
		}
		h := entstore.Webhook(s, webhookSecret, 0, nil, nil)

		steps := []struct {
			name        string
			req         func() *http.Request
			wantCode    int
			wantStatus  workspace.Status
			wantAccount billingaccount.Standing
			wantMoved   bool // the workspace's updated_at changes
		}{
			{"bad signature changes nothing", func() *http.Request {
				r := signed(t, fixture(t, "invoice.payment_failed"), webhookSecret)
				r.Header.Set("Stripe-Signature", strings.Replace(r.Header.Get("Stripe-Signature"), "v1=", "v1=00", 1))
				return r
			}, http.StatusBadRequest, workspace.StatusACTIVE, billingaccount.StandingACTIVE, false},
			{"wrong secret changes nothing", func() *http.Request {
				return signed(t, fixture(t, "invoice.payment_failed"), "whsec_other")
			}, http.StatusBadRequest, workspace.StatusACTIVE, billingaccount.StandingACTIVE, false},
			{"payment failed suspends at once", func() *http.Request {
				return signed(t, fixture(t, "invoice.payment_failed"), webhookSecret)
			}, http.StatusOK, workspace.StatusSUSPENDED, billingaccount.StandingSUSPENDED, true},
			{"paid invoice reactivates", func() *http.Request {
				return signed(t, fixture(t, "invoice.paid"), webhookSecret)
			}, http.StatusOK, workspace.StatusACTIVE, billingaccount.StandingACTIVE, true},
			// Created at the same second as invoice.paid, so applying it
			// again would suspend: only the event id stops it.
			{"redelivered failure is applied once", func() *http.Request {
				return signed(t, fixture(t, "invoice.payment_failed"), webhookSecret)
			}, http.StatusOK, workspace.StatusACTIVE, billingaccount.StandingACTIVE, false},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				before, err := s.Ent.Workspace.Get(sys(), a)
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond) // so that a write moves updated_at on any clock
				rr := httptest.NewRecorder()
				h.ServeHTTP(rr, step.req())
				if rr.Code != step.wantCode {
					t.Fatalf("status = %d, want %d (%s)", rr.Code, step.wantCode, rr.Body)
				}
				after, err := s.Ent.Workspace.Get(sys(), a)
				if err != nil {
					t.Fatal(err)
				}
				if after.Status != step.wantStatus {
					t.Fatalf("workspace status = %v, want %v", after.Status, step.wantStatus)
				}
				if moved := !after.UpdatedAt.Equal(before.UpdatedAt); moved != step.wantMoved {
					t.Fatalf("updated_at moved = %v (%v → %v), want %v", moved, before.UpdatedAt, after.UpdatedAt, step.wantMoved)
				}
				acct, err := s.Ent.BillingAccount.Query().Where(billingaccount.WorkspaceID(a)).Only(sys())
				if err != nil || acct.Standing != step.wantAccount {
					t.Fatalf("account standing = %v (%v), want %v", acct.Standing, err, step.wantAccount)
				}
				if other, _ := s.Ent.Workspace.Get(sys(), b); other.Status != workspace.StatusACTIVE {
					t.Fatalf("workspace B is %v after A's event", other.Status)
				}
			})
		}

		c := s.Ent
		for action, want := range map[string]int{audit.WorkspaceSuspend: 1, audit.WorkspaceResume: 1} {
			if got := auditCount(t, c, a, action); got != want {
				t.Errorf("%s lines = %d, want %d", action, got, want)
			}
		}
		// One for the customer link, one per applied event.
		if got := auditCount(t, c, a, audit.BillingEvent); got != 3 {
			t.Errorf("billing.event lines = %d, want 3", got)
		}
		if got := auditCount(t, c, b, audit.WorkspaceSuspend); got != 0 {
			t.Errorf("B has %d suspension lines", got)
		}
	})
}

func TestWebhookGraceThenSweep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		l := entstore.New(s)
		a := newWorkspace(t, s, "a", "")
		if err := l.SetCustomerID(ctx, a, "cus_a"); err != nil {
			t.Fatal(err)
		}
		h := entstore.Webhook(s, webhookSecret, time.Hour, nil, nil)
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, signed(t, fixture(t, "invoice.payment_failed"), webhookSecret))
		if rr.Code != http.StatusOK {
			t.Fatalf("status = %d (%s)", rr.Code, rr.Body)
		}
		ws, _ := s.Ent.Workspace.Get(sys(), a)
		acct, _ := s.Ent.BillingAccount.Query().Where(billingaccount.WorkspaceID(a)).Only(sys())
		if ws.Status != workspace.StatusACTIVE || acct.Standing != billingaccount.StandingPAST_DUE || acct.PastDueSince == nil {
			t.Fatalf("within grace: workspace %v, account %v since %v; want ACTIVE, PAST_DUE", ws.Status, acct.Standing, acct.PastDueSince)
		}
		// The fixtures were created at 2030-01-02T03:04:05Z.
		created := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		if n, err := l.SuspendOverdue(ctx, created.Add(59*time.Minute)); err != nil || n != 0 {
			t.Fatalf("sweep before the deadline = %d, %v", n, err)
		}
		if n, err := l.SuspendOverdue(ctx, created.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("sweep at the deadline = %d, %v", n, err)
		}
		if ws, _ := s.Ent.Workspace.Get(sys(), a); ws.Status != workspace.StatusSUSPENDED || ws.SuspendedReason != billing.ReasonPaymentFailed {
			t.Fatalf("after the grace: workspace %v %q", ws.Status, ws.SuspendedReason)
		}
	})
}
