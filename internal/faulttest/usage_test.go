package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// hostileUsages are what the hostile upstream reports as prompt_tokens, in
// turn: absurd, the largest int64, negative, past float range for int64,
// not an integer, not a number, and two sane ones.
var hostileUsages = []string{`9e18`, `9223372036854775807`, `-5`, `1e30`, `12.5`, `"12"`, `7`, `11`}

// hostileUpstream answers every chat completion, plain or streamed, with a
// short text and the next of hostileUsages as its prompt_tokens.
func hostileUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		prompt := hostileUsages[int(n.Add(1)-1)%len(hostileUsages)]
		usage := `{"prompt_tokens":` + prompt + `,"completion_tokens":3,"total_tokens":` + prompt + `}`
		if bytes.Contains(body, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, `data: {"choices":[{"index":0,"delta":{"content":"Short and honest."}}]}`+"\n\n")
			_, _ = io.WriteString(w, `data: {"choices":[],"usage":`+usage+`}`+"\n\n")
			_, _ = io.WriteString(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Short and honest."},"finish_reason":"stop"}],"usage":`+usage+`}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestHostileUpstreamUsage points the real gateway at an upstream that lies
// about usage (a workspace's own upstream can be set by any of its admins;
// here the global one stands in for it) and checks, on SQLite and on
// PostgreSQL, what the workspace is billed: every request recorded exactly
// once, and totals that stay sane and non-negative. Before usage was
// bounded, three such requests left a workspace at -446744073709551600
// prompt tokens with one request lost to a wedged batch.
func TestHostileUpstreamUsage(t *testing.T) {
	needBinaries(t)
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + t.TempDir() + "/oais.db" }},
		{"postgres", func(t *testing.T) string { return StartPostgres(t).URL() }},
	} {
		t.Run(db.name, func(t *testing.T) {
			up := hostileUpstream(t)
			c := startCluster(t, db.url(t))
			g := c.startGateway("gateway", "OAIS_UPSTREAM_BASE_URL="+up.URL+"/v1")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			start := time.Now().UTC().Add(-time.Hour)
			acked := map[string]int{}
			const rounds = 2 // every usage, plain and streamed
			for i := range rounds * len(hostileUsages) {
				a := chat(ctx, g.url, c.key, i >= len(hostileUsages), nil)
				if !a.complete {
					t.Fatalf("request %d: status %d, %v, %s: the answer itself must pass", i, a.status, a.err, a.body)
				}
				acked[a.id]++
			}
			g.stop() // ships the spool
			led := readLedger(t, c.dbURL)
			checkLedger(t, led, acked, 0)
			const maxTokens = 10_000_000 // usage.MaxTokens
			implausible := 0
			for _, r := range led.rows {
				if r.reason == "implausible_upstream_usage" {
					implausible++
				}
				if r.promptTokens < 0 || r.promptTokens > maxTokens || r.completionTokens < 0 || r.completionTokens > maxTokens || r.costMicros < 0 {
					t.Errorf("row %+v: counts outside [0, %d] or a negative cost", r, maxTokens)
				}
			}

			if want := rounds * (len(hostileUsages) - 2); implausible != want {
				t.Errorf("%d rows flagged implausible_upstream_usage, want %d (every hostile report, none of the sane ones)", implausible, want)
			}
			if n := quarantinedRows(t, c.dbURL); n != 0 {
				t.Errorf("%d records quarantined: the gateway must bound usage before the ledger sees it", n)
			}

			token := c.signIn(t)
			_, ws, err := graphql(c.cpURL, token, `{ viewer { memberships { workspace { id } } } }`, nil)
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				Viewer struct {
					Memberships []struct{ Workspace struct{ ID string } }
				}
			}
			if err := json.Unmarshal(ws.Data, &v); err != nil || len(v.Viewer.Memberships) == 0 {
				t.Fatalf("no workspace in %s (%v)", ws.Data, err)
			}
			status, u, err := graphql(c.cpURL, token, `query($id: ID!, $from: Time!, $to: Time!) {
				workspace(id: $id) { usage(from: $from, to: $to) { requests promptTokens completionTokens totalTokens costMicros } } }`,
				map[string]any{"id": v.Viewer.Memberships[0].Workspace.ID, "from": start.Format(time.RFC3339), "to": time.Now().UTC().Add(time.Hour).Format(time.RFC3339)})
			if err != nil || status != 200 || len(u.Errors) > 0 {
				t.Fatalf("usage: %d %v %+v", status, err, u.Errors)
			}
			var got struct {
				Workspace struct {
					Usage struct{ Requests, PromptTokens, CompletionTokens, TotalTokens, CostMicros int64 }
				}
			}
			if err := json.Unmarshal(u.Data, &got); err != nil {
				t.Fatal(err)
			}
			s := got.Workspace.Usage
			n := int64(len(acked))
			t.Logf("workspace usage after %d hostile requests: %+v", n, s)
			if s.Requests != n {
				t.Errorf("usage.requests = %d, want %d: every request recorded once", s.Requests, n)
			}
			// Each request is at most a short prompt and a short answer.
			if s.PromptTokens < n || s.PromptTokens > 100*n || s.CompletionTokens < 0 || s.CompletionTokens > 100*n ||
				s.TotalTokens != s.PromptTokens+s.CompletionTokens || s.CostMicros < 0 || s.CostMicros > 1_000*n {
				t.Errorf("usage = %+v; want sane, non-negative totals (at most 100 tokens and 1,000 micro-dollars a request)", s)
			}
		})
	}
}

// quarantinedRows counts usage_quarantine's rows.
func quarantinedRows(t *testing.T, dbURL string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := openRetrying(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var n int
	if err := st.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM usage_quarantine`).Scan(&n); err != nil {
		t.Fatalf("read usage_quarantine: %v", err)
	}
	return n
}
