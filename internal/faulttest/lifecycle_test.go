package faulttest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestKeyLifecycleReachesGateways: issue 16's changes reach running
// gateway processes within the revocation bound (1 s after the mutation
// returns; the key snapshot follows updated_at, and NOTIFY on PostgreSQL),
// with no restart: two gateways sharing a private Redis serve a key while
// it is edited through GraphQL (allowed models, IP allow-list), spends its
// credit quota until refused and is topped up, has its workspace switched
// off and on, is deleted; and a key that reached its maxRequests is reset,
// after which the shared budget serves it again and holds again, although
// Redis's budget counters never go down.
func TestKeyLifecycleReachesGateways(t *testing.T) {
	needBinaries(t)
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + t.TempDir() + "/oais.db" }},
		{"postgres", func(t *testing.T) string { return StartPostgres(t).URL() }},
	} {
		t.Run(db.name, func(t *testing.T) { keyLifecycle(t, db.name, db.url(t)) })
	}
}

func keyLifecycle(t *testing.T, dbName, dbURL string) {
	r := StartRedis(t)
	c := startCluster(t, dbURL)
	gws := []*gw{c.startGateway("gw1", "OAIS_REDIS_URL="+r.URL()), c.startGateway("gw2", "OAIS_REDIS_URL="+r.URL())}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	token := c.signIn(t)
	ws := firstWorkspace(t, c, token)
	id, secret := createKey(t, c, token, ws, "lifecycle")
	for _, g := range gws {
		if a := chat(ctx, g.url, secret, false, nil); !a.complete {
			t.Fatalf("%s: new key not served: %d %s", g.name, a.status, a.body)
		}
	}
	mutate := func(what, query string, vars map[string]any) time.Time {
		t.Helper()
		_, g, err := graphql(c.cpURL, token, query, vars)
		if err != nil || len(g.Errors) > 0 {
			t.Fatalf("%s: %v %s", what, err, errorsText(g))
		}
		return time.Now()
	}
	const update = `mutation($id:ID!, $in:UpdateAPIKeyInput!){ updateAPIKey(id:$id, input:$in){ id } }`
	// every waits until each gateway answers key with status and code,
	// within 1 s of the mutation that returned at since.
	every := func(what, key string, since time.Time, status int, code string) {
		t.Helper()
		for _, g := range gws {
			took, err := answeredWithin(ctx, g, key, since, time.Second, status, code)
			if err != "" {
				t.Errorf("%s: %s", what, err)
				continue
			}
			t.Logf("FIGURE %s: %s answered %d %s %v after %s returned", dbName, g.name, status, code, took.Round(time.Millisecond), what)
		}
	}

	at := mutate("edit the allowed models", update, map[string]any{"id": id, "in": map[string]any{"allowedModels": []string{"not-the-model-asked-for"}}})
	every("edit allowedModels", secret, at, 403, "model_not_allowed")
	at = mutate("edit the IP allow-list", update, map[string]any{"id": id, "in": map[string]any{"allowedModels": []string{}, "ipAllowlist": []string{"203.0.113.0/24"}}})
	every("edit ipAllowlist", secret, at, 403, "ip_not_allowed")
	at = mutate("clear the IP allow-list", update, map[string]any{"id": id, "in": map[string]any{"ipAllowlist": []string{}}})
	every("clear ipAllowlist", secret, at, 200, "")

	// The credit quota: spend one cent, sequentially on both gateways,
	// until refused; the ledger then holds at most the cent (below). A
	// request is admitted only if its worst case fits in what is left, and
	// a settlement lands just after its answer: a refusal while the last
	// request's worst case is still reserved may be followed by an answer,
	// so the quota is spent when refusals persist after settlements land.
	at = mutate("set a 1-cent credit quota", update, map[string]any{"id": id, "in": map[string]any{"creditQuotaCents": 1}})
	every("set creditQuotaCents", secret, at, 200, "")
	// A gateway serves without reserving until it learns of the quota
	// (milliseconds, as the figures above show): what it served until then
	// reaches the counter only through the ledger's floor. A request whose
	// worst case no cent covers (max_tokens 10^8) is refused from the
	// moment a gateway knows; until both do, such probes are served (the
	// mock answers a few tokens) and count among the requests the quota
	// arrived after.
	for _, g := range gws {
		for i := 0; ; i++ {
			a := chatRaw(ctx, g.url, secret, `{"model":"gpt-4o-mini","max_tokens":100000000,"messages":[{"role":"user","content":"Say something short about reliability."}]}`, false, nil)
			if a.status == 429 && errorCode(a.body) == "insufficient_quota" {
				break
			}
			if !a.complete || i == 500 {
				t.Fatalf("%s: a request no cent covers: %d %v %s", g.name, a.status, a.err, a.body)
			}
			time.Sleep(10 * time.Millisecond) // each one served costs the allowance 7 µ$
		}
	}
	quotaKnown := time.Now()
	spent, refusals := 0, 0
	for i := 0; refusals < 3 && i < 5000; i++ {
		a := chat(ctx, gws[i%2].url, secret, false, nil)
		switch {
		case a.status == 429 && errorCode(a.body) == "insufficient_quota":
			refusals++
			time.Sleep(100 * time.Millisecond) // let settlements land
		case a.complete:
			spent++
			refusals = 0
		default:
			t.Fatalf("spending the credit: %d %v %s", a.status, a.err, a.body)
		}
	}
	t.Logf("FIGURE %s: a 1-cent credit quota served %d requests, then 429 insufficient_quota", dbName, spent)
	// For the bound below, if it fails: whether a gateway decided on its
	// own (Redis unreachable) meanwhile.
	fallbacks := make([]float64, len(gws))
	for i, g := range gws {
		fallbacks[i] = g.metric("oais_ratelimit_fallback_total")
	}
	if spent == 0 || refusals < 3 {
		t.Fatalf("the credit quota: %d answered, %d refusals in a row", spent, refusals)
	}
	for _, g := range gws {
		if a := chat(ctx, g.url, secret, false, nil); a.status != 429 || errorCode(a.body) != "insufficient_quota" {
			t.Errorf("%s serves a key whose credit is spent: %d %s", g.name, a.status, a.body)
		}
	}
	toppedUp := time.Now()
	at = mutate("top up the credit quota", update, map[string]any{"id": id, "in": map[string]any{"creditQuotaCents": 100}})
	every("top up creditQuotaCents", secret, at, 200, "")

	// The workspace switched off, and on.
	const setActive = `mutation($w:ID!, $a:Boolean!){ setWorkspaceActive(workspaceID:$w, active:$a){ id } }`
	at = mutate("deactivate the workspace", setActive, map[string]any{"w": ws, "a": false})
	every("setWorkspaceActive false", secret, at, 403, "workspace_inactive")
	at = mutate("activate the workspace", setActive, map[string]any{"w": ws, "a": true})
	every("setWorkspaceActive true", secret, at, 200, "")

	// A key at its maxRequests, on a budget both gateways share, is reset.
	_, made, err := graphql(c.cpURL, token, `mutation($w:ID!){ createAPIKey(input:{workspaceID:$w, label:"limited", maxRequests:3}){ secret apiKey { id } } }`,
		map[string]any{"w": ws})
	var v struct {
		CreateAPIKey struct {
			Secret string
			APIKey struct{ ID string } `json:"apiKey"`
		} `json:"createAPIKey"`
	}
	if err != nil || json.Unmarshal(made.Data, &v) != nil || v.CreateAPIKey.Secret == "" {
		t.Fatalf("createAPIKey: %v %s", err, errorsText(made))
	}
	limitedID, limited := v.CreateAPIKey.APIKey.ID, v.CreateAPIKey.Secret
	for i, g := range []*gw{gws[0], gws[0], gws[1]} {
		if a := chat(ctx, g.url, limited, false, nil); !a.complete {
			t.Fatalf("request %d of 3 on %s: %d %s", i+1, g.name, a.status, a.body)
		}
	}
	for _, g := range gws {
		if a := chat(ctx, g.url, limited, false, nil); a.status != 429 || !strings.Contains(string(a.body), "key_request_limit_reached") {
			t.Fatalf("%s: a 4th request of 3: %d %s, want 429 key_request_limit_reached", g.name, a.status, a.body)
		}
	}
	at = mutate("reset the request count", `mutation($id:ID!){ resetAPIKeyRequestCount(id:$id){ requestCount } }`, map[string]any{"id": limitedID})
	every("resetAPIKeyRequestCount", limited, at, 200, "") // two of the new 3: one per gateway
	if a := chat(ctx, gws[0].url, limited, false, nil); !a.complete {
		t.Errorf("the third request after the reset: %d %s", a.status, a.body)
	}
	for _, g := range gws {
		if a := chat(ctx, g.url, limited, false, nil); a.status != 429 {
			t.Errorf("%s: a 4th request after the reset: %d %s, want 429: the new budget is shared and holds", g.name, a.status, a.body)
		}
	}

	// Deleted: unknown to every gateway, its usage kept.
	at = mutate("delete the key", `mutation($id:ID!){ deleteAPIKey(id:$id) }`, map[string]any{"id": id})
	every("deleteAPIKey", secret, at, 401, "invalid_api_key")
	for _, g := range gws {
		g.stop() // ships the spool
	}
	st, err := openRetrying(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var rows, cost int64
	if err := st.DB.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(cost_micros), 0) FROM usage_events WHERE api_key_id = $1 AND error_code IS NULL`, id).Scan(&rows, &cost); err != nil {
		t.Fatal(err)
	}
	if rows < int64(spent) {
		t.Errorf("the deleted key has %d answered rows in the ledger, want at least the %d that spent its credit", rows, spent)
	}
	t.Logf("FIGURE %s: the deleted key's ledger keeps %d answered rows, %d µ$", dbName, rows, cost)
	// The quota is all time: what the key spent before the top-up is at
	// most the cent, plus what its counter could not know of when the
	// quota arrived (answers before both gateways knew of it, not shipped
	// yet: the ledger's floor adds them within 30 s, docs/billing.md).
	// The answers of the milliseconds the quota took to reach the gateways
	// are as unknown to the counter as those before the mutation. (CI met
	// 10,080 µ$ once against the older bound, 97 answers more than runs
	// here give, which those milliseconds do not explain: the failure now
	// says whether a gateway decided without Redis meanwhile.)
	var before, unknown int64
	q := `SELECT COALESCE(SUM(cost_micros), 0) FROM usage_events WHERE api_key_id = $1 AND occurred_at < $2`
	if err := st.DB.QueryRowContext(ctx, q, id, toppedUp.UTC()).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if err := st.DB.QueryRowContext(ctx, q, id, quotaKnown.UTC()).Scan(&unknown); err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURE %s: spent %d µ$ under a 10,000 µ$ credit quota (%d µ$ of it before both gateways knew of the quota)", dbName, before, unknown)
	if before > 10_000+unknown {
		t.Errorf("the key spent %d µ$ under a 1-cent quota: over by more than the %d µ$ spent before the gateways knew of it (%d answered; requests decided without Redis, per gateway: %v)",
			before, unknown, spent, fallbacks)
	}
}

// answeredWithin polls key on g until it answers status (with code in the
// error body, when code is set) and returns how long after since that
// was; past bound (counted from since) it returns why not.
func answeredWithin(ctx context.Context, g *gw, key string, since time.Time, bound time.Duration, status int, code string) (time.Duration, string) {
	ctx, cancel := context.WithDeadline(ctx, since.Add(bound))
	defer cancel()
	var last answer
	for {
		a := chat(ctx, g.url, key, false, nil)
		if a.err == nil {
			last = a
			if a.status == status && (code == "" || errorCode(a.body) == code) && (status != 200 || a.complete) {
				return time.Since(since), ""
			}
		}
		select {
		case <-ctx.Done():
			return 0, g.name + " did not answer " + code + " within " + bound.String() + " (last answer " + string(last.body) + ")"
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// errorCode is the error.code of an OpenAI-shaped error body.
func errorCode(body []byte) string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Code
}
