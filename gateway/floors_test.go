package gateway

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/internal/keys"
)

// TestBudgetFloors: the floors gateway/run computes from the ledger and the
// unshipped spool reach every budget's reservation, so a budget Redis lost
// (or one behind the ledger) refuses as the ledger says; floors of another
// month are ignored.
func TestBudgetFloors(t *testing.T) {
	now := time.Date(2031, 6, 15, 12, 0, 0, 0, time.UTC)
	const month = "2031-06"
	// fakePricer's worst case for chatBody is about 2,050 µ$ and its
	// token estimate about 1,030.
	principal := func(k KeyPolicy, w WorkspacePolicy) *Principal {
		k.State.Status = keys.StatusActive
		return &Principal{Key: k, Workspace: &w}
	}
	cases := []struct {
		name   string
		p      *Principal
		floors *BudgetFloors
		status int
		code   string
	}{
		{name: "spend under the cap without floors",
			p:      principal(KeyPolicy{ID: "k1"}, WorkspacePolicy{ID: "w1", MonthlySpendCapMicros: 1_000_000}),
			status: 200},
		{name: "spend floor near the cap refuses",
			p:      principal(KeyPolicy{ID: "k1"}, WorkspacePolicy{ID: "w1", MonthlySpendCapMicros: 1_000_000}),
			floors: &BudgetFloors{Month: month, Workspaces: map[string]MonthUsage{"w1": {CostMicros: 999_000}}},
			status: 429, code: "insufficient_quota"},
		{name: "a higher snapshot total wins over a lower floor",
			p: principal(KeyPolicy{ID: "k1"}, WorkspacePolicy{ID: "w1", MonthlySpendCapMicros: 1_000_000,
				SpendThisMonthMicros: 999_000, UsagePeriod: month}),
			floors: &BudgetFloors{Month: month, Workspaces: map[string]MonthUsage{"w1": {CostMicros: 10}}},
			status: 429, code: "insufficient_quota"},
		{name: "token floor near the quota refuses",
			p:      principal(KeyPolicy{ID: "k1"}, WorkspacePolicy{ID: "w1", MonthlyTokenQuota: 10_000}),
			floors: &BudgetFloors{Month: month, Workspaces: map[string]MonthUsage{"w1": {Tokens: 9_500}}},
			status: 429, code: "insufficient_quota"},
		{name: "key request floor at the limit refuses",
			p:      principal(KeyPolicy{ID: "k1", State: keys.State{MaxRequests: 100}}, WorkspacePolicy{ID: "w1"}),
			floors: &BudgetFloors{Month: month, KeyRequests: map[string]int64{"k1": 100}},
			status: 429, code: "key_request_limit_reached"},
		{name: "last month's floors are ignored",
			p:      principal(KeyPolicy{ID: "k1"}, WorkspacePolicy{ID: "w1", MonthlySpendCapMicros: 1_000_000}),
			floors: &BudgetFloors{Month: "2031-05", Workspaces: map[string]MonthUsage{"w1": {CostMicros: 999_000}}},
			status: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{cfg: Config{Now: func() time.Time { return now }}, extra: map[string]*Principal{"p": tc.p}})
			h.gw.SetBudgetFloors(tc.floors)
			resp, body := h.do(t, "p", "POST", "/v1/chat/completions", chatBody, nil)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.code) {
				t.Errorf("status %d %s, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
		})
	}
}

// TestKeyRequestBudgetCountsAsTheLedger: a key's request budget counts
// what api_keys.request_count counts, answered requests, so that the
// ledger's floor neither finds it behind (and raises it every period,
// swallowing what was settled meanwhile) nor ahead (for good): an answer
// from the cache counts, a request whose client left before any answer
// does not.
func TestKeyRequestBudgetCountsAsTheLedger(t *testing.T) {
	t.Run("an answer from the cache counts", func(t *testing.T) {
		k := KeyPolicy{ID: "kc", CacheEnabled: true, CacheTTL: time.Hour, State: keys.State{Status: keys.StatusActive, MaxRequests: 2}}
		h := newHarness(t, harnessOpts{extra: map[string]*Principal{"p": {Key: k, Workspace: &WorkspacePolicy{ID: "wc", MonthlyTokenQuota: 1_000_000}}}})
		for i, want := range []string{"", "hit"} {
			resp, body := h.do(t, "p", "POST", "/v1/chat/completions", chatBody, nil)
			if resp.StatusCode != 200 || resp.Header.Get("X-Oais-Cache") != want {
				t.Fatalf("request %d: %d %q %s, want 200 with x-oais-cache %q", i, resp.StatusCode, resp.Header.Get("X-Oais-Cache"), body, want)
			}
			h.rec.next(t)
		}
		resp, body := h.do(t, "p", "POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"another"}]}`, nil)
		if resp.StatusCode != 429 || !strings.Contains(body, "key_request_limit_reached") {
			t.Errorf("third request after one answered and one cached of 2: %d %s, want 429 key_request_limit_reached", resp.StatusCode, body)
		}
		if got := h.lim.value("ws:{wc}:tokens:" + time.Now().UTC().Format("2006-01")); got < 2*17 {
			t.Errorf("token budget %d after two answers of 17 tokens (one cached), want at least 34", got)
		}
	})
	t.Run("a client that left before any answer does not count", func(t *testing.T) {
		started := make(chan struct{})
		k := KeyPolicy{ID: "kd", State: keys.State{Status: keys.StatusActive, MaxRequests: 5}}
		h := newHarness(t, harnessOpts{
			extra: map[string]*Principal{"p": {Key: k, Workspace: &WorkspacePolicy{ID: "wd"}}},
			mock: mockupstream.Options{OnRequest: func(r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				close(started)
				<-r.Context().Done()
			}},
		})
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-started
			cancel()
		}()
		req, _ := http.NewRequestWithContext(ctx, "POST", h.srv.URL+"/v1/chat/completions", strings.NewReader(chatBody))
		req.Header.Set("Authorization", "Bearer "+h.secrets["p"])
		if resp, err := h.srv.Client().Do(req); err == nil {
			resp.Body.Close()
		}
		if rec := h.rec.next(t); rec.Status < 400 {
			t.Fatalf("record status %d, want a client-closed status", rec.Status)
		}
		deadline := time.Now().Add(10 * time.Second)
		for h.lim.value("key:{wd}:kd:req") != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("key request budget %d after a request nobody was answered, want 0", h.lim.value("key:{wd}:kd:req"))
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
