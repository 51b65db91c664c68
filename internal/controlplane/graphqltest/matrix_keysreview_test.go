package graphqltest

import (
	"testing"
)

// keysReviewRows are the tenancy and role matrix's rows of issue 16's review
// features: every key across workspaces, the request log, bulk revocation
// and the key limit (TestMatrix runs them with the rest).
func keysReviewRows() []op {
	freshKeys := func(creator actor) func(*testing.T, *world, actor) map[string]any {
		return func(t *testing.T, w *world, _ actor) map[string]any {
			a, _ := w.freshKey(t, creator)
			b, _ := w.freshKey(t, creator)
			return map[string]any{"ids": []string{a, b}}
		}
	}
	// Everyone gets an answer; only A's members see A's keys, and nobody B's but the outsider.
	allKeys := func(t *testing.T, w *world, a actor, d map[string]any) {
		got := keyIDsOf(t, d, "apiKeys")
		if member := a != asOutsider; contains(got, w.keyOwner) != member {
			t.Errorf("%s: A's key listed = %v, want %v", a, contains(got, w.keyOwner), member)
		}
		if contains(got, w.keyB) != (a == asOutsider) {
			t.Errorf("%s: B's key listed = %v", a, contains(got, w.keyB))
		}
	}
	return []op{
		{name: "apiKeys", field: "apiKeys", want: anyUser, check: allKeys,
			query: `{ apiKeys(first: 500) { totalCount edges { node { id workspace { id name } } } } }`},
		{name: "apiKeys filtered to A", field: "apiKeys", want: anyUser, vars: func(_ *testing.T, w *world, _ actor) map[string]any { return map[string]any{"ws": []string{w.wsA}} },
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				if got := keyIDsOf(t, d, "apiKeys"); (len(got) > 0) != (a != asOutsider) {
					t.Errorf("%s: %d keys of A", a, len(got))
				}
			},
			query: `query($ws: [ID!]) { apiKeys(first: 500, workspaceIDs: $ws, review: {unusedDays: 1}) { edges { node { id } } } }`},
		{name: "workspace.requestLog", field: "workspace", want: readA, vars: wsA,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				if n := len(list(t, d, "workspace", "requestLog", "edges")); n != 1 {
					t.Errorf("%s: %d rows, want A's one", a, n)
				}
			},
			query: `query($id: ID!) { workspace(id: $id) { requestLog(first: 10) { edges { node { id apiKeyID status costMicros } } } } }`},
		{name: "workspace.requestLog with B's key", field: "workspace", want: readA,
			vars: func(_ *testing.T, w *world, _ actor) map[string]any { return map[string]any{"id": w.wsA, "k": w.keyB} },
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				if n := len(list(t, d, "workspace", "requestLog", "edges")); n != 0 {
					t.Errorf("%s: B's key in A's log filter gave %d rows", a, n)
				}
			},
			query: `query($id: ID!, $k: ID!) { workspace(id: $id) { requestLog(first: 10, where: {apiKeyID: $k}) { edges { node { id } } } } }`},
		{name: "revokeAPIKeys owner's keys", field: "revokeAPIKeys", want: manageA, vars: freshKeys(asOwner),
			query: `mutation($ids: [ID!]!) { revokeAPIKeys(ids: $ids) }`},
		{name: "revokeAPIKeys developer's keys", field: "revokeAPIKeys", want: want(ok, ok, ok, forbid, notFound, unauth), vars: freshKeys(asDeveloper),
			query: `mutation($ids: [ID!]!) { revokeAPIKeys(ids: $ids) }`},
		{name: "revokeAPIKeys B's key", field: "revokeAPIKeys", want: want(notFound, notFound, notFound, notFound, ok, unauth),
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				id, _ := w.s.createKey(t, w.token(asOutsider), w.wsB, w.s.unique("b-bulk-"))
				return map[string]any{"ids": []string{id}}
			},
			query: `mutation($ids: [ID!]!) { revokeAPIKeys(ids: $ids) }`},
		// Site admins only: no workspace role is enough, an owner's included.
		{name: "setWorkspaceKeyLimit", field: "setWorkspaceKeyLimit", want: want(forbid, forbid, forbid, forbid, forbid, unauth), vars: wsA,
			query: `mutation($id: ID!) { setWorkspaceKeyLimit(workspaceID: $id, maxKeys: 5) { id maxKeys } }`},
	}
}
