package run

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/oais/oais/gateway/spool"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/usage"
	"github.com/oais/oais/internal/viewer"
)

// TestBudgetUsageOfKeys: the floors of a key's credit quota are its whole
// cost, shipped and unshipped; the floors of a key's request budget count
// only the requests since its count was reset, in the generation the
// reset names, so that a floor never fills a reset budget again.
func TestBudgetUsageOfKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := viewer.SystemContext(t.Context())
		now := time.Now().UTC().Truncate(time.Microsecond)
		resetAt := now.Add(-time.Minute)
		ws, err := st.Ent.Workspace.Create().SetName("w").SetSlug(fmt.Sprintf("w-%d", now.UnixNano())).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		quota, err := st.Ent.APIKey.Create().SetWorkspaceID(ws.ID).SetLabel("quota").SetCreditQuotaCents(5).
			SetSecretHash("hq").SetMaskedKey("sk-…q").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reset, err := st.Ent.APIKey.Create().SetWorkspaceID(ws.ID).SetLabel("reset").SetMaxRequests(100).SetRequestsResetAt(resetAt).
			SetSecretHash("hr").SetMaskedKey("sk-…r").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		rec := func(key string, cost int64, at time.Time) usage.Record {
			n++
			return usage.Record{RequestID: fmt.Sprintf("req-%d", n), WorkspaceID: ws.ID, KeyID: key, Model: "gpt-4o-mini",
				Endpoint: "/v1/chat/completions", PromptTokens: 10, CompletionTokens: 5, CostMicros: cost, Status: 200,
				Source: usage.SourceUpstream, Time: at}
		}
		led := ledger.New(st)
		if err := led.Ship(ctx, []usage.Record{rec(quota.ID, 100, now), rec(reset.ID, 10, resetAt.Add(-time.Second)), rec(reset.ID, 10, now)}); err != nil {
			t.Fatal(err)
		}
		sp, err := spool.Open(t.Context(), spool.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sp.Close() })
		for _, r := range []usage.Record{
			rec(quota.ID, 50, now),
			rec(reset.ID, 10, resetAt.Add(-time.Second)), // from before the reset, still in the spool
			rec(reset.ID, 10, now),
		} {
			if err := sp.Append(&r); err != nil {
				t.Fatal(err)
			}
		}
		g := &Gateway{Store: st, Ledger: led, Spool: sp, log: slog.New(slog.DiscardHandler)}
		f, err := g.budgetUsage(t.Context(), now, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.KeyCostMicros[quota.ID]; got != 150 {
			t.Errorf("credit floor = %d µ$, want 150 (100 shipped + 50 unshipped)", got)
		}
		if got := f.KeyRequests[reset.ID]; got != 2 {
			t.Errorf("request floor = %d, want 2: one shipped and one unshipped since the reset", got)
		}
		if got, want := f.KeyRequestGens[reset.ID], resetAt.UnixMicro(); got != want {
			t.Errorf("request generation = %d, want %d (the reset's Unix µs)", got, want)
		}
		if _, ok := f.KeyRequestGens[quota.ID]; ok {
			t.Errorf("a key never reset has a generation")
		}
	})
}
