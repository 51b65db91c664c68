package graphqltest

import (
	"testing"
	"time"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

// TestUsageAnalyticsReturnErrorEvents: the gateway's error rows (a refusal
// with its error code, zero cost) reach what the dashboard's Errors chart
// plots: the series' errors per bucket, the totals and the by-key table,
// without counting as requests or money.
func TestUsageAnalyticsReturnErrorEvents(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("errs")+"@a.test")
		ws := s.createWorkspace(t, owner.Token, "Errors")
		key, _ := s.createKey(t, owner.Token, ws, "errs")
		at := time.Now().Add(-time.Minute)
		var recs []usage.Record
		for i, code := range []string{"rate_limit_exceeded", "insufficient_quota", "upstream_error"} {
			status := 429
			if i == 2 {
				status = 502
			}
			recs = append(recs, usage.Record{RequestID: ids.New("req"), WorkspaceID: ws, KeyID: key, Model: "mock-gpt", Endpoint: "/v1/chat/completions",
				Status: status, Source: usage.SourceNone, ErrorCode: code, Time: at})
		}
		recs = append(recs, usage.Record{RequestID: ids.New("req"), WorkspaceID: ws, KeyID: key, Model: "mock-gpt", Endpoint: "/v1/chat/completions",
			Status: 200, Source: usage.SourceUpstream, PromptTokens: 10, CompletionTokens: 5, CostMicros: 42, Time: at})
		if err := ledger.New(s.cp.Store).Ship(sys(t), recs); err != nil {
			t.Fatal(err)
		}
		vars := rangeVars(ws)
		d := s.must(t, owner.Token, `query($id: ID!, `+usageRange+`) { workspace(id: $id) {
			usage(from: $from, to: $to) { requests errors costMicros }
			usageSeries(from: $from, to: $to, granularity: HOUR) { time requests errors }
			usageByKey(from: $from, to: $to) { key errors } } }`, vars)
		if got := dig(t, d, "workspace", "usage", "errors"); got != 3.0 {
			t.Errorf("usage.errors = %v, want 3", got)
		}
		if got := dig(t, d, "workspace", "usage", "requests"); got != 1.0 {
			t.Errorf("usage.requests = %v, want 1 (errors are not requests)", got)
		}
		if got := dig(t, d, "workspace", "usage", "costMicros"); got != 42.0 {
			t.Errorf("usage.costMicros = %v, want 42", got)
		}
		var plotted float64
		for _, p := range list(t, d, "workspace", "usageSeries") {
			plotted += p.(map[string]any)["errors"].(float64)
		}
		if plotted != 3 {
			t.Errorf("usageSeries plots %v errors, want 3: %v", plotted, d)
		}
		if got := dig(t, d, "workspace", "usageByKey", 0, "errors"); got != 3.0 {
			t.Errorf("usageByKey errors = %v, want 3", got)
		}
	})
}
