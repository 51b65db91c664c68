package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

// refusal is the record the gateway writes for a refused or failed request.
func refusal(status int, code string) func(*usage.Record) {
	return func(r *usage.Record) {
		r.Status, r.ErrorCode, r.Source = status, code, usage.SourceNone
		r.PromptTokens, r.CompletionTokens, r.CostMicros, r.LatencyMillis = 0, 0, 0, 3
	}
}

// TestShipErrorRecords: refused and failed requests are stored with their
// error code and counted as errors in every figure, never as requests,
// tokens or cost, nor in a key's request_count; a refusal record that
// claims usage (a bug, or a forged spool) is stored without it. Read from
// the rollups (whole hours) and from raw events (a partial hour) alike.
func TestShipErrorRecords(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		at := t0.Add(10 * time.Minute)
		fx.ship(t,
			rec("ok", fx.wsA, fx.kA1, at),
			rec("m1", fx.wsA, fx.kA2, at, refusal(403, "model_not_allowed"), func(r *usage.Record) { r.Model = "gpt-5" }),
			rec("m2", fx.wsA, fx.kA2, at, refusal(403, "model_not_allowed"), func(r *usage.Record) { r.Model = "gpt-5" }),
			rec("m3", fx.wsA, fx.kA2, at, refusal(403, "model_not_allowed"), func(r *usage.Record) { r.Model = "gpt-5" }),
			rec("l1", fx.wsA, fx.kA1, at, refusal(429, "rate_limit_exceeded")),
			rec("l2", fx.wsA, fx.kA1, at, refusal(429, "rate_limit_exceeded")),
			rec("u1", fx.wsA, fx.kA1, at, refusal(500, usage.ErrorCodeUpstream), func(r *usage.Record) {
				r.PromptTokens, r.CompletionTokens, r.CachedTokens, r.CostMicros = 1000, 1000, 10, 99999 // must not count
			}),
		)
		ctx := context.Background()
		want := ledger.Summary{Requests: 1, PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15, CostMicros: 100, Errors: 6}
		for _, f := range []ledger.Filter{
			{WorkspaceID: fx.wsA, From: t0, To: t0.Add(time.Hour)},                     // the rollup of the hour
			{WorkspaceID: fx.wsA, From: t0.Add(time.Minute), To: t0.Add(time.Hour)},    // raw events
			{WorkspaceID: fx.wsA, From: t0.Add(-time.Hour), To: t0.Add(2 * time.Hour)}, // rollups only
		} {
			got, err := fx.l.Summary(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(want, got); d != "" {
				t.Errorf("Summary %v–%v:\n%s", f.From, f.To, d)
			}
			pts, err := fx.l.Series(ctx, f, ledger.Hour)
			if err != nil {
				t.Fatal(err)
			}
			var sum ledger.Summary
			for _, p := range pts {
				sum.Requests += p.Requests
				sum.Errors += p.Errors
				sum.CostMicros += p.CostMicros
			}
			if sum.Requests != 1 || sum.Errors != 6 || sum.CostMicros != 100 {
				t.Errorf("Series %v–%v sums %+v, want 1 request, 6 errors, 100 µ$", f.From, f.To, sum)
			}
			byKey, err := fx.l.ByKey(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			byModel, err := fx.l.ByModel(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			got2 := map[string][3]int64{}
			for _, g := range append(byKey, byModel...) {
				got2[g.Key] = [3]int64{g.Requests, g.Errors, g.CostMicros}
			}
			want2 := map[string][3]int64{fx.kA1: {1, 3, 100}, fx.kA2: {0, 3, 0}, "gpt-4o": {1, 3, 100}, "gpt-5": {0, 3, 0}}
			if d := diff(want2, got2); d != "" {
				t.Errorf("by key and model (requests, errors, cost) %v–%v:\n%s", f.From, f.To, d)
			}
		}
		if a1, a2 := fx.keyRow(t, fx.kA1), fx.keyRow(t, fx.kA2); a1.requests != 1 || a2.requests != 0 {
			t.Errorf("request_count = %d, %d; want 1 and 0: refusals are not requests", a1.requests, a2.requests)
		}
		mt, err := fx.l.MonthToDate(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		if w := mt.Workspaces[fx.wsA]; w.Tokens != 15 || w.CostMicros != 100 {
			t.Errorf("month to date %+v, want 15 tokens and 100 µ$ (quotas and caps count no error)", w)
		}
		reqs, err := fx.l.RecentRequests(ctx, fx.kA2, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(reqs) != 3 || reqs[0].ErrorCode != "model_not_allowed" || reqs[0].Status != 403 || reqs[0].Source != usage.SourceNone {
			t.Errorf("recent requests of the refused key: %+v", reqs)
		}
		if logs := fx.logs.String(); !strings.Contains(logs, "stored without it") {
			t.Errorf("the priced refusal was not logged:\n%s", logs)
		}
	})
}
