package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/billing"
	"github.com/oais/oais/billing/billingtest"
	"github.com/oais/oais/billing/entstore"
	"github.com/oais/oais/ent/usageevent"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// cli runs the controlplane command with args in env and returns its exit
// status and outputs.
func cli(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestBillingReconcileCommand runs `controlplane billing reconcile` and
// `resolve` against a database whose ledger a fake Stripe disagrees with:
// one workspace's event was dropped by Stripe, another's customer has usage
// oais never sent, a third agrees.
func TestBillingReconcileCommand(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := viewer.SystemContext(context.Background())
		now := time.Now().UTC()
		fake := billingtest.NewStripe(t, time.Now)
		env := map[string]string{
			"OAIS_DATABASE_URL":          s.URL.String(),
			"OAIS_STRIPE_API_KEY":        "sk_test_oais",
			"OAIS_STRIPE_API_BASE":       fake.URL,
			"OAIS_STRIPE_WEBHOOK_SECRET": "whsec_test_oais",
			"OAIS_LOG_LEVEL":             "error",
		}
		var ws []string
		for i, cost := range []int64{100, 200, 300} {
			w, err := s.Ent.Workspace.Create().SetName(fmt.Sprint("w", i)).SetSlug(fmt.Sprintf("w%d-%d", i, now.UnixNano())).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ws = append(ws, w.ID)
			// Straight into the ledger's table: billing reads nothing else.
			err = s.Ent.UsageEvent.Create().SetRequestID(fmt.Sprintf("req-%d-%d", i, now.UnixNano())).SetWorkspaceID(w.ID).
				SetAPIKeyID("key").SetModel("mock-gpt").SetEndpoint("/v1/chat/completions").SetStatus(200).
				SetSource(usageevent.SourceUpstream).SetCostMicros(cost).SetOccurredAt(now.Add(-time.Minute)).SetIngestedAt(now).Exec(ctx)
			if err != nil {
				t.Fatal(err)
			}
		}
		l := entstore.New(s)
		client, err := billing.NewStripe(billing.Config{APIKey: "sk_test_oais", APIBase: fake.URL, HTTPClient: &http.Client{Timeout: 10 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		w, err := billing.NewWorker(billing.WorkerConfig{Ledger: l, Customers: l, Sender: client})
		if err != nil {
			t.Fatal(err)
		}
		// Close the interval first to learn the dropped identifier.
		next := now.Truncate(time.Minute).Add(time.Minute)
		closed, err := l.ClosePeriods(ctx, next, time.Minute)
		if err != nil || len(closed) != 3 {
			t.Fatalf("ClosePeriods = %+v, %v", closed, err)
		}
		for _, p := range closed {
			if p.WorkspaceID == ws[0] {
				fake.Drop(p.Identifier)
			}
		}
		if err := w.Tick(ctx, now); err != nil {
			t.Fatalf("Tick: %v", err)
		}
		b, _ := l.Customer(ctx, ws[1])
		fake.Inject(b.StripeCustomerID, 42, now.Truncate(time.Minute))
		from := next.Add(-time.Hour).Format(time.RFC3339)
		to := next.Add(time.Hour).Format(time.RFC3339)

		t.Run("help explains the statuses and exit codes", func(t *testing.T) {
			code, out, _ := cli(t, env, "billing", "reconcile", "--help")
			for _, want := range []string{"MISSING", "EXTRA", "PENDING", "REVIEW", "Exit status", "--period YYYY-MM", "resolve PERIOD_ID"} {
				if code != 0 || !strings.Contains(out, want) {
					t.Fatalf("billing reconcile --help = %d, output lacks %q:\n%s", code, want, out)
				}
			}
		})
		t.Run("a mismatch exits 1 and shows both", func(t *testing.T) {
			code, out, errOut := cli(t, env, "billing", "reconcile", "--from", from, "--to", to)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
			}
			for i, want := range []string{`100\s+0\s+-100\s+MISSING`, `200\s+242\s+\+42\s+EXTRA`, `300\s+300\s+\+0\s+OK`} {
				if !regexp.MustCompile(ws[i] + `\s+cus_\w+\s+` + want).MatchString(out) {
					t.Errorf("no row matching %q for %s in:\n%s", want, ws[i], out)
				}
			}
			if !strings.Contains(out, "mismatches: MISSING 1, EXTRA 1") {
				t.Errorf("summary line missing:\n%s", out)
			}
		})
		t.Run("resend of a missing period settles it", func(t *testing.T) {
			var id string
			for _, p := range closed {
				if p.WorkspaceID == ws[0] {
					id = p.ID
				}
			}
			if code, _, errOut := cli(t, env, "billing", "resolve", id); code != 2 {
				t.Fatalf("resolve without a decision = %d, want 2 (%s)", code, errOut)
			}
			code, out, errOut := cli(t, env, "billing", "resolve", id, "--resend")
			if code != 0 || !strings.Contains(out, billing.ReissueIdentifier(id, 1)) {
				t.Fatalf("resolve --resend = %d: %s %s", code, out, errOut)
			}
			if err := w.Tick(ctx, time.Now()); err != nil {
				t.Fatalf("Tick: %v", err)
			}
			code, out, _ = cli(t, env, "billing", "reconcile", "--from", from, "--to", to)
			if code != 1 || !regexp.MustCompile(ws[0]+`\s+cus_\w+\s+100\s+100\s+\+0\s+OK`).MatchString(out) {
				t.Fatalf("after the resend exit %d (EXTRA remains, so 1), want %s OK:\n%s", code, ws[0], out)
			}
		})
		t.Run("bad usage and missing stripe exit 2", func(t *testing.T) {
			for _, args := range [][]string{
				{"billing", "reconcile", "--from", from},
				{"billing", "reconcile", "--period", "June"},
				{"billing", "reconcile", "--from", "2031-01-01T00:00:30Z", "--to", "2031-01-02T00:00:00Z"},
				{"billing", "nonsense"},
			} {
				if code, _, _ := cli(t, env, args...); code != 2 {
					t.Errorf("%v exit %d, want 2", args, code)
				}
			}
			noStripe := map[string]string{"OAIS_STRIPE_API_KEY": "", "OAIS_STRIPE_WEBHOOK_SECRET": ""}
			code, out, errOut := cli(t, noStripe, "billing", "reconcile", "--from", from, "--to", to)
			if code != 2 || !strings.Contains(errOut, "OAIS_STRIPE_API_KEY") || !strings.Contains(out, "UNCHECKED") {
				t.Fatalf("without Stripe: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	})
}
