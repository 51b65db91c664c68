package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oais/oais/internal/keys"
)

// settled waits until the limiter has settled n reservations: the handler
// settles just after writing its answer, so a client can read the answer
// first. The bound only keeps a broken test from hanging.
func (l *fakeLimiter) settled(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		got := len(l.settles)
		l.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d reservations settled", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// resetUpstream is an upstream that drops every connection without an
// answer: the gateway answers 502.
func resetUpstream(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(s.Close)
	return s.URL + "/v1"
}

// limitPrincipals are principals with tight limits, by name.
func limitPrincipals() map[string]*Principal {
	key := func(id string) KeyPolicy {
		return KeyPolicy{ID: id, WorkspaceID: "ws_" + id, State: keys.State{Status: keys.StatusActive}}
	}
	wsRPM := key("ws_rpm2")
	keyRPM := key("key_rpm2")
	keyRPM.RPM = 2
	cacheWS := key("cache_ws_rpm2")
	cacheWS.CacheEnabled, cacheWS.CacheTTL = true, time.Hour
	cacheKey := key("cache_key_rpm2")
	cacheKey.CacheEnabled, cacheKey.CacheTTL, cacheKey.RPM = true, time.Hour, 2
	cacheMax := key("cache_max2")
	cacheMax.CacheEnabled, cacheMax.CacheTTL, cacheMax.State.MaxRequests = true, time.Hour, 2
	cacheBudget := key("cache_budget")
	cacheBudget.CacheEnabled, cacheBudget.CacheTTL = true, time.Hour
	return map[string]*Principal{
		"ws_rpm2":        {Key: wsRPM, Workspace: &WorkspacePolicy{ID: "ws_ws_rpm2", RPM: 2}},
		"key_rpm2":       {Key: keyRPM, Workspace: &WorkspacePolicy{ID: "ws_key_rpm2"}},
		"cache_ws_rpm2":  {Key: cacheWS, Workspace: &WorkspacePolicy{ID: "ws_cache_ws_rpm2", RPM: 2}},
		"cache_key_rpm2": {Key: cacheKey, Workspace: &WorkspacePolicy{ID: "ws_cache_key_rpm2"}},
		"cache_max2":     {Key: cacheMax, Workspace: &WorkspacePolicy{ID: "ws_cache_max2"}},
		"cache_budget": {Key: cacheBudget, Workspace: &WorkspacePolicy{ID: "ws_cache_budget", RPM: 100, TPM: 1_000_000,
			MonthlyTokenQuota: 1_000_000, MonthlySpendCapMicros: 1_000_000}},
		"tpm1000": {Key: key("tpm1000"), Workspace: &WorkspacePolicy{ID: "ws_tpm1000", TPM: 1000}},
	}
}

// TestFailedRequestsCountAgainstRPM: a request the upstream refuses, or
// that never gets an answer, still spent a request of the workspace's and
// the key's rate (and of the shared upstream's). With an RPM of 2, two
// failures leave no room for a third request.
func TestFailedRequestsCountAgainstRPM(t *testing.T) {
	tests := []struct {
		name, who string
		hdr       map[string]string
		reset     bool // the upstream drops the connection: 502
		status    int
	}{
		{name: "workspace rpm, upstream 500", who: "ws_rpm2", hdr: map[string]string{"X-Mock-Status": "500"}, status: 500},
		{name: "workspace rpm, upstream 429", who: "ws_rpm2", hdr: map[string]string{"X-Mock-Status": "429"}, status: 429},
		{name: "workspace rpm, upstream 400", who: "ws_rpm2", hdr: map[string]string{"X-Mock-Status": "400"}, status: 400},
		{name: "workspace rpm, upstream unreachable", who: "ws_rpm2", reset: true, status: 502},
		{name: "key rpm, upstream 500", who: "key_rpm2", hdr: map[string]string{"X-Mock-Status": "500"}, status: 500},
		{name: "key rpm, upstream unreachable", who: "key_rpm2", reset: true, status: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := harnessOpts{extra: limitPrincipals()}
			if tt.reset {
				o.upstreamURL = resetUpstream(t)
			}
			h := newHarness(t, o)
			for i := range 2 {
				resp, body := h.do(t, tt.who, "POST", "/v1/chat/completions", chatBody, tt.hdr)
				if resp.StatusCode != tt.status {
					t.Fatalf("request %d: status %d, want %d: %s", i+1, resp.StatusCode, tt.status, body)
				}
			}
			h.lim.settled(t, 2)
			for range 2 { // the two failures are usage errors
				if r := h.rec.next(t); r.ErrorCode == "" || r.CostMicros != 0 {
					t.Fatalf("failed request recorded as %+v, want a zero-cost error", r)
				}
			}
			calls := h.upstreamCalls()
			resp, body := h.do(t, tt.who, "POST", "/v1/chat/completions", chatBody, nil)
			if resp.StatusCode != 429 || decodeErr(t, body).Error.Code != "rate_limit_exceeded" {
				t.Fatalf("third request within the minute: %d %s, want 429 rate_limit_exceeded", resp.StatusCode, body)
			}
			if h.upstreamCalls() != calls {
				t.Fatal("the refused request reached the upstream")
			}
			// The refusal is usage too, as an error: no tokens, no cost.
			if n := h.rec.count(); n != 3 {
				t.Fatalf("%d records for two failures and a refusal, want 3", n)
			}
			if r := h.rec.next(t); r.ErrorCode != "rate_limit_exceeded" || r.CostMicros != 0 || r.TotalTokens() != 0 {
				t.Fatalf("refusal recorded as %+v, want a zero-cost rate_limit_exceeded error", r)
			}
		})
	}
}

// TestCacheHitsCountAgainstRequests: an answer from the cache is a request
// (RPM, workspace and key, and a key's maxRequests, which the ledger counts
// cache hits in), but costs no upstream tokens: TPM and the spend cap do
// not move; the month's token quota counts the hit's tokens after the
// fact, as the ledger does.
func TestCacheHitsCountAgainstRequests(t *testing.T) {
	t.Run("request limits", func(t *testing.T) {
		for _, tt := range []struct{ who, code string }{
			{"cache_ws_rpm2", "rate_limit_exceeded"},
			{"cache_key_rpm2", "rate_limit_exceeded"},
			{"cache_max2", "key_request_limit_reached"},
		} {
			t.Run(tt.who, func(t *testing.T) {
				h := newHarness(t, harnessOpts{extra: limitPrincipals()})
				r1, _ := h.do(t, tt.who, "POST", "/v1/chat/completions", chatBody, nil)
				h.rec.next(t)
				r2, _ := h.do(t, tt.who, "POST", "/v1/chat/completions", chatBody, nil)
				if r1.StatusCode != 200 || r2.StatusCode != 200 || r2.Header.Get("X-Oais-Cache") != "hit" {
					t.Fatalf("statuses %d %d, second cache %q", r1.StatusCode, r2.StatusCode, r2.Header.Get("X-Oais-Cache"))
				}
				h.rec.next(t)
				r3, body := h.do(t, tt.who, "POST", "/v1/chat/completions", chatBody, nil)
				if r3.StatusCode != 429 || decodeErr(t, body).Error.Code != tt.code {
					t.Fatalf("third request (a cache hit) %d %s, want 429 %s", r3.StatusCode, body, tt.code)
				}
				if r3.Header.Get("X-Oais-Cache") != "" || h.upstreamCalls() != 1 {
					t.Fatalf("refused hit served: cache %q, %d upstream calls", r3.Header.Get("X-Oais-Cache"), h.upstreamCalls())
				}
				// Only its error record, zero-cost.
				if r := h.rec.next(t); r.ErrorCode != tt.code || r.CostMicros != 0 || r.CacheHit {
					t.Fatalf("refused hit recorded as %+v, want a zero-cost %s error", r, tt.code)
				}
			})
		}
	})
	t.Run("no tokens or money", func(t *testing.T) {
		h := newHarness(t, harnessOpts{extra: limitPrincipals()})
		month := time.Now().UTC().Format("2006-01")
		counters := []string{"ws:{ws_cache_budget}:tpm", "ws:{ws_cache_budget}:tokens:" + month, "ws:{ws_cache_budget}:spend:" + month}
		h.do(t, "cache_budget", "POST", "/v1/chat/completions", chatBody, nil)
		h.rec.next(t)
		h.lim.settled(t, 1)
		before := map[string]int64{}
		for _, k := range counters {
			if before[k] = h.lim.value(k); before[k] <= 0 {
				t.Fatalf("%s is %d after an answered request", k, before[k])
			}
		}
		rpm := h.lim.value("ws:{ws_cache_budget}:rpm")
		for range 3 {
			resp, _ := h.do(t, "cache_budget", "POST", "/v1/chat/completions", chatBody, nil)
			if resp.Header.Get("X-Oais-Cache") != "hit" {
				t.Fatal("not a cache hit")
			}
			h.rec.next(t)
		}
		h.lim.settled(t, 4)
		// The month's token budget counts a hit's tokens, as the ledger
		// does (its counters are a cache of the ledger); the rolling TPM
		// and the spend cap do not move: a hit costs no upstream tokens.
		tokens := "ws:{ws_cache_budget}:tokens:" + month
		for _, k := range counters {
			want := before[k]
			if k == tokens {
				want = before[k] * 4
			}
			if v := h.lim.value(k); v != want {
				t.Errorf("%s moved %d -> %d on 3 cache hits, want %d", k, before[k], v, want)
			}
		}
		if v := h.lim.value("ws:{ws_cache_budget}:rpm"); v != rpm+3 {
			t.Errorf("rpm %d -> %d after 3 cache hits", rpm, v)
		}
	})
}

// TestChoicesReserveProportionally: n and best_of make the upstream write
// that many completions (best_of of them, returning n), each up to
// max_tokens, so the reservation against TPM is that many times
// max_tokens. With a TPM of 1000 and max_tokens 300, three fit, four do not.
func TestChoicesReserveProportionally(t *testing.T) {
	tests := []struct {
		name, path, extra string
		status            int
	}{
		{"one", "/v1/completions", ``, 200},
		{"n 3", "/v1/completions", `,"n":3`, 200},
		{"n 4", "/v1/completions", `,"n":4`, 429},
		{"best_of 3", "/v1/completions", `,"best_of":3`, 200},
		{"best_of 4", "/v1/completions", `,"best_of":4`, 429},
		{"best_of 4, n 2", "/v1/completions", `,"best_of":4,"n":2`, 429},
		{"best_of 1, n 4", "/v1/completions", `,"best_of":1,"n":4`, 429},
		{"best_of 2^62", "/v1/completions", `,"best_of":4611686018427387904`, 429},
		{"chat, best_of 4", "/v1/chat/completions", `,"best_of":4`, 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{extra: limitPrincipals()})
			body := `{"model":"gpt-4o-mini","max_tokens":300` + tt.extra + `,"prompt":"hi"}`
			if tt.path == "/v1/chat/completions" {
				body = `{"model":"gpt-4o-mini","max_tokens":300` + tt.extra + `,"messages":[{"role":"user","content":"hi"}]}`
			}
			resp, raw := h.do(t, "tpm1000", "POST", tt.path, body, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, raw)
			}
			if tt.status == 429 && decodeErr(t, raw).Error.Code != "rate_limit_exceeded" {
				t.Fatalf("%s", raw)
			}
		})
	}
}
