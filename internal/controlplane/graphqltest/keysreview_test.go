package graphqltest

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

// TestAllKeysAcrossWorkspaces: Query.apiKeys lists the keys of every
// workspace the viewer belongs to, each with its workspace, and nothing of
// anyone else's, however the filter names a foreign workspace.
func TestAllKeysAcrossWorkspaces(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		alice := s.signUp(t, s.unique("alice-")+"@all.test")
		bob := s.signUp(t, s.unique("bob-")+"@all.test")
		ws1 := s.createWorkspace(t, alice.Token, s.unique("one-"))
		ws2 := s.createWorkspace(t, bob.Token, s.unique("two-"))
		s.addMember(t, bob.Token, ws2, alice, "VIEWER")
		ws3 := s.createWorkspace(t, bob.Token, s.unique("three-")) // bob's alone
		k1, _ := s.createKey(t, alice.Token, ws1, "alpha")
		k2, _ := s.createKey(t, bob.Token, ws2, "beta")
		k3, _ := s.createKey(t, bob.Token, ws3, "gamma")

		const q = `query($ws: [ID!], $search: String, $status: APIKeyStatus, $first: Int, $after: Cursor) {
			apiKeys(first: $first, after: $after, workspaceIDs: $ws, search: $search, status: $status, orderBy: {field: LABEL, direction: ASC}) {
				totalCount pageInfo { hasNextPage endCursor } edges { node { id label workspace { id name } } } } }`
		page := func(t *testing.T, tok string, vars map[string]any) (ids []string, wsOf map[string]string) {
			t.Helper()
			if vars["first"] == nil {
				vars["first"] = 50
			}
			d := s.must(t, tok, q, vars)
			wsOf = map[string]string{}
			for _, e := range list(t, d, "apiKeys", "edges") {
				n := e.(map[string]any)["node"].(map[string]any)
				ids = append(ids, n["id"].(string))
				wsOf[n["id"].(string)] = str(t, n, "workspace", "id")
			}
			return ids, wsOf
		}

		t.Run("every workspace of the viewer, with the workspace", func(t *testing.T) {
			got, wsOf := page(t, alice.Token, map[string]any{})
			if len(got) != 2 || got[0] != k1 || got[1] != k2 {
				t.Fatalf("alice sees %v, want [%s %s]", got, k1, k2)
			}
			if wsOf[k1] != ws1 || wsOf[k2] != ws2 {
				t.Errorf("workspace column %v, want %s and %s", wsOf, ws1, ws2)
			}
			if got, _ := page(t, bob.Token, map[string]any{}); len(got) != 2 || got[0] != k2 || got[1] != k3 {
				t.Errorf("bob sees %v, want [%s %s]", got, k2, k3)
			}
		})
		t.Run("workspace filter", func(t *testing.T) {
			if got, _ := page(t, alice.Token, map[string]any{"ws": []string{ws2}}); len(got) != 1 || got[0] != k2 {
				t.Errorf("filtered to %s: %v", ws2, got)
			}
		})
		t.Run("cross-tenant: a foreign workspace in the filter yields nothing", func(t *testing.T) {
			for _, ws := range [][]string{{ws3}, {ws3, "ws_doesnotexist"}} {
				if got, _ := page(t, alice.Token, map[string]any{"ws": ws}); len(got) != 0 {
					t.Errorf("alice filtering on %v sees %v", ws, got)
				}
			}
			if got, _ := page(t, alice.Token, map[string]any{"search": k3}); len(got) != 0 {
				t.Errorf("alice searching bob's key id sees %v", got)
			}
		})
		t.Run("same filters and paging as the workspace list", func(t *testing.T) {
			s.must(t, alice.Token, `mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": k1})
			if got, _ := page(t, alice.Token, map[string]any{"status": "REVOKED"}); len(got) != 1 || got[0] != k1 {
				t.Errorf("status REVOKED: %v", got)
			}
			if got, _ := page(t, alice.Token, map[string]any{"search": "bet"}); len(got) != 1 || got[0] != k2 {
				t.Errorf("search bet: %v", got)
			}
			d := s.must(t, alice.Token, q, map[string]any{"first": 1})
			if !dig(t, d, "apiKeys", "pageInfo", "hasNextPage").(bool) || dig(t, d, "apiKeys", "totalCount") != float64(2) {
				t.Fatalf("first page: %v", d)
			}
			next, _ := page(t, alice.Token, map[string]any{"first": 1, "after": str(t, d, "apiKeys", "pageInfo", "endCursor")})
			if len(next) != 1 || next[0] != k2 {
				t.Errorf("second page %v, want [%s]", next, k2)
			}
		})
		t.Run("bounds", func(t *testing.T) {
			s.wantCode(t, badInput, alice.Token, q, map[string]any{"first": 501})
			many := make([]string, 101)
			for i := range many {
				many[i] = fmt.Sprintf("ws_%d", i)
			}
			s.wantCode(t, badInput, alice.Token, q, map[string]any{"ws": many})
			s.wantCode(t, unauth, "", q, map[string]any{})
		})
	})
}

// TestRequestLog pages a workspace's per-request log newest first with
// cursors and filters it; a key id of another workspace yields nothing.
func TestRequestLog(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		alice := s.signUp(t, s.unique("alice-")+"@log.test")
		bob := s.signUp(t, s.unique("bob-")+"@log.test")
		ws := s.createWorkspace(t, alice.Token, s.unique("log-"))
		other := s.createWorkspace(t, bob.Token, s.unique("other-"))
		k1, _ := s.createKey(t, alice.Token, ws, "one")
		k2, _ := s.createKey(t, alice.Token, ws, "two")
		kb, _ := s.createKey(t, bob.Token, other, "bobs")

		base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		rec := func(ws, key, model string, status int, code string, at time.Duration) usage.Record {
			r := usage.Record{RequestID: ids.New("req"), WorkspaceID: ws, KeyID: key, Model: model, Endpoint: "/v1/chat/completions",
				Status: status, ErrorCode: code, Time: base.Add(at), Source: usage.SourceNone}
			if status < 400 {
				r.Source, r.PromptTokens, r.CompletionTokens, r.CostMicros, r.LatencyMillis = usage.SourceUpstream, 10, 5, 42, 120
			}
			return r
		}
		err := ledger.New(s.cp.Store).Ship(sys(t), []usage.Record{
			rec(ws, k1, "mock-gpt", 200, "", 1*time.Minute),
			rec(ws, k1, "mock-gpt", 429, "rate_limit_exceeded", 2*time.Minute),
			rec(ws, k2, "mock-mini", 200, "", 3*time.Minute),
			rec(ws, k2, "mock-gpt", 403, "model_not_allowed", 4*time.Minute),
			rec(ws, k1, "mock-gpt", 200, "", 5*time.Minute),
			rec(other, kb, "mock-gpt", 200, "", 6*time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		const q = `query($ws: ID!, $first: Int, $after: Cursor, $where: RequestLogWhere) { workspace(id: $ws) {
			requestLog(first: $first, after: $after, where: $where) { totalCount pageInfo { hasNextPage endCursor }
				edges { node { apiKeyID model status promptTokens completionTokens costMicros latencyMs cacheHit errorCode occurredAt } } } } }`
		type row struct {
			key, model, code string
			status           int
		}
		rows := func(t *testing.T, tok string, vars map[string]any) ([]row, map[string]any) {
			t.Helper()
			d := s.must(t, tok, q, vars)
			if dig(t, d, "workspace") == nil {
				return nil, nil
			}
			var out []row
			var last time.Time
			for i, e := range list(t, d, "workspace", "requestLog", "edges") {
				n := e.(map[string]any)["node"].(map[string]any)
				at, _ := time.Parse(time.RFC3339, n["occurredAt"].(string))
				if i > 0 && at.After(last) {
					t.Errorf("not newest first: %v after %v", at, last)
				}
				last = at
				code, _ := n["errorCode"].(string)
				out = append(out, row{n["apiKeyID"].(string), n["model"].(string), code, int(n["status"].(float64))})
			}
			return out, dig(t, d, "workspace", "requestLog").(map[string]any)
		}

		t.Run("newest first, paged with cursors", func(t *testing.T) {
			var all []row
			vars := map[string]any{"ws": ws, "first": 2}
			for pages := 0; ; pages++ {
				got, conn := rows(t, alice.Token, vars)
				all = append(all, got...)
				if pages > 5 {
					t.Fatal("paging does not end")
				}
				pi := conn["pageInfo"].(map[string]any)
				if !pi["hasNextPage"].(bool) {
					break
				}
				vars["after"] = pi["endCursor"]
			}
			want := []row{{k1, "mock-gpt", "", 200}, {k2, "mock-gpt", "model_not_allowed", 403}, {k2, "mock-mini", "", 200},
				{k1, "mock-gpt", "rate_limit_exceeded", 429}, {k1, "mock-gpt", "", 200}}
			if fmt.Sprint(all) != fmt.Sprint(want) {
				t.Errorf("log %v\nwant %v", all, want)
			}
		})
		t.Run("filters", func(t *testing.T) {
			for name, c := range map[string]struct {
				where map[string]any
				n     int
			}{
				"key":          {map[string]any{"apiKeyID": k2}, 2},
				"model":        {map[string]any{"model": "mock-mini"}, 1},
				"status":       {map[string]any{"status": 429}, 1},
				"failed":       {map[string]any{"failed": true}, 2},
				"answered":     {map[string]any{"failed": false}, 3},
				"time":         {map[string]any{"from": base.Add(2 * time.Minute).Format(time.RFC3339), "to": base.Add(4 * time.Minute).Format(time.RFC3339)}, 2},
				"key and fail": {map[string]any{"apiKeyID": k1, "failed": true}, 1},
			} {
				t.Run(name, func(t *testing.T) {
					if got, _ := rows(t, alice.Token, map[string]any{"ws": ws, "where": c.where}); len(got) != c.n {
						t.Errorf("%v: %d rows %v, want %d", c.where, len(got), got, c.n)
					}
				})
			}
		})
		t.Run("cross-tenant", func(t *testing.T) {
			if got, _ := rows(t, alice.Token, map[string]any{"ws": ws, "where": map[string]any{"apiKeyID": kb}}); len(got) != 0 {
				t.Errorf("bob's key in alice's filter: %v", got)
			}
			if got, conn := rows(t, bob.Token, map[string]any{"ws": ws}); got != nil || conn != nil {
				t.Errorf("bob reads alice's log: %v", got)
			}
		})
		t.Run("bounds", func(t *testing.T) {
			s.wantCode(t, badInput, alice.Token, q, map[string]any{"ws": ws, "first": 0})
			s.wantCode(t, badInput, alice.Token, q, map[string]any{"ws": ws, "first": 501})
		})
	})
}

// TestKeyReviewFilters: unused, expiring and near-limit keys, on both
// lists, attacked with keys just outside each bound.
func TestKeyReviewFilters(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		alice := s.signUp(t, s.unique("alice-")+"@review.test")
		ws := s.createWorkspace(t, alice.Token, s.unique("review-"))
		tok := alice.Token
		mk := func(label string, extra map[string]any) string {
			in := map[string]any{"workspaceID": ws, "label": label}
			for k, v := range extra {
				in[k] = v
			}
			d := s.must(t, tok, `mutation($in: CreateAPIKeyInput!) { createAPIKey(input: $in) { apiKey { id } } }`, map[string]any{"in": in})
			return str(t, d, "createAPIKey", "apiKey", "id")
		}
		now := time.Now()
		mk("never-used", nil)
		recent := mk("used-today", nil)
		stale := mk("used-long-ago", nil)
		soon := mk("expires-soon", map[string]any{"durationHours": 48})
		later := mk("expires-later", map[string]any{"durationHours": 24 * 40})
		nearReq := mk("near-requests", map[string]any{"maxRequests": 10})
		farReq := mk("far-requests", map[string]any{"maxRequests": 10})
		nearCredit := mk("near-credit", map[string]any{"creditQuotaCents": 100})
		c := s.cp.Store.Ent
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(c.APIKey.UpdateOneID(recent).SetLastUsedAt(now.Add(-time.Hour)).Exec(sys(t)))
		must(c.APIKey.UpdateOneID(stale).SetLastUsedAt(now.Add(-45 * 24 * time.Hour)).Exec(sys(t)))
		for _, id := range []string{soon, later, nearReq, farReq, nearCredit} {
			must(c.APIKey.UpdateOneID(id).SetLastUsedAt(now).Exec(sys(t)))
		}
		must(c.APIKey.UpdateOneID(nearReq).SetRequestCount(8).Exec(sys(t)))
		must(c.APIKey.UpdateOneID(farReq).SetRequestCount(7).Exec(sys(t)))
		must(c.APIKey.UpdateOneID(nearCredit).SetCreditUsedMicros(800_000).Exec(sys(t))) // 80 % of $1
		// An expired key is not "expiring".
		expired := mk("expired", map[string]any{"durationHours": 1})
		must(c.APIKey.UpdateOneID(expired).SetExpiresAt(now.Add(-time.Minute)).SetLastUsedAt(now).Exec(sys(t)))

		labels := func(t *testing.T, d any, path ...any) []string {
			t.Helper()
			var out []string
			for _, e := range list(t, d, path...) {
				out = append(out, e.(map[string]any)["node"].(map[string]any)["label"].(string))
			}
			sort.Strings(out)
			return out
		}
		for name, c := range map[string]struct {
			review map[string]any
			want   []string
		}{
			"unused 30 days":  {map[string]any{"unusedDays": 30}, []string{"never-used", "used-long-ago"}},
			"unused 60 days":  {map[string]any{"unusedDays": 60}, []string{"never-used"}},
			"expiring 7 days": {map[string]any{"expiringWithinDays": 7}, []string{"expires-soon"}},
			"near limit 80 %": {map[string]any{"nearLimitPercent": 80}, []string{"near-credit", "near-requests"}},
			"near limit 70 %": {map[string]any{"nearLimitPercent": 70}, []string{"far-requests", "near-credit", "near-requests"}},
		} {
			t.Run(name, func(t *testing.T) {
				d := s.must(t, tok, `query($ws: ID!, $r: APIKeyReviewFilter) { workspace(id: $ws) { apiKeys(first: 100, review: $r) { totalCount edges { node { label } } } } }`,
					map[string]any{"ws": ws, "r": c.review})
				if got := labels(t, d, "workspace", "apiKeys", "edges"); fmt.Sprint(got) != fmt.Sprint(c.want) {
					t.Errorf("workspace list: %v, want %v", got, c.want)
				}
				if n := dig(t, d, "workspace", "apiKeys", "totalCount"); n != float64(len(c.want)) {
					t.Errorf("totalCount %v, want %d", n, len(c.want))
				}
				d = s.must(t, tok, `query($r: APIKeyReviewFilter) { apiKeys(first: 100, review: $r) { edges { node { label } } } }`, map[string]any{"r": c.review})
				if got := labels(t, d, "apiKeys", "edges"); fmt.Sprint(got) != fmt.Sprint(c.want) {
					t.Errorf("all-keys list: %v, want %v", got, c.want)
				}
			})
		}
		for _, bad := range []map[string]any{{"unusedDays": 0}, {"expiringWithinDays": 3651}, {"nearLimitPercent": 101}, {"nearLimitPercent": 0}} {
			s.wantCode(t, badInput, tok, `query($r: APIKeyReviewFilter) { apiKeys(first: 1, review: $r) { totalCount } }`, map[string]any{"r": bad})
		}
	})
}

// TestRevokeAPIKeys: a bulk revocation is all or nothing, bounded, refused
// to roles that may not revoke, and one audit line per workspace names it.
func TestRevokeAPIKeys(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		alice := s.signUp(t, s.unique("alice-")+"@bulk.test")
		bob := s.signUp(t, s.unique("bob-")+"@bulk.test")
		viewer := s.signUp(t, s.unique("viewer-")+"@bulk.test")
		ws := s.createWorkspace(t, alice.Token, s.unique("bulk-"))
		s.addMember(t, alice.Token, ws, viewer, "VIEWER")
		other := s.createWorkspace(t, bob.Token, s.unique("other-"))
		a1, _ := s.createKey(t, alice.Token, ws, "a1")
		a2, _ := s.createKey(t, alice.Token, ws, "a2")
		a3, _ := s.createKey(t, alice.Token, ws, "a3")
		b1, _ := s.createKey(t, bob.Token, other, "b1")
		const m = `mutation($ids: [ID!]!) { revokeAPIKeys(ids: $ids) }`
		status := func(tok, id string) string { return s.key(t, tok, id)["status"].(string) }

		t.Run("cross-tenant: a foreign id revokes nothing", func(t *testing.T) {
			s.wantCode(t, notFound, alice.Token, m, map[string]any{"ids": []string{a1, b1}})
			if status(alice.Token, a1) != "ACTIVE" || status(bob.Token, b1) != "ACTIVE" {
				t.Error("a refused bulk revocation revoked a key")
			}
		})
		t.Run("a viewer may not", func(t *testing.T) {
			s.wantCode(t, forbid, viewer.Token, m, map[string]any{"ids": []string{a1}})
			if status(alice.Token, a1) != "ACTIVE" {
				t.Error("a viewer revoked a key")
			}
		})
		t.Run("bounds", func(t *testing.T) {
			s.wantCode(t, badInput, alice.Token, m, map[string]any{"ids": []string{}})
			many := make([]string, 101)
			for i := range many {
				many[i] = fmt.Sprintf("key_%d", i)
			}
			s.wantCode(t, badInput, alice.Token, m, map[string]any{"ids": many})
		})
		t.Run("revokes, skips the revoked, audits once", func(t *testing.T) {
			s.must(t, alice.Token, `mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": a3})
			d := s.must(t, alice.Token, m, map[string]any{"ids": []string{a1, a2, a3, a1}})
			if n := d["revokeAPIKeys"]; n != float64(2) {
				t.Errorf("revoked %v, want 2", n)
			}
			for _, id := range []string{a1, a2} {
				if st := status(alice.Token, id); st != "REVOKED" {
					t.Errorf("%s is %s", id, st)
				}
			}
			d = s.must(t, alice.Token, `query($id: ID!) { workspace(id: $id) { auditEvents(first: 50, where: {action: "key.revoked_bulk"}) {
				edges { node { targetID details { name value } actorEmail } } } } }`, map[string]any{"id": ws})
			lines := list(t, d, "workspace", "auditEvents", "edges")
			if len(lines) != 1 {
				t.Fatalf("%d key.revoked_bulk lines, want 1", len(lines))
			}
			n := lines[0].(map[string]any)["node"].(map[string]any)
			details := fmt.Sprint(n["details"])
			if want := fmt.Sprint([]any{map[string]any{"name": "count", "value": "2"}, map[string]any{"name": "ids", "value": sortedJoin(a1, a2)}}); details != want {
				t.Errorf("details %s, want %s", details, want)
			}
			if n["actorEmail"] != alice.Email {
				t.Errorf("actor %v", n["actorEmail"])
			}
		})
	})
}

func sortedJoin(ids ...string) string {
	sort.Strings(ids)
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ","
		}
		out += id
	}
	return out
}

// TestSetWorkspaceKeyLimit: only site admins set a workspace's key limit,
// within bounds, audited; createAPIKey past it fails with KEY_LIMIT_REACHED.
func TestSetWorkspaceKeyLimit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("owner-")+"@limit.test")
		ws := s.createWorkspace(t, owner.Token, s.unique("limit-"))
		const m = `mutation($ws: ID!, $n: Int!) { setWorkspaceKeyLimit(workspaceID: $ws, maxKeys: $n) { id maxKeys } }`
		if d := s.must(t, owner.Token, `query($ws: ID!) { workspace(id: $ws) { maxKeys } }`, map[string]any{"ws": ws}); dig(t, d, "workspace", "maxKeys") != float64(100) {
			t.Errorf("default maxKeys %v, want 100", dig(t, d, "workspace", "maxKeys"))
		}
		t.Run("the owner may not", func(t *testing.T) {
			s.wantCode(t, forbid, owner.Token, m, map[string]any{"ws": ws, "n": 1000})
			s.wantCode(t, unauth, "", m, map[string]any{"ws": ws, "n": 1000})
		})
		t.Run("bounds", func(t *testing.T) {
			for _, n := range []int{0, -1, 100_001} {
				s.wantCode(t, badInput, s.admin.Token, m, map[string]any{"ws": ws, "n": n})
			}
			s.wantCode(t, notFound, s.admin.Token, m, map[string]any{"ws": "ws_doesnotexist", "n": 5})
		})
		t.Run("a site admin sets it and it holds", func(t *testing.T) {
			d := s.must(t, s.admin.Token, m, map[string]any{"ws": ws, "n": 2})
			if dig(t, d, "setWorkspaceKeyLimit", "maxKeys") != float64(2) {
				t.Fatalf("maxKeys %v", d)
			}
			s.createKey(t, owner.Token, ws, "one")
			s.createKey(t, owner.Token, ws, "two")
			s.wantCode(t, "KEY_LIMIT_REACHED", owner.Token, `mutation($ws: ID!) { createAPIKey(input: {workspaceID: $ws, label: "three"}) { secret } }`, map[string]any{"ws": ws})
			s.must(t, s.admin.Token, m, map[string]any{"ws": ws, "n": 3})
			s.createKey(t, owner.Token, ws, "three")
			if got := s.auditActions(t, owner.Token, ws)["workspace.key_limit_changed"]; len(got) != 2 || got[0] != ws {
				t.Errorf("audit lines %v, want two for %s", got, ws)
			}
		})
	})
}

// TestFailedAuthAudit: a dead key hammered for minutes costs one
// key.auth_failed audit line per key and minute, in its own workspace only,
// with the count and codes and no secret; running the job again (or on a
// second control plane) writes nothing more.
func TestFailedAuthAudit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		alice := s.signUp(t, s.unique("alice-")+"@authfail.test")
		bob := s.signUp(t, s.unique("bob-")+"@authfail.test")
		ws := s.createWorkspace(t, alice.Token, s.unique("af-"))
		other := s.createWorkspace(t, bob.Token, s.unique("afo-"))
		dead, secret := s.createKey(t, alice.Token, ws, "dead")
		bobs, _ := s.createKey(t, bob.Token, other, "bobs")
		now := time.Now().UTC()
		minute := now.Truncate(time.Minute).Add(-3 * time.Minute)
		var recs []usage.Record
		fail := func(ws, key, code string, status int, at time.Time) {
			recs = append(recs, usage.Record{RequestID: ids.New("req"), WorkspaceID: ws, KeyID: key, Model: "mock-gpt", Endpoint: "/v1/chat/completions",
				Status: status, ErrorCode: code, Source: usage.SourceNone, Time: at})
		}
		for i := range 50 {
			fail(ws, dead, "api_key_revoked", 401, minute.Add(time.Duration(i)*time.Second))
		}
		fail(ws, dead, "ip_not_allowed", 403, minute.Add(59*time.Second))
		fail(ws, dead, "api_key_revoked", 401, minute.Add(70*time.Second))    // the next minute: its own line
		fail(ws, dead, "rate_limit_exceeded", 429, minute.Add(5*time.Second)) // a limit, not an authentication
		fail(other, bobs, "api_key_disabled", 401, minute.Add(time.Second))
		if err := ledger.New(s.cp.Store).Ship(sys(t), recs); err != nil {
			t.Fatal(err)
		}
		// The job itself (the control plane runs it every 30 s); twice, as two replicas would.
		for range 2 {
			if _, err := audit.RecordAuthFailures(sys(t), s.cp.Store.Ent, now); err != nil {
				t.Fatal(err)
			}
		}
		lines := func(tok, ws string) []map[string]any {
			d := s.must(t, tok, `query($id: ID!) { workspace(id: $id) { auditEvents(first: 50, where: {action: "key.auth_failed"}, orderBy: {field: CREATED_AT}) {
				edges { node { targetID targetType details { name value } } } } } }`, map[string]any{"id": ws})
			var out []map[string]any
			for _, e := range list(t, d, "workspace", "auditEvents", "edges") {
				n := e.(map[string]any)["node"].(map[string]any)
				det := map[string]any{"target": n["targetID"]}
				for _, x := range n["details"].([]any) {
					det[x.(map[string]any)["name"].(string)] = x.(map[string]any)["value"]
				}
				out = append(out, det)
			}
			return out
		}
		got := lines(alice.Token, ws)
		if len(got) != 2 {
			t.Fatalf("%d key.auth_failed lines, want 2 (one per minute): %v", len(got), got)
		}
		byMinute := map[string]map[string]any{}
		for _, l := range got {
			byMinute[l["minute"].(string)] = l
			if l["target"] != dead {
				t.Errorf("line names %v, want the key %s", l["target"], dead)
			}
			if strings.Contains(fmt.Sprint(l), secret) {
				t.Errorf("the secret is in the audit line")
			}
		}
		first := byMinute[minute.Format(time.RFC3339)]
		if first == nil || first["count"] != "51" || first["codes"] != "api_key_revoked:50,ip_not_allowed:1" {
			t.Errorf("first minute's line %v, want 51 failures (50 revoked, 1 address)", first)
		}
		if second := byMinute[minute.Add(time.Minute).Format(time.RFC3339)]; second == nil || second["count"] != "1" {
			t.Errorf("second minute's line %v, want 1 failure", second)
		}
		if b := lines(bob.Token, other); len(b) != 1 || b[0]["target"] != bobs {
			t.Errorf("bob's workspace lines %v, want one for his key", b)
		}
	})
}
