package graphqltest

import (
	"context"
	"testing"
	"time"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

// TestKeyLifecycleIssue16 drives issue 16's key lifecycle through the API:
// lifetimes in hours, editing every setting with its validation, the credit
// quota and its top-up, an expired key that stays expired, a revoked key
// that comes back, resetting a rate-limited key, deleting a key, and a
// workspace its owner switches off; each with its audit line.
func TestKeyLifecycleIssue16(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("owner-")+"@life.test")
		ws := s.createWorkspace(t, owner.Token, s.unique("life-"))
		admin := s.signUp(t, s.unique("admin-")+"@life.test")
		s.addMember(t, owner.Token, ws, admin, "ADMIN")
		tok := owner.Token
		const create = `mutation($in: CreateAPIKeyInput!) { createAPIKey(input: $in) { secret apiKey { id expiresAt creditQuotaCents creditUsedMicros creditRemainingMicros status } } }`
		const update = `mutation($id: ID!, $in: UpdateAPIKeyInput!) { updateAPIKey(id: $id, input: $in) {
			id label status expiresAt maxRequests allowedModels ipAllowlist rpm tpm cacheEnabled creditQuotaCents creditRemainingMicros } }`
		in := func(kv ...any) map[string]any {
			m := map[string]any{"workspaceID": ws, "label": s.unique("life-")}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return map[string]any{"in": m}
		}
		field := func(r reply) string { f, _ := r.Errors[0].Extensions["field"].(string); return f }
		audited := func(t *testing.T, action, id string) {
			t.Helper()
			if got := s.auditActions(t, tok, ws)[action]; !contains(got, id) {
				t.Errorf("no %s audit line for %s (have %v)", action, id, got)
			}
		}

		t.Run("duration in hours", func(t *testing.T) {
			before := time.Now()
			d := s.must(t, tok, create, in("durationHours", 24))
			exp, err := time.Parse(time.RFC3339, str(t, d, "createAPIKey", "apiKey", "expiresAt"))
			if err != nil {
				t.Fatal(err)
			}
			if want := before.Add(24 * time.Hour); exp.Before(want.Add(-time.Second)) || exp.After(want.Add(time.Minute)) {
				t.Errorf("expiresAt = %v, want about %v", exp, want)
			}
			for _, bad := range []map[string]any{
				in("durationHours", 24, "expiresAt", time.Now().Add(time.Hour).Format(time.RFC3339)),
				in("durationHours", 0),
				in("durationHours", -3),
				in("durationHours", 87_601),
			} {
				if r := s.wantCode(t, badInput, tok, create, bad); field(r) != "durationHours" {
					t.Errorf("field = %q, want durationHours: %s", field(r), r.Body)
				}
			}
			// Neither: the key never expires, as before.
			if d := s.must(t, tok, create, in()); dig(t, d, "createAPIKey", "apiKey", "expiresAt") != nil {
				t.Errorf("a key without expiresAt or durationHours expires")
			}
		})

		t.Run("edit every setting", func(t *testing.T) {
			id, _ := s.createKey(t, tok, ws, s.unique("edit-"))
			exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
			d := s.must(t, tok, update, map[string]any{"id": id, "in": map[string]any{
				"label": "edited", "expiresAt": exp.Format(time.RFC3339), "maxRequests": 10, "allowedModels": []string{"gpt-4o-mini"},
				"ipAllowlist": []string{"203.0.113.7", "10.0.0.0/8"}, "rpm": 60, "tpm": 6000, "cacheEnabled": true, "creditQuotaCents": 500,
			}})
			k := dig(t, d, "updateAPIKey").(map[string]any)
			for f, want := range map[string]any{"label": "edited", "maxRequests": float64(10), "rpm": float64(60), "tpm": float64(6000),
				"cacheEnabled": true, "creditQuotaCents": float64(500), "creditRemainingMicros": float64(5_000_000)} {
				if k[f] != want {
					t.Errorf("%s = %v, want %v", f, k[f], want)
				}
			}
			if got, _ := time.Parse(time.RFC3339, k["expiresAt"].(string)); !got.Equal(exp) {
				t.Errorf("expiresAt = %v, want %v", k["expiresAt"], exp)
			}
			if ips := list(t, k, "ipAllowlist"); len(ips) != 2 || ips[0] != "203.0.113.7/32" || ips[1] != "10.0.0.0/8" {
				t.Errorf("ipAllowlist = %v, want the canonical CIDRs", ips)
			}
			audited(t, "key.updated", id)
			for name, c := range map[string]struct {
				in    map[string]any
				field string
			}{
				"a bad CIDR":             {map[string]any{"ipAllowlist": []string{"10.0.0.0/33"}}, "ipAllowlist"},
				"not an address":         {map[string]any{"ipAllowlist": []string{"office"}}, "ipAllowlist"},
				"a past expiry":          {map[string]any{"expiresAt": time.Now().Add(-time.Hour).Format(time.RFC3339)}, "expiresAt"},
				"a negative quota":       {map[string]any{"creditQuotaCents": -1}, "creditQuotaCents"},
				"a negative max":         {map[string]any{"maxRequests": -1}, "maxRequests"},
				"an empty label":         {map[string]any{"label": "  "}, "label"},
				"a negative rate limit":  {map[string]any{"rpm": -5}, "rpm"},
				"a negative token limit": {map[string]any{"tpm": -5}, "tpm"},
			} {
				t.Run(name, func(t *testing.T) {
					if r := s.wantCode(t, badInput, tok, update, map[string]any{"id": id, "in": c.in}); field(r) != c.field {
						t.Errorf("field = %q, want %s", field(r), c.field)
					}
				})
			}
			if got := s.key(t, tok, id)["label"]; got != "edited" {
				t.Errorf("a refused edit changed the key: label %v", got)
			}
		})

		t.Run("credit quota and top-up", func(t *testing.T) {
			d := s.must(t, tok, create, in("creditQuotaCents", 5))
			id := str(t, d, "createAPIKey", "apiKey", "id")
			if q := dig(t, d, "createAPIKey", "apiKey", "creditQuotaCents"); q != float64(5) {
				t.Fatalf("creditQuotaCents = %v, want 5", q)
			}
			// The gateway's usage reaches the key's spend through the ledger.
			err := ledger.New(s.cp.Store).Ship(sys(t), []usage.Record{{RequestID: ids.New("req"), WorkspaceID: ws, KeyID: id, Model: "mock-gpt",
				Endpoint: "/v1/chat/completions", Status: 200, Source: usage.SourceUpstream, PromptTokens: 10, CostMicros: 30_000, Time: time.Now()}})
			if err != nil {
				t.Fatal(err)
			}
			k := s.key(t, tok, id)
			if k["creditUsedMicros"] != float64(30_000) || k["creditRemainingMicros"] != float64(20_000) {
				t.Errorf("used %v, remaining %v; want 30000 and 20000", k["creditUsedMicros"], k["creditRemainingMicros"])
			}
			// Overspent (the last request's actual cost passed the quota): nothing left, never negative.
			s.must(t, tok, update, map[string]any{"id": id, "in": map[string]any{"creditQuotaCents": 2}})
			if r := s.key(t, tok, id)["creditRemainingMicros"]; r != float64(0) {
				t.Errorf("creditRemainingMicros = %v, want 0", r)
			}
			// A top-up raises the quota; 0 removes it.
			d = s.must(t, tok, update, map[string]any{"id": id, "in": map[string]any{"creditQuotaCents": 1000}})
			if r := dig(t, d, "updateAPIKey", "creditRemainingMicros"); r != float64(10_000_000-30_000) {
				t.Errorf("after a top-up to $10: remaining %v", r)
			}
			d = s.must(t, tok, update, map[string]any{"id": id, "in": map[string]any{"creditQuotaCents": 0}})
			if q := dig(t, d, "updateAPIKey", "creditQuotaCents"); q != nil {
				t.Errorf("creditQuotaCents 0 stored %v, want null (unlimited)", q)
			}
			if d := s.must(t, tok, create, in("creditQuotaCents", 0)); dig(t, d, "createAPIKey", "apiKey", "creditQuotaCents") != nil {
				t.Errorf("a key created with creditQuotaCents 0 has a quota")
			}
			audited(t, "key.updated", id)
		})

		t.Run("an expired key stays expired", func(t *testing.T) {
			id, _ := s.createKey(t, tok, ws, s.unique("exp-"))
			if err := s.cp.Store.Ent.APIKey.UpdateOneID(id).SetExpiresAt(time.Now().Add(-time.Minute)).Exec(sys(t)); err != nil {
				t.Fatal(err)
			}
			later := time.Now().Add(time.Hour).Format(time.RFC3339)
			for name, edit := range map[string]map[string]any{
				"a later expiry":   {"expiresAt": later},
				"no expiry":        {"clearExpiresAt": true},
				"status ACTIVE":    {"status": "ACTIVE"},
				"ACTIVE and later": {"status": "ACTIVE", "expiresAt": later},
			} {
				t.Run(name, func(t *testing.T) {
					r := s.wantCode(t, "KEY_EXPIRED", tok, update, map[string]any{"id": id, "in": edit})
					if r.Errors[0].Message != "This key has expired and cannot be re-activated. Generate a new key instead." {
						t.Errorf("message %q", r.Errors[0].Message)
					}
				})
			}
			// Anything else may change; it stays expired.
			d := s.must(t, tok, update, map[string]any{"id": id, "in": map[string]any{"label": "expired, renamed"}})
			if st := str(t, d, "updateAPIKey", "status"); st != "EXPIRED" {
				t.Errorf("status = %s, want EXPIRED", st)
			}
			// A key not yet expired may be extended.
			live, _ := s.createKey(t, tok, ws, s.unique("live-"))
			s.must(t, tok, update, map[string]any{"id": live, "in": map[string]any{"expiresAt": later}})
		})

		t.Run("a revoked key comes back", func(t *testing.T) {
			id, _ := s.createKey(t, tok, ws, s.unique("rev-"))
			s.must(t, tok, `mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": id})
			d := s.must(t, tok, update, map[string]any{"id": id, "in": map[string]any{"status": "ACTIVE"}})
			if st := str(t, d, "updateAPIKey", "status"); st != "ACTIVE" {
				t.Fatalf("status = %s, want ACTIVE", st)
			}
			audited(t, "key.reactivated", id)
		})

		t.Run("reset a rate-limited key", func(t *testing.T) {
			id, _ := s.createKey(t, tok, ws, s.unique("rl-"))
			if err := s.cp.Store.Ent.APIKey.UpdateOneID(id).SetMaxRequests(2).SetRequestCount(2).SetCacheHits(1).Exec(sys(t)); err != nil {
				t.Fatal(err)
			}
			if st := s.key(t, tok, id)["status"]; st != "RATE_LIMITED" {
				t.Fatalf("status = %v, want RATE_LIMITED", st)
			}
			before := time.Now().Add(-time.Second)
			d := s.must(t, admin.Token, `mutation($id: ID!) { resetAPIKeyRequestCount(id: $id) { status requestCount cacheHits remainingRequests requestsResetAt } }`,
				map[string]any{"id": id})
			k := dig(t, d, "resetAPIKeyRequestCount").(map[string]any)
			if k["status"] != "ACTIVE" || k["requestCount"] != float64(0) || k["cacheHits"] != float64(0) || k["remainingRequests"] != float64(2) {
				t.Errorf("after the reset: %v", k)
			}
			if at, err := time.Parse(time.RFC3339Nano, k["requestsResetAt"].(string)); err != nil || at.Before(before) {
				t.Errorf("requestsResetAt = %v, want now", k["requestsResetAt"])
			}
			audited(t, "key.requests_reset", id)
		})

		t.Run("delete", func(t *testing.T) {
			id, _ := s.createKey(t, tok, ws, s.unique("del-"))
			err := ledger.New(s.cp.Store).Ship(sys(t), []usage.Record{{RequestID: ids.New("req"), WorkspaceID: ws, KeyID: id, Model: "mock-gpt",
				Endpoint: "/v1/chat/completions", Status: 200, Source: usage.SourceUpstream, PromptTokens: 10, CostMicros: 77, Time: time.Now()}})
			if err != nil {
				t.Fatal(err)
			}
			total := func() float64 {
				d := s.must(t, tok, `query($ws: ID!) { workspace(id: $ws) { apiKeys(first: 500) { totalCount edges { node { id } } } } }`, map[string]any{"ws": ws})
				if n, listed := dig(t, d, "workspace", "apiKeys", "totalCount").(float64), len(list(t, d, "workspace", "apiKeys", "edges")); int(n) != listed {
					t.Fatalf("totalCount %v, %d listed", n, listed)
				}
				return dig(t, d, "workspace", "apiKeys", "totalCount").(float64)
			}
			spend := func() float64 {
				now := time.Now().UTC()
				d := s.must(t, tok, `query($ws: ID!, $from: Time!, $to: Time!) { workspace(id: $ws) { usage(from: $from, to: $to) { costMicros } } }`,
					map[string]any{"ws": ws, "from": now.Add(-time.Hour).Format(time.RFC3339), "to": now.Add(time.Hour).Format(time.RFC3339)})
				return dig(t, d, "workspace", "usage", "costMicros").(float64)
			}
			n, cost := total(), spend()
			d := s.must(t, tok, `mutation($id: ID!) { deleteAPIKey(id: $id) }`, map[string]any{"id": id})
			if got := str(t, d, "deleteAPIKey"); got != id {
				t.Errorf("deleteAPIKey = %s, want %s", got, id)
			}
			if got := total(); got != n-1 {
				t.Errorf("totalCount %v after a delete, want %v", got, n-1)
			}
			if got := spend(); got != cost {
				t.Errorf("the workspace's usage changed with the delete: %v, was %v", got, cost)
			}
			if d := s.must(t, tok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}); d["node"] != nil {
				t.Errorf("node(id) finds the deleted key")
			}
			for _, q := range []string{
				`mutation($id: ID!) { deleteAPIKey(id: $id) }`,
				`mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`,
				`mutation($id: ID!) { resetAPIKeyRequestCount(id: $id) { id } }`,
				`mutation($id: ID!) { updateAPIKey(id: $id, input: {status: ACTIVE}) { id } }`,
				`mutation($id: ID!) { rotateAPIKey(id: $id) { secret } }`,
			} {
				s.wantCode(t, notFound, tok, q, map[string]any{"id": id})
			}
			// Who deleted it, by name, and what it was.
			d = s.must(t, tok, `query($id: ID!) { workspace(id: $id) { auditEvents(first: 500) { edges { node { action targetID actorEmail } } } } }`,
				map[string]any{"id": ws})
			found := false
			for _, e := range list(t, d, "workspace", "auditEvents", "edges") {
				if str(t, e, "node", "action") == "key.deleted" && str(t, e, "node", "targetID") == id {
					found = true
					if got := str(t, e, "node", "actorEmail"); got != owner.Email {
						t.Errorf("key.deleted by %q, want %s", got, owner.Email)
					}
				}
			}
			if !found {
				t.Errorf("no key.deleted audit line for %s", id)
			}
			// The row stays, revoked: the ledger still finds its key.
			var status string
			var deleted bool
			row := s.cp.Store.DB.QueryRowContext(context.Background(), `SELECT status, deleted_at IS NOT NULL FROM api_keys WHERE id = $1`, id)
			if err := row.Scan(&status, &deleted); err != nil || status != "REVOKED" || !deleted {
				t.Errorf("stored row: status %q, deleted %v, err %v; want REVOKED, true", status, deleted, err)
			}
		})

		t.Run("an inactive workspace", func(t *testing.T) {
			const setActive = `mutation($ws: ID!, $a: Boolean!) { setWorkspaceActive(workspaceID: $ws, active: $a) { id active } }`
			keyID, _ := s.createKey(t, tok, ws, s.unique("before-off-"))
			s.wantCode(t, forbid, admin.Token, setActive, map[string]any{"ws": ws, "a": false})
			d := s.must(t, tok, setActive, map[string]any{"ws": ws, "a": false})
			if dig(t, d, "setWorkspaceActive", "active") != false {
				t.Fatalf("active = %v after switching off", dig(t, d, "setWorkspaceActive", "active"))
			}
			r := s.wantCode(t, "WORKSPACE_INACTIVE", tok, create, in())
			if msg := r.Errors[0].Message; msg != "Cannot generate tokens for inactive workspace" {
				t.Errorf("message %q, want the product guide's", msg)
			}
			s.wantCode(t, "WORKSPACE_INACTIVE", tok, `mutation($id: ID!) { rotateAPIKey(id: $id) { secret } }`, map[string]any{"id": keyID})
			// Its keys can still be managed, and the switch is idempotent.
			s.must(t, tok, `mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": keyID})
			s.must(t, tok, setActive, map[string]any{"ws": ws, "a": false})
			s.must(t, tok, setActive, map[string]any{"ws": ws, "a": true})
			s.must(t, tok, create, in())
			acts := s.auditActions(t, tok, ws)
			if len(acts["workspace.deactivated"]) != 1 || len(acts["workspace.activated"]) != 1 {
				t.Errorf("audit: %d deactivated, %d activated; want one each", len(acts["workspace.deactivated"]), len(acts["workspace.activated"]))
			}
		})
	})
}
