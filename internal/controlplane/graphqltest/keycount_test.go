package graphqltest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
)

// TestKeyTotalCount checks the workspace's maintained key count
// (workspaces.api_key_count) and the key pages that answer totalCount from
// it: every way a key is inserted counts it, and an unfiltered page, which
// skips entgql's COUNT, has the same totalCount, pageInfo and cursors as
// a counted one, whether the connection's fields are asked for directly or
// through fragments.
func TestKeyTotalCount(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.admin.Token
		ws := s.createWorkspace(t, owner, s.unique("count-"))
		other := s.createWorkspace(t, owner, s.unique("count-other-"))
		dev := s.signUp(t, s.unique("dev-")+"@count.test")
		s.addMember(t, owner, ws, dev, "DEVELOPER")

		var made []string
		for i := range 4 {
			id, _ := s.createKey(t, owner, ws, fmt.Sprintf("count-%d", i))
			made = append(made, id)
		}
		// A developer may not update the workspace, yet their keys count.
		for i := range 2 {
			id, _ := s.createKey(t, dev.Token, ws, fmt.Sprintf("dev-%d", i))
			made = append(made, id)
		}
		s.createKey(t, owner, other, "elsewhere")
		// A rotation inserts a new key; the old one stays until its grace ends.
		d := s.must(t, owner, `mutation($id: ID!) { rotateAPIKey(id: $id) { apiKey { id } } }`, map[string]any{"id": made[0]})
		made = append(made, str(t, d, "rotateAPIKey", "apiKey", "id"))
		// A revoked key is still a row of the workspace.
		s.must(t, owner, `mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": made[1]})
		// Straight through ent: a bulk insert in a transaction counts each
		// key; a rolled-back insert counts none.
		tx, err := s.cp.Store.Ent.Tx(sys(t))
		if err != nil {
			t.Fatal(err)
		}
		bulk, err := tx.APIKey.CreateBulk(newKey(tx.Client(), ws, "bulk-0"), newKey(tx.Client(), ws, "bulk-1"), newKey(tx.Client(), ws, "bulk-2")).Save(sys(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		for _, k := range bulk {
			made = append(made, k.ID)
		}
		tx, err = s.cp.Store.Ent.Tx(sys(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newKey(tx.Client(), ws, "rolled-back").Save(sys(t)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		n := len(made) // 10: 6 created, 1 rotated in, 3 in bulk

		for w, want := range map[string]int{ws: n, other: 1} {
			if got, rows := storedKeyCount(t, s, w); got != int64(want) || rows != want {
				t.Errorf("workspace %s: api_key_count %d, %d rows; want %d", w, got, rows, want)
			}
		}

		const pageFields = `totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } }`
		// Each page is asked for in three shapes; all must answer alike.
		shapes := map[string]struct{ selection, fragments string }{
			"fields":   {pageFields, ""},
			"fragment": {`...keyPage`, `fragment keyPage on APIKeyConnection { ` + pageFields + ` }`},
			// edges asked for twice, their halves merged: the page must
			// load the label too.
			"split fragments": {`edges { cursor node { id } } ...keyTotals`,
				`fragment keyTotals on APIKeyConnection { totalCount ...keyInfo edges { node { label } } }
				fragment keyInfo on APIKeyConnection { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }`},
		}
		page := func(t *testing.T, shape, args string, vars map[string]any) map[string]any {
			t.Helper()
			sh := shapes[shape]
			vars = maps.Clone(vars)
			decl := "$ws: ID!"
			for _, v := range slices.Sorted(maps.Keys(vars)) {
				decl += ", $" + v + ": " + argTypes[v]
			}
			vars["ws"] = ws
			d := s.must(t, owner, `query(`+decl+`) { workspace(id: $ws) { apiKeys(`+args+`) { `+sh.selection+` } } } `+sh.fragments, vars)
			return dig(t, d, "workspace", "apiKeys").(map[string]any)
		}
		// all is every key in the default order, asked for without
		// totalCount or pageInfo: no count either way.
		all := nodeIDs(t, page(t, "fields", "first: 100", map[string]any{}))
		if got, want := slices.Sorted(slices.Values(all)), slices.Sorted(slices.Values(made)); !slices.Equal(got, want) {
			t.Fatalf("the workspace lists %v, want %v", got, want)
		}
		// checkPage compares a page with all[from:to].
		checkPage := func(t *testing.T, conn map[string]any, from, to int, hasNext, hasPrev bool) {
			t.Helper()
			if tc := dig(t, conn, "totalCount"); tc != float64(n) {
				t.Errorf("totalCount = %v, want %d", tc, n)
			}
			if got := nodeIDs(t, conn); !slices.Equal(got, all[from:to]) {
				t.Errorf("page = %v, want keys %d to %d: %v", got, from, to, all[from:to])
			}
			if got := dig(t, conn, "pageInfo", "hasNextPage"); got != hasNext {
				t.Errorf("hasNextPage = %v, want %v", got, hasNext)
			}
			if got := dig(t, conn, "pageInfo", "hasPreviousPage"); got != hasPrev {
				t.Errorf("hasPreviousPage = %v, want %v", got, hasPrev)
			}
			edges := list(t, conn, "edges")
			for _, e := range edges {
				if l, asked := dig(t, e, "node").(map[string]any)["label"]; asked && l == "" {
					t.Errorf("key %v without its label", dig(t, e, "node", "id"))
				}
			}
			if len(edges) > 0 {
				if dig(t, conn, "pageInfo", "startCursor") != dig(t, edges[0], "cursor") ||
					dig(t, conn, "pageInfo", "endCursor") != dig(t, edges[len(edges)-1], "cursor") {
					t.Errorf("pageInfo %v does not match the edges' cursors %v", dig(t, conn, "pageInfo"), edges)
				}
			}
		}

		for shape := range shapes {
			t.Run(shape, func(t *testing.T) {
				const size = 4
				var after any
				for from := 0; from < n; from += size {
					conn := page(t, shape, "first: $first, after: $after", map[string]any{"first": size, "after": after})
					to := min(n, from+size)
					checkPage(t, conn, from, to, to < n, after != nil)
					after = dig(t, conn, "pageInfo", "endCursor")
				}
				var before any
				for to := n; to > 0; to -= size {
					conn := page(t, shape, "last: $last, before: $before", map[string]any{"last": size, "before": before})
					from := max(0, to-size)
					checkPage(t, conn, from, to, before != nil, from > 0)
					before = dig(t, conn, "pageInfo", "startCursor")
				}
				// A page that ends exactly at the last key, and one short of it.
				checkPage(t, page(t, shape, "first: $first", map[string]any{"first": n}), 0, n, false, false)
				checkPage(t, page(t, shape, "first: $first", map[string]any{"first": n - 1}), 0, n-1, true, false)
				checkPage(t, page(t, shape, "last: $last", map[string]any{"last": n - 1}), 1, n, false, true)
				// where: {} filters nothing.
				checkPage(t, page(t, shape, "first: $first, where: $where", map[string]any{"first": 2, "where": map[string]any{}}), 0, 2, true, false)
			})
		}

		t.Run("filtered pages count", func(t *testing.T) {
			for _, c := range []struct {
				args string
				vars map[string]any
				want int
			}{
				{"first: 2, status: $status", map[string]any{"status": "ACTIVE"}, n - 1},
				{"first: 2, status: $status", map[string]any{"status": "REVOKED"}, 1},
				{"first: 2, search: $search", map[string]any{"search": "dev-"}, 2},
				// The rotated key keeps its label: count-0 twice.
				{"first: 2, where: $where", map[string]any{"where": map[string]any{"labelHasPrefix": "count-"}}, 5},
				{"first: 2, where: $where", map[string]any{"where": map[string]any{"not": map[string]any{"labelHasPrefix": "bulk-"}}}, n - 3},
			} {
				for shape := range shapes {
					conn := page(t, shape, c.args, c.vars)
					if tc := dig(t, conn, "totalCount"); tc != float64(c.want) {
						t.Errorf("%s %v (%s): totalCount = %v, want %d", c.args, c.vars, shape, tc, c.want)
					}
					if got := dig(t, conn, "pageInfo", "hasNextPage"); got != (c.want > 2) {
						t.Errorf("%s %v (%s): hasNextPage = %v with %d keys", c.args, c.vars, shape, got, c.want)
					}
				}
			}
		})

		t.Run("without edges", func(t *testing.T) {
			for _, args := range []string{"first: 2", "first: 0", "last: 0"} {
				d := s.must(t, owner, `query($ws: ID!) { workspace(id: $ws) { apiKeys(`+args+`) { totalCount pageInfo { hasNextPage hasPreviousPage } } } }`, map[string]any{"ws": ws})
				if tc := dig(t, d, "workspace", "apiKeys", "totalCount"); tc != float64(n) {
					t.Errorf("%s: totalCount = %v, want %d", args, tc, n)
				}
			}
		})

		t.Run("every way to a workspace", func(t *testing.T) {
			const conn = `apiKeys(first: 1) { totalCount edges { node { id } } }`
			d := s.must(t, owner, `query($ws: ID!) {
				node(id: $ws) { ... on Workspace { `+conn+` } }
				workspaces(first: 100) { edges { node { id `+conn+` } } }
				viewer { memberships { workspace { id `+conn+` } } } }`, map[string]any{"ws": ws})
			totals := []any{dig(t, d, "node", "apiKeys", "totalCount")}
			for _, e := range list(t, d, "workspaces", "edges") {
				if dig(t, e, "node", "id") == ws {
					totals = append(totals, dig(t, e, "node", "apiKeys", "totalCount"))
				}
			}
			for _, m := range list(t, d, "viewer", "memberships") {
				if dig(t, m, "workspace", "id") == ws {
					totals = append(totals, dig(t, m, "workspace", "apiKeys", "totalCount"))
				}
			}
			if len(totals) != 3 {
				t.Fatalf("found the workspace %d times, want 3: %v", len(totals), d)
			}
			for i, tc := range totals {
				if tc != float64(n) {
					t.Errorf("path %d: totalCount = %v, want %d", i, tc, n)
				}
			}
		})

		// The unfiltered total is the stored count and a filtered one a
		// COUNT: shift the stored count and see which answers move.
		t.Run("served from the count", func(t *testing.T) {
			setCount := func(v int64) {
				t.Helper()
				if err := s.cp.Store.Ent.Workspace.UpdateOneID(ws).SetAPIKeyCount(v).Exec(sys(t)); err != nil {
					t.Fatal(err)
				}
			}
			setCount(int64(n) + 100)
			defer setCount(int64(n))
			for shape := range shapes {
				if tc := dig(t, page(t, shape, "first: 2", map[string]any{}), "totalCount"); tc != float64(n+100) {
					t.Errorf("%s: unfiltered totalCount = %v, want the stored %d", shape, tc, n+100)
				}
				if tc := dig(t, page(t, shape, "first: 2, status: $status", map[string]any{"status": "ACTIVE"}), "totalCount"); tc != float64(n-1) {
					t.Errorf("%s: filtered totalCount = %v, want the counted %d", shape, tc, n-1)
				}
			}
		})
	})
}

// argTypes are the types of apiKeys' arguments, for query variables.
var argTypes = map[string]string{
	"after": "Cursor", "before": "Cursor", "first": "Int", "last": "Int",
	"status": "APIKeyStatus", "search": "String", "where": "APIKeyWhereInput",
}

// newKey is a key of workspace ws for ent's builders.
func newKey(c *ent.Client, ws, label string) *ent.APIKeyCreate {
	h := make([]byte, 32)
	_, _ = rand.Read(h)
	return c.APIKey.Create().SetWorkspaceID(ws).SetLabel(label).SetSecretHash(hex.EncodeToString(h)).SetMaskedKey("sk-oais-…" + label)
}

// storedKeyCount returns workspace ws's api_key_count and its rows of api_keys.
func storedKeyCount(t testing.TB, s *server, ws string) (int64, int) {
	t.Helper()
	w, err := s.cp.Store.Ent.Workspace.Get(sys(t), ws)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.cp.Store.Ent.APIKey.Query().Where(apikey.WorkspaceID(ws)).Count(sys(t))
	if err != nil {
		t.Fatal(err)
	}
	return w.APIKeyCount, rows
}
