package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/keys"
)

// TestWorkspaceUpstream sends a workspace with its own upstream there, with
// its own secret, while other workspaces still reach the global upstream.
// The upstream is on loopback, which the operator allows here
// (OAIS_UPSTREAM_ALLOWED_NETWORKS).
func TestWorkspaceUpstream(t *testing.T) {
	var hits atomic.Int32
	var gotAuth atomic.Value
	own := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		gotAuth.Store(r.Header.Get("Authorization"))
		if r.URL.Path != "/custom/v1/chat/completions" {
			http.Error(w, "wrong path "+r.URL.Path, 404)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","model":"own-model","choices":[{"index":0,"message":{"role":"assistant","content":"from own upstream"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`)
	}))
	defer own.Close()
	base, _ := url.Parse(own.URL + "/custom/v1/")
	p := &Principal{
		Key:       KeyPolicy{ID: "key_own", WorkspaceID: "ws_own", State: keys.State{Status: keys.StatusActive}},
		Workspace: &WorkspacePolicy{ID: "ws_own", Upstream: &Upstream{BaseURL: base, Authorization: "Bearer sk-workspace-own"}},
	}
	h := newHarness(t, harnessOpts{extra: map[string]*Principal{"own": p},
		cfg: Config{Egress: &egress.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}})

	resp, body := h.do(t, "own", "POST", "/v1/chat/completions", chatBody, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "from own upstream") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if hits.Load() != 1 || gotAuth.Load() != "Bearer sk-workspace-own" {
		t.Fatalf("own upstream hits=%d auth=%v", hits.Load(), gotAuth.Load())
	}
	resp, body = h.do(t, "active", "POST", "/v1/chat/completions", chatBody, nil)
	if resp.StatusCode != 200 || strings.Contains(body, "from own upstream") || hits.Load() != 1 {
		t.Fatalf("other workspace went to the wrong upstream: %d %s", resp.StatusCode, body)
	}
}
