package run

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/groups"
	"github.com/oais/oais/internal/pricing"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

// world is one store with a workspace, shared by several gateways.
type world struct {
	st   *store.Store
	ctx  context.Context // the workspace's owner, a site admin
	wsID string
	svc  *apikeys.Service
}

func newWorld(t *testing.T) *world {
	t.Helper()
	st := storetest.SQLite(t)
	sys := viewer.SystemContext(context.Background())
	u, err := st.Ent.User.Create().SetEmail("admin@example.com").SetSiteAdmin(true).Save(sys)
	if err != nil {
		t.Fatal(err)
	}
	ctx := viewer.NewContext(context.Background(), &viewer.Viewer{UserID: u.ID, Email: u.Email, SiteAdmin: true, Roles: map[string]viewer.Role{}})
	ws, err := workspaces.Create(ctx, st.Ent, "acme")
	if err != nil {
		t.Fatal(err)
	}
	// workspaces.Create made the viewer its owner; the context must say so.
	ctx = viewer.NewContext(context.Background(), &viewer.Viewer{UserID: u.ID, Email: u.Email, SiteAdmin: true,
		Roles: map[string]viewer.Role{ws.ID: viewer.RoleOwner}})
	return &world{st: st, ctx: ctx, wsID: ws.ID, svc: &apikeys.Service{}}
}

// key creates a key with settings and returns its secret and id.
func (w *world) key(t *testing.T, st apikeys.Settings) (secret, id string) {
	t.Helper()
	c, err := w.svc.Create(w.ctx, w.st.Ent, apikeys.CreateParams{WorkspaceID: w.wsID, Label: "k", Settings: st})
	if err != nil {
		t.Fatal(err)
	}
	return c.Secret.Reveal(), c.Key.ID
}

func (w *world) group(t *testing.T, name string, bps, rpm int64) string {
	t.Helper()
	g, err := groups.Create(w.ctx, w.st.Ent, groups.Params{Name: &name, PriceMultiplierBps: &bps, RPM: &rpm})
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}

// gateway opens a gateway on w's store, named name ("" for unnamed).
func (w *world) gateway(t *testing.T, name string) *testGateway {
	t.Helper()
	env := map[string]string{
		"OAIS_DATABASE_URL": w.st.URL.String(),
		"OAIS_SPOOL_DIR":    t.TempDir(),
		"OAIS_GATEWAY_ADDR": "127.0.0.1:0",
	}
	if name != "" {
		env["OAIS_GATEWAY_NAME"] = name
	}
	cfg, err := Load(config.Map(env))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	g, err := Open(t.Context(), cfg, config.Logger(logs, "text", "info"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	srv := httptest.NewServer(g.Handler)
	t.Cleanup(srv.Close)
	srv.Client().Timeout = waitBound
	return &testGateway{Gateway: g, srv: srv, logs: logs}
}

func (g *testGateway) as(key string) *testGateway { c := *g; c.key = key; return &c }

// errCode returns the OpenAI error code of a refusal's body.
func errCode(body string) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error.Code
}

// TestGatewayNameBindsKey: a key bound to eu-prod works there and is
// answered 401 invalid_api_key by us-prod and by an unnamed gateway on the
// same store, as a stolen key replayed at another gateway would be; a key
// bound to none works everywhere.
func TestGatewayNameBindsKey(t *testing.T) {
	w := newWorld(t)
	eu := "eu-prod"
	bound, id := w.key(t, apikeys.Settings{GatewayName: &eu})
	free, _ := w.key(t, apikeys.Settings{})
	gws := map[string]*testGateway{"eu-prod": w.gateway(t, "eu-prod"), "us-prod": w.gateway(t, "us-prod"), "unnamed": w.gateway(t, "")}
	for _, tc := range []struct {
		gw, key, name string
		status        int
	}{
		{"eu-prod", bound, "bound key on its gateway", http.StatusOK},
		{"us-prod", bound, "bound key on another gateway", http.StatusUnauthorized},
		{"unnamed", bound, "bound key on an unnamed gateway", http.StatusUnauthorized},
		{"eu-prod", free, "free key on a named gateway", http.StatusOK},
		{"us-prod", free, "free key on another named gateway", http.StatusOK},
		{"unnamed", free, "free key on an unnamed gateway", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := gws[tc.gw].as(tc.key).chat(t.Context(), false, nil)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == http.StatusUnauthorized && errCode(r.body) != "invalid_api_key" {
				t.Fatalf("code %q, want invalid_api_key: %s", errCode(r.body), r.body)
			}
		})
	}

	// Re-binding the key moves it: eu-prod refuses it, us-prod takes it,
	// at their next poll.
	for _, g := range gws {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); _ = g.Snapshot.Follow(ctx) }()
		defer func() { cancel(); <-done }()
	}
	us := "us-prod"
	if _, err := w.svc.Update(w.ctx, w.st.Ent, id, apikeys.UpdateParams{GatewayName: &us}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "us-prod to accept the re-bound key", func() bool {
		return gws["us-prod"].as(bound).chat(t.Context(), false, nil).status == http.StatusOK
	})
	waitUntil(t, "eu-prod to refuse the re-bound key", func() bool {
		return gws["eu-prod"].as(bound).chat(t.Context(), false, nil).status == http.StatusUnauthorized
	})
}

// TestGatewayHeartbeat: a named gateway reports itself at once, and again
// later, in the gateways table Query.gateways lists.
func TestGatewayHeartbeat(t *testing.T) {
	w := newWorld(t)
	g := w.gateway(t, "eu-prod")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.heartbeat(ctx, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	sys := viewer.SystemContext(t.Context())
	var first time.Time
	waitUntil(t, "the first heartbeat", func() bool {
		gw, err := w.st.Ent.Gateway.Query().Only(sys)
		if err == nil && gw.Name == "eu-prod" {
			first = gw.LastSeenAt
			return true
		}
		return false
	})
	waitUntil(t, "a later heartbeat to move last_seen_at", func() bool {
		gw, err := w.st.Ent.Gateway.Query().Only(sys)
		return err == nil && gw.LastSeenAt.After(first)
	})
	if n, err := w.st.Ent.Gateway.Query().Count(sys); err != nil || n != 1 {
		t.Fatalf("%d gateway rows (%v), want 1: a beat upserts", n, err)
	}
}

// lastUsage ships g's spool and returns key id's latest answered ledger row.
func (g *testGateway) lastUsage(t *testing.T, id string) (cost, prompt, cached, completion int64) {
	t.Helper()
	g.ledgerRows(t)
	row := g.Store.DB.QueryRowContext(t.Context(), `SELECT cost_micros, prompt_tokens, cached_tokens, completion_tokens FROM usage_events
WHERE api_key_id = $1 AND COALESCE(error_code, '') = '' ORDER BY id DESC LIMIT 1`, id)
	if err := row.Scan(&cost, &prompt, &cached, &completion); err != nil {
		t.Fatalf("ledger row of key %s: %v", id, err)
	}
	return
}

func gpt4oMini(t *testing.T) pricing.Price {
	t.Helper()
	price, _, ok := pricing.Defaults().Lookup("gpt-4o-mini")
	if !ok {
		t.Fatal("gpt-4o-mini has no default price")
	}
	return price
}

// TestGroupMultiplierInLedger: a key in a 15,000 bps group is billed 1.5×
// the exact list price, rounded up once, to the micro-dollar; a key with no
// group of its own pays its workspace's group; a key's group wins over the
// workspace's.
func TestGroupMultiplierInLedger(t *testing.T) {
	w := newWorld(t)
	plus50 := w.group(t, "plus-50", 15_000, 0)
	double := w.group(t, "double", 20_000, 0)
	list := w.group(t, "list", pricing.ListBps, 0)
	if _, err := groups.SetWorkspace(w.ctx, w.st.Ent, w.wsID, &double); err != nil {
		t.Fatal(err)
	}
	gw := w.gateway(t, "")
	price := gpt4oMini(t)
	for _, tc := range []struct {
		name  string
		group *string
		bps   int64
	}{
		{"no key group: the workspace's 2x", nil, 20_000},
		{"key group 1.5x wins over the workspace's", &plus50, 15_000},
		{"key group at list price wins over the workspace's", &list, pricing.ListBps},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec, id := w.key(t, apikeys.Settings{GroupID: tc.group})
			if r := gw.as(sec).chat(t.Context(), false, nil); r.err != nil || r.status != http.StatusOK {
				t.Fatalf("status %d: %v %s", r.status, r.err, r.body)
			}
			cost, prompt, cached, completion := gw.lastUsage(t, id)
			if want := price.CostAt(tc.bps, prompt, cached, completion); cost != want {
				t.Fatalf("ledger cost %d µ$, want %d (%d bps; list %d µ$ for %d+%d tokens)", cost, want, tc.bps,
					price.Cost(prompt, cached, completion), prompt, completion)
			}
			if tc.bps == 15_000 {
				// 1.5× to the micro-dollar: ceil(1.5 × the exact list cost),
				// computed here from the rates, not by CostAt.
				exact := 15_000 * ((prompt-cached)*price.InputMicrosPerMTok + cached*price.CachedInputMicrosPerMTok + completion*price.OutputMicrosPerMTok)
				if want := (exact + 10_000_000_000 - 1) / 10_000_000_000; cost != want {
					t.Fatalf("ledger cost %d µ$, want ceil(1.5 × list) = %d", cost, want)
				}
				if cost == price.Cost(prompt, cached, completion) {
					t.Fatalf("cost %d µ$ is list price: the multiplier was not applied", cost)
				}
			}
		})
	}
}

// TestGroupChangeFollowed: an admin's edit of a group's multiplier reaches
// a running gateway like a key change.
func TestGroupChangeFollowed(t *testing.T) {
	w := newWorld(t)
	gid := w.group(t, "g", pricing.ListBps, 0)
	sec, id := w.key(t, apikeys.Settings{GroupID: &gid})
	gw := w.gateway(t, "")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = gw.Snapshot.Follow(ctx) }()
	defer func() { cancel(); <-done }()
	bps := int64(30_000)
	if _, err := groups.Update(w.ctx, w.st.Ent, gid, groups.Params{PriceMultiplierBps: &bps}); err != nil {
		t.Fatal(err)
	}
	price := gpt4oMini(t)
	waitUntil(t, "the gateway to bill the new multiplier", func() bool {
		if r := gw.as(sec).chat(t.Context(), false, nil); r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		cost, prompt, cached, completion := gw.lastUsage(t, id)
		return cost == price.CostAt(bps, prompt, cached, completion)
	})
}

// TestGroupRPMLimitsKeyWithoutOwn: a group's RPM is the limit of its keys
// that have none of their own (the third request in a minute is refused),
// while a key's own RPM wins.
func TestGroupRPMLimitsKeyWithoutOwn(t *testing.T) {
	w := newWorld(t)
	gid := w.group(t, "two-a-minute", pricing.ListBps, 2)
	noOwn, _ := w.key(t, apikeys.Settings{GroupID: &gid})
	five := int64(5)
	own, _ := w.key(t, apikeys.Settings{GroupID: &gid, RPM: &five})
	gw := w.gateway(t, "")
	for i := 1; i <= 3; i++ {
		r := gw.as(noOwn).chat(t.Context(), false, nil)
		want := http.StatusOK
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if r.status != want {
			t.Fatalf("request %d of the key without its own RPM: status %d, want %d: %s", i, r.status, want, r.body)
		}
		if i == 3 && !strings.Contains(r.body, "rate_limit") {
			t.Fatalf("refusal is not a rate limit: %s", r.body)
		}
	}
	for i := 1; i <= 3; i++ {
		if r := gw.as(own).chat(t.Context(), false, nil); r.status != http.StatusOK {
			t.Fatalf("request %d of the key with its own RPM 5: status %d: %s", i, r.status, r.body)
		}
	}
}
