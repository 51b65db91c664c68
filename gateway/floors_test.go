package gateway

import (
	"strings"
	"testing"
	"time"

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
