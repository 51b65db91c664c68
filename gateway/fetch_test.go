package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/oais/oais/internal/keys"
)

// fetchingDirectory is a Directory whose memory lags its source: Lookup
// answers from mem, Fetch from src, and every Fetch is counted.
type fetchingDirectory struct {
	mem StaticDirectory
	src StaticDirectory

	mu      sync.Mutex
	fetches int
}

var _ Fetcher = (*fetchingDirectory)(nil)

func (d *fetchingDirectory) Lookup(h keys.Hash) (*Principal, bool) { return d.mem.Lookup(h) }

func (d *fetchingDirectory) Fetch(_ context.Context, h keys.Hash) (*Principal, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fetches++
	return d.src.Lookup(h)
}

// TestAuthenticateFetchesWhatMemoryMisses drives the real handler with a
// Directory that is also a Fetcher: Fetch is asked only for a well-formed
// key that memory does not know or refuses in a way the control plane can
// lift, and its answer decides.
func TestAuthenticateFetchesWhatMemoryMisses(t *testing.T) {
	active := func(id string, st keys.State) *Principal {
		if st.Status == "" {
			st.Status = keys.StatusActive
		}
		return &Principal{Key: KeyPolicy{ID: id, WorkspaceID: "ws_1", State: st}, Workspace: &WorkspacePolicy{ID: "ws_1"}}
	}
	revoked := keys.State{Status: keys.StatusRevoked, RevokeReason: keys.ReasonManual}
	cases := []struct {
		name     string
		mem, src *Principal // nil: absent
		mangle   bool       // send the key with a broken checksum
		fetches  int
		status   int
		code     string
	}{
		{"known and active", active("k", keys.State{}), active("k", keys.State{}), false, 0, 200, ""},
		{"created after the snapshot", nil, active("k", keys.State{}), false, 1, 200, ""},
		{"unknown everywhere", nil, nil, false, 1, 401, "invalid_api_key"},
		{"bad checksum", nil, active("k", keys.State{}), true, 0, 401, "invalid_api_key"},
		{"stored revoked", nil, active("k", revoked), false, 1, 401, "api_key_revoked"},
		{"un-revoked since the snapshot", active("k", revoked), active("k", keys.State{}), false, 1, 200, ""},
		{"re-enabled since the snapshot", active("k", keys.State{Status: keys.StatusDisabled}), active("k", keys.State{}), false, 1, 200, ""},
		{"still revoked", active("k", revoked), active("k", revoked), false, 1, 401, "api_key_revoked"},
		{"revoked, then gone", active("k", revoked), nil, false, 1, 401, "api_key_revoked"},
		{"revoked as leaked: final", active("k", keys.State{Status: keys.StatusRevoked, RevokeReason: keys.ReasonLeaked}), active("k", keys.State{}), false, 0, 401, "api_key_revoked"},
		{"request budget spent: not a key change", active("k", keys.State{MaxRequests: 1, RequestCount: 1}), active("k", keys.State{}), false, 0, 429, "key_request_limit_reached"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sec, err := keys.Generate()
			if err != nil {
				t.Fatal(err)
			}
			d := &fetchingDirectory{mem: StaticDirectory{}, src: StaticDirectory{}}
			if c.mem != nil {
				d.mem[sec.Hash()] = c.mem
			}
			if c.src != nil {
				d.src[sec.Hash()] = c.src
			}
			secret := sec.Reveal()
			if c.mangle {
				b := []byte(secret)
				b[len(b)-1] ^= 1
				if secret = string(b); keys.Valid(secret) {
					t.Skip("the flipped bit kept the checksum valid")
				}
			}
			g := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, Deps{Directory: d, Limiter: newFakeLimiter(), Recorder: newFakeRecorder()})
			t.Cleanup(func() { _ = g.Close() })
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody))
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			g.Handler().ServeHTTP(w, req)
			if w.Code != c.status || (c.code != "" && !strings.Contains(w.Body.String(), `"`+c.code+`"`)) {
				t.Errorf("got %d %s, want %d %s", w.Code, w.Body, c.status, c.code)
			}
			if d.fetches != c.fetches {
				t.Errorf("%d fetches, want %d", d.fetches, c.fetches)
			}
		})
	}
}
