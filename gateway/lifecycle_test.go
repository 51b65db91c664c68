package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/internal/keys"
)

// TestKeyCreditQuota attacks a key's credit quota: the gateway reserves a
// request's worst case against it, as against the workspace's spend cap, and
// refuses with 429 insufficient_quota once the key's spend (the snapshot's,
// or the ledger's floor) leaves no room; raising the quota (a top-up) lets it
// through again on the same counter; an answer settles its actual cost.
func TestKeyCreditQuota(t *testing.T) {
	// fakePricer's worst case for chatBody is about 2,050 µ$.
	principal := func(id string, quota, used int64) *Principal {
		return &Principal{
			Key:       KeyPolicy{ID: id, State: keys.State{Status: keys.StatusActive}, CreditQuotaMicros: quota, CreditUsedMicros: used},
			Workspace: &WorkspacePolicy{ID: "w_" + id},
		}
	}
	cases := []struct {
		name   string
		p      *Principal
		floors *BudgetFloors
		status int
		code   string
	}{
		{name: "room left", p: principal("k1", 1_000_000, 0), status: 200},
		{name: "the snapshot's spend leaves no room", p: principal("k2", 1_000_000, 999_000), status: 429, code: "insufficient_quota"},
		{name: "the ledger's floor leaves no room", p: principal("k3", 1_000_000, 10),
			floors: &BudgetFloors{KeyCostMicros: map[string]int64{"k3": 999_000}}, status: 429, code: "insufficient_quota"},
		{name: "another key's floor does not count", p: principal("k4", 1_000_000, 0),
			floors: &BudgetFloors{KeyCostMicros: map[string]int64{"k3": 999_000}}, status: 200},
		{name: "no quota, whatever was spent", p: principal("k5", 0, 1<<40), status: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{extra: map[string]*Principal{"p": tc.p}})
			h.gw.SetBudgetFloors(tc.floors)
			resp, body := h.do(t, "p", "POST", "/v1/chat/completions", chatBody, nil)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.code) {
				t.Fatalf("status %d %s, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
			rec := h.rec.next(t)
			if tc.status != 200 {
				checkErrorRecord(t, rec, tc.status, tc.code)
				return
			}
			if tc.p.Key.CreditQuotaMicros == 0 {
				if v := h.lim.value("key:{" + tc.p.Workspace.ID + "}:" + tc.p.Key.ID + ":credit"); v != 0 {
					t.Fatalf("a key without a quota has a credit counter of %d", v)
				}
				return
			}
			// The reservation's worst case gives way to the answer's cost.
			want := tc.p.Key.CreditUsedMicros + rec.CostMicros
			waitFor(t, "the credit settled at the answer's cost", func() bool { return h.lim.value("key:{"+tc.p.Workspace.ID+"}:"+tc.p.Key.ID+":credit") == want })
		})
	}

	t.Run("a top-up lets the key through again", func(t *testing.T) {
		spent := principal("kt", 2_100, 0)
		topped := principal("kt", 1_000_000, 0) // the same key after updateAPIKey(creditQuotaCents)
		h := newHarness(t, harnessOpts{extra: map[string]*Principal{"spent": spent, "topped": topped}})
		h.gw.SetBudgetFloors(&BudgetFloors{KeyCostMicros: map[string]int64{"kt": 2_000}})
		if resp, body := h.do(t, "spent", "POST", "/v1/chat/completions", chatBody, nil); resp.StatusCode != 429 || !strings.Contains(body, "insufficient_quota") {
			t.Fatalf("spent key: %d %s, want 429 insufficient_quota", resp.StatusCode, body)
		}
		if resp, body := h.do(t, "topped", "POST", "/v1/chat/completions", chatBody, nil); resp.StatusCode != 200 {
			t.Fatalf("topped-up key: %d %s, want 200", resp.StatusCode, body)
		}
	})

	t.Run("a cache hit spends no credit", func(t *testing.T) {
		p := principal("kc", 1_000_000, 0)
		p.Key.CacheEnabled, p.Key.CacheTTL = true, time.Hour
		h := newHarness(t, harnessOpts{extra: map[string]*Principal{"p": p}})
		for i, want := range []string{"", "hit"} {
			resp, body := h.do(t, "p", "POST", "/v1/chat/completions", chatBody, nil)
			if resp.StatusCode != 200 || resp.Header.Get("X-Oais-Cache") != want {
				t.Fatalf("request %d: %d %q %s", i, resp.StatusCode, resp.Header.Get("X-Oais-Cache"), body)
			}
			h.rec.next(t)
		}
		first := h.lim.value("key:{w_kc}:kc:credit")
		time.Sleep(50 * time.Millisecond)
		if got := h.lim.value("key:{w_kc}:kc:credit"); got != first || got <= 0 {
			t.Fatalf("credit %d after a miss and a hit, %d after the miss: a hit must cost nothing", got, first)
		}
	})
}

// TestKeyRequestReset: resetAPIKeyRequestCount gives the key a new request
// generation (KeyPolicy.RequestGen), whose budget counter has a name of its
// own: the old counter, full, never comes down (budgets only rise), and a
// ledger floor of the old generation does not fill the new one.
func TestKeyRequestReset(t *testing.T) {
	key := func(gen, count int64) *Principal {
		return &Principal{Key: KeyPolicy{ID: "kr", RequestGen: gen, State: keys.State{Status: keys.StatusActive, MaxRequests: 1, RequestCount: count}},
			Workspace: &WorkspacePolicy{ID: "wr"}}
	}
	const gen = 1_780_000_000_123_456 // Unix µs of the reset
	h := newHarness(t, harnessOpts{extra: map[string]*Principal{"before": key(0, 0), "after": key(gen, 0)}})
	send := func(who string, status int, code string) {
		t.Helper()
		resp, body := h.do(t, who, "POST", "/v1/chat/completions", chatBody, nil)
		if resp.StatusCode != status || !strings.Contains(body, code) {
			t.Fatalf("%s: %d %s, want %d %s", who, resp.StatusCode, body, status, code)
		}
		h.rec.next(t)
	}
	send("before", 200, "")
	waitFor(t, "the answer counted", func() bool { return h.lim.value("key:{wr}:kr:req") == 1 })
	send("before", 429, "key_request_limit_reached")
	// The ledger still says 1 request, of the generation before the reset.
	h.gw.SetBudgetFloors(&BudgetFloors{KeyRequests: map[string]int64{"kr": 1}})
	send("after", 200, "")
	send("after", 429, "key_request_limit_reached")
	if v := h.lim.value("key:{wr}:kr:req:1780000000123456"); v != 1 {
		t.Fatalf("the new generation's counter holds %d, want 1", v)
	}

	t.Run("a floor of the same generation counts", func(t *testing.T) {
		h := newHarness(t, harnessOpts{extra: map[string]*Principal{"p": key(gen, 0)}})
		h.gw.SetBudgetFloors(&BudgetFloors{KeyRequests: map[string]int64{"kr": 1}, KeyRequestGens: map[string]int64{"kr": gen}})
		resp, body := h.do(t, "p", "POST", "/v1/chat/completions", chatBody, nil)
		if resp.StatusCode != 429 || !strings.Contains(body, "key_request_limit_reached") {
			t.Fatalf("%d %s, want 429 key_request_limit_reached", resp.StatusCode, body)
		}
	})
}

// TestWorkspaceInactive: a workspace its owner switched off refuses every
// key of it with 403 workspace_inactive (CONTRACT §3), before anything is
// reserved, and records the refusal.
func TestWorkspaceInactive(t *testing.T) {
	k := KeyPolicy{ID: "ki", State: keys.State{Status: keys.StatusActive}}
	h := newHarness(t, harnessOpts{extra: map[string]*Principal{
		"inactive": {Key: k, Workspace: &WorkspacePolicy{ID: "wi", Inactive: true}},
		"both":     {Key: KeyPolicy{ID: "kb", State: keys.State{Status: keys.StatusActive}}, Workspace: &WorkspacePolicy{ID: "wb", Inactive: true, Suspended: true}},
	}})
	for _, who := range []string{"inactive", "both"} {
		for _, path := range []string{"/v1/chat/completions", "/v1/models"} {
			method, body := "POST", chatBody
			if path == "/v1/models" {
				method, body = "GET", ""
			}
			resp, got := h.do(t, who, method, path, body, nil)
			if resp.StatusCode != 403 || !strings.Contains(got, `"code":"workspace_inactive"`) {
				t.Fatalf("%s %s: %d %s, want 403 workspace_inactive", who, path, resp.StatusCode, got)
			}
			checkErrorRecord(t, h.rec.next(t), 403, "workspace_inactive")
		}
	}
	if h.upstreamCalls() != 0 || h.lim.reserves != 0 {
		t.Fatalf("an inactive workspace reached the upstream (%d) or the limiter (%d)", h.upstreamCalls(), h.lim.reserves)
	}
}
