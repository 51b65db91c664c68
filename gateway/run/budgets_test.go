package run

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/gateway"
	"github.com/oais/oais/gateway/ratelimit"
	"github.com/oais/oais/gateway/spool"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/prices"
	"github.com/oais/oais/internal/pricing"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/usage"
	"github.com/oais/oais/internal/viewer"
)

// TestBudgetUsageCountsUnshippedSpool: what seeds and raises the budgets
// is the ledger plus this replica's spool that has not reached it yet
// (the database was down, the gateway restarted before shipping). The
// spool's records count once, this month's only for the month's totals,
// answered ones only for key request counts, as the ledger counts them.
// Before the spool was counted, the month's seed was the ledger alone:
// 200 µ$ here instead of 350, so a Redis lost while the database was down
// reopened the budget by everything the spool held.
func TestBudgetUsageCountsUnshippedSpool(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := viewer.SystemContext(t.Context())
		now := time.Now().UTC()
		lastMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).Add(-time.Hour)
		ws, err := st.Ent.Workspace.Create().SetName("w").SetSlug(fmt.Sprintf("w-%d", now.UnixNano())).SetSpendCapCents(100).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Usage of a workspace without a budget is not read at all.
		other, err := st.Ent.Workspace.Create().SetName("o").SetSlug(fmt.Sprintf("o-%d", now.UnixNano())).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		otherKey, err := st.Ent.APIKey.Create().SetWorkspaceID(other.ID).SetLabel("o").
			SetSecretHash("h3").SetMaskedKey("sk-…3").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		limited, err := st.Ent.APIKey.Create().SetWorkspaceID(ws.ID).SetLabel("limited").SetMaxRequests(100).
			SetSecretHash("h1").SetMaskedKey("sk-…1").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		free, err := st.Ent.APIKey.Create().SetWorkspaceID(ws.ID).SetLabel("free").
			SetSecretHash("h2").SetMaskedKey("sk-…2").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		rec := func(key string, status int, cost int64, at time.Time) usage.Record {
			n++
			return usage.Record{RequestID: fmt.Sprintf("req-%d", n), WorkspaceID: ws.ID, KeyID: key, Model: "gpt-4o-mini",
				Endpoint: "/v1/chat/completions", PromptTokens: 10, CompletionTokens: 5, CostMicros: cost, Status: status,
				Source: usage.SourceUpstream, Time: at}
		}
		led := ledger.New(st)
		shipped := []usage.Record{rec(limited.ID, 200, 100, now), rec(free.ID, 200, 100, now), rec(limited.ID, 500, 0, now)}
		o := rec(otherKey.ID, 200, 999, now)
		o.WorkspaceID = other.ID
		shipped = append(shipped, o)
		if err := led.Ship(ctx, shipped); err != nil {
			t.Fatal(err)
		}
		sp, err := spool.Open(t.Context(), spool.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sp.Close() })
		for _, r := range []usage.Record{
			rec(limited.ID, 200, 100, now),
			rec(free.ID, 200, 50, now),
			rec(limited.ID, 429, 0, now),        // refused: not a request
			rec(limited.ID, 200, 70, lastMonth), // last month's spend, still a request
		} {
			if err := sp.Append(&r); err != nil {
				t.Fatal(err)
			}
		}
		g := &Gateway{Store: st, Ledger: led, Spool: sp, log: slog.New(slog.DiscardHandler)}

		_, cost, err := g.monthTotals(t.Context(), now)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cost[ws.ID], int64(100+100+100+50); got != want {
			t.Errorf("month-to-date seed = %d µ$, want %d (ledger 200 + unshipped 150)", got, want)
		}
		f, err := g.budgetUsage(t.Context(), now, true)
		if err != nil {
			t.Fatal(err)
		}
		want := gateway.MonthUsage{Tokens: 15 * 6, CostMicros: 350}
		if got := f.Workspaces[ws.ID]; got != want {
			t.Errorf("workspace usage = %+v, want %+v", got, want)
		}
		if got := f.KeyRequests[limited.ID]; got != 3 {
			t.Errorf("limited key requests = %d, want 3 (1 shipped + 2 unshipped answered)", got)
		}
		if _, ok := f.KeyRequests[free.ID]; ok {
			t.Errorf("a key without a request limit has a floor")
		}
		if _, ok := f.Workspaces[other.ID]; ok {
			t.Errorf("a workspace without a budget has a floor")
		}
		if f.Month != now.Format("2006-01") {
			t.Errorf("Month = %q", f.Month)
		}
		// Shipping moves the records from one side to the other, never
		// counting them twice.
		if err := sp.Flush(t.Context(), led); err != nil {
			t.Fatal(err)
		}
		again, err := g.budgetUsage(t.Context(), now, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := again.Workspaces[ws.ID]; got != want || again.KeyRequests[limited.ID] != 3 {
			t.Errorf("after shipping: %+v, %d requests; want %+v, 3", got, again.KeyRequests[limited.ID], want)
		}
	})
}

// TestFollowBudgetsRaisesCounters: spend the limiter never counted (a
// settlement dropped while Redis was unreachable, another replica's local
// counting during an outage) reaches it through the follower: once the
// ledger holds it, the gateway refuses as the ledger says, a period after
// the follower read it.
func TestFollowBudgetsRaisesCounters(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := viewer.SystemContext(t.Context())
	ws, err := st.Ent.Workspace.Create().SetName("w").SetSlug("w").SetSpendCapCents(100).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k, err := st.Ent.APIKey.Create().SetWorkspaceID(ws.ID).SetLabel("k").SetSecretHash("h").SetMaskedKey("sk-…k").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	p := &gateway.Principal{Key: gateway.KeyPolicy{ID: k.ID, WorkspaceID: ws.ID, State: keys.State{Status: keys.StatusActive}},
		Workspace: &gateway.WorkspacePolicy{ID: ws.ID, MonthlySpendCapMicros: 1_000_000}}
	sp, err := spool.Open(t.Context(), spool.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	log := slog.New(slog.DiscardHandler)
	gw := gateway.New(gateway.Config{Logger: log}, gateway.Deps{
		Directory: gateway.StaticDirectory{secret.Hash(): p},
		Limiter:   ratelimit.NewLocal(ratelimit.Options{}),
		Recorder:  sp,
		Pricer:    prices.NewLive(pricing.Defaults(), nil),
	})
	t.Cleanup(func() { gw.Close() })
	g := &Gateway{Store: st, Ledger: ledger.New(st), Spool: sp, GW: gw, log: log}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	status := func() int {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+secret.Reveal())
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(); s != 200 {
		t.Fatalf("first request: %d", s)
	}
	// 999,000 µ$ this gateway never counted reach the ledger.
	if err := g.Ledger.Ship(ctx, []usage.Record{{RequestID: "elsewhere", WorkspaceID: ws.ID, KeyID: k.ID, Model: "gpt-4o-mini",
		Endpoint: "/v1/chat/completions", CostMicros: 999_000, Status: 200, Source: usage.SourceUpstream, Time: time.Now().UTC()}}); err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(t.Context())
	defer stop()
	go g.followBudgets(fctx, 20*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second) // only stops a broken test
	for s := status(); s != 429; s = status() {
		if s != 200 || time.Now().After(deadline) {
			t.Fatalf("status %d: the ledger's 999,000 µ$ of a 1,000,000 µ$ cap never reached the limiter", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
