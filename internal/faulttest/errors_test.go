package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// usageFigures is one workspace's usage as GraphQL shows it: the summary,
// and the by-key and by-model breakdowns, each group as
// "requests/errors/costMicros".
type usageFigures struct {
	Requests, Errors, CostMicros, TotalTokens, CacheHits int
	SeriesRequests, SeriesErrors                         int
	ByKey, ByModel                                       map[string]string
	RequestCount                                         map[string]int // api key id -> requestCount
}

func (u usageFigures) String() string {
	return fmt.Sprintf("requests=%d errors=%d cost=%d tokens=%d series(requests=%d errors=%d) byKey=%v byModel=%v requestCount=%v",
		u.Requests, u.Errors, u.CostMicros, u.TotalTokens, u.SeriesRequests, u.SeriesErrors, u.ByKey, u.ByModel, u.RequestCount)
}

// workspaceUsage reads ws's usage of the last and next hour through GraphQL.
func (c *cluster) workspaceUsage(t *testing.T, token, ws string) usageFigures {
	t.Helper()
	now := time.Now().UTC()
	vars := map[string]any{"id": ws, "from": now.Add(-time.Hour).Format(time.RFC3339), "to": now.Add(time.Hour).Format(time.RFC3339)}
	status, r, err := graphql(c.cpURL, token, `query($id: ID!, $from: Time!, $to: Time!) { workspace(id: $id) {
		usage(from: $from, to: $to) { requests errors costMicros totalTokens cacheHits }
		usageSeries(from: $from, to: $to, granularity: HOUR) { requests errors }
		usageByKey(from: $from, to: $to) { key requests errors costMicros }
		usageByModel(from: $from, to: $to) { key requests errors costMicros }
		apiKeys(first: 10) { edges { node { id requestCount } } } } }`, vars)
	if err != nil || status != 200 || len(r.Errors) > 0 {
		t.Fatalf("usage query: %d %v %s", status, err, errorsText(r))
	}
	type group struct {
		Key                          string
		Requests, Errors, CostMicros int
	}
	var d struct {
		Workspace struct {
			Usage struct {
				Requests, Errors, CostMicros, TotalTokens, CacheHits int
			}
			UsageSeries  []struct{ Requests, Errors int }
			UsageByKey   []group
			UsageByModel []group
			APIKeys      struct {
				Edges []struct {
					Node struct {
						ID           string
						RequestCount int
					}
				}
			} `json:"apiKeys"`
		}
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatalf("usage: %v: %s", err, r.Data)
	}
	w := d.Workspace
	u := usageFigures{Requests: w.Usage.Requests, Errors: w.Usage.Errors, CostMicros: w.Usage.CostMicros, TotalTokens: w.Usage.TotalTokens,
		CacheHits: w.Usage.CacheHits, ByKey: map[string]string{}, ByModel: map[string]string{}, RequestCount: map[string]int{}}
	for _, p := range w.UsageSeries {
		u.SeriesRequests += p.Requests
		u.SeriesErrors += p.Errors
	}
	for _, g := range w.UsageByKey {
		u.ByKey[g.Key] = fmt.Sprintf("%d/%d/%d", g.Requests, g.Errors, g.CostMicros)
	}
	for _, g := range w.UsageByModel {
		u.ByModel[g.Key] = fmt.Sprintf("%d/%d/%d", g.Requests, g.Errors, g.CostMicros)
	}
	for _, e := range w.APIKeys.Edges {
		u.RequestCount[e.Node.ID] = e.Node.RequestCount
	}
	return u
}

// TestErrorsAreUsage: the usage API counts refusals and upstream errors as
// errors. Through the real binaries, a workspace with an RPM of 2 gets one
// upstream 500 (which spends an RPM unit like any admitted request), one
// answered request, two
// 429 rate_limit_exceeded and, on a second key allowed only gpt-4o, three
// 403 model_not_allowed. Its usage then shows errors 6 in the summary, the
// series and both breakdowns, while requests, tokens, cost and the keys'
// requestCount are those of the one answered request.
func TestErrorsAreUsage(t *testing.T) {
	needBinaries(t)
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + t.TempDir() + "/oais.db" }},
		{"postgres", func(t *testing.T) string { return StartPostgres(t).URL() }},
	} {
		t.Run(db.name, func(t *testing.T) {
			c := startCluster(t, db.url(t))
			token := c.signIn(t)
			_, r, _ := graphql(c.cpURL, token, `{ viewer { memberships { workspace { id apiKeys(first: 1) { edges { node { id } } } } } } }`, nil)
			var v struct {
				Viewer struct {
					Memberships []struct {
						Workspace struct {
							ID      string
							APIKeys struct {
								Edges []struct{ Node struct{ ID string } }
							} `json:"apiKeys"`
						}
					}
				}
			}
			if err := json.Unmarshal(r.Data, &v); err != nil || len(v.Viewer.Memberships) != 1 || len(v.Viewer.Memberships[0].Workspace.APIKeys.Edges) != 1 {
				t.Fatalf("want one workspace with the quickstart key: %s", r.Data)
			}
			ws, keyA := v.Viewer.Memberships[0].Workspace.ID, v.Viewer.Memberships[0].Workspace.APIKeys.Edges[0].Node.ID
			_, r, _ = graphql(c.cpURL, token, `mutation($ws: ID!) { createAPIKey(input: {workspaceID: $ws, label: "gpt-4o only", allowedModels: ["gpt-4o"]}) { secret apiKey { id } } }`,
				map[string]any{"ws": ws})
			var ck struct {
				CreateAPIKey struct {
					Secret string
					APIKey struct{ ID string } `json:"apiKey"`
				} `json:"createAPIKey"`
			}
			if err := json.Unmarshal(r.Data, &ck); err != nil || ck.CreateAPIKey.Secret == "" {
				t.Fatalf("createAPIKey: %s %s", r.Data, errorsText(r))
			}
			keyB, secretB := ck.CreateAPIKey.APIKey.ID, ck.CreateAPIKey.Secret
			if _, r, err := graphql(c.cpURL, token, `mutation($ws: ID!) { updateWorkspaceLimits(workspaceID: $ws, rpm: 2) { id } }`, map[string]any{"ws": ws}); err != nil || len(r.Errors) > 0 {
				t.Fatalf("updateWorkspaceLimits: %v %s", err, errorsText(r))
			}
			g := c.startGateway("gateway")
			ctx := context.Background()

			expect := func(a answer, status int, code string) {
				t.Helper()
				if a.err != nil || a.status != status || (code != "" && !strings.Contains(string(a.body), `"code":"`+code+`"`)) {
					t.Fatalf("got %d %v %s, want %d %s", a.status, a.err, a.body, status, code)
				}
			}
			expect(chat(ctx, g.url, c.key, false, map[string]string{"X-Mock-Status": "500"}), 500, "")
			answered := chat(ctx, g.url, c.key, false, nil)
			expect(answered, 200, "")
			// Both ship; the answered one is the baseline every figure keeps.
			var before usageFigures
			WaitFor(20*time.Second, func() bool {
				before = c.workspaceUsage(t, token, ws)
				return before.Requests == 1 && before.Errors >= 1
			})
			if before.Requests != 1 || before.Errors != 1 || before.CostMicros <= 0 {
				t.Fatalf("after one upstream 500 and one answer: %v, want requests 1, errors 1, a cost", before)
			}
			for range 2 {
				expect(chat(ctx, g.url, c.key, false, nil), 429, "rate_limit_exceeded")
			}
			for range 3 {
				expect(chat(ctx, g.url, secretB, false, nil), 403, "model_not_allowed")
			}
			var after usageFigures
			WaitFor(20*time.Second, func() bool {
				after = c.workspaceUsage(t, token, ws)
				return after.Errors >= 6
			})
			t.Logf("FIGURE errors-are-usage %s: before %v; after %v", db.name, before, after)
			if after.Errors != 6 || after.SeriesErrors != 6 {
				t.Errorf("errors = %d (series %d), want 6", after.Errors, after.SeriesErrors)
			}
			if after.Requests != before.Requests || after.SeriesRequests != 1 || after.CostMicros != before.CostMicros ||
				after.TotalTokens != before.TotalTokens || after.CacheHits != before.CacheHits {
				t.Errorf("requests, cost or tokens moved with the errors: before %v, after %v", before, after)
			}
			cost := before.CostMicros
			wantKey := map[string]string{keyA: fmt.Sprintf("1/3/%d", cost), keyB: "0/3/0"}
			wantModel := map[string]string{"gpt-4o-mini": fmt.Sprintf("1/6/%d", cost)}
			if fmt.Sprint(after.ByKey) != fmt.Sprint(wantKey) {
				t.Errorf("by key (requests/errors/cost) = %v, want %v", after.ByKey, wantKey)
			}
			if fmt.Sprint(after.ByModel) != fmt.Sprint(wantModel) {
				t.Errorf("by model (requests/errors/cost) = %v, want %v", after.ByModel, wantModel)
			}
			if after.RequestCount[keyA] != 1 || after.RequestCount[keyB] != 0 {
				t.Errorf("requestCount = %v, want 1 for the answering key and 0 for the refused one", after.RequestCount)
			}
			g.stop()
			led := readLedger(t, c.dbURL)
			for _, row := range led.rows {
				if row.status >= 400 && (row.costMicros != 0 || row.promptTokens != 0 || row.completionTokens != 0) {
					t.Errorf("error row %+v carries usage, want none", row)
				}
			}
		})
	}
}
