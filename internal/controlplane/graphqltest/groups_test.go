package graphqltest

import (
	"testing"
	"time"

	"github.com/oais/oais/internal/gateways"
	"github.com/oais/oais/internal/ids"
)

const (
	createGroupQ = `mutation($n: String!, $b: Int!) { createGroup(input: {name: $n, priceMultiplierBps: $b, rpm: 60}) { id name priceMultiplierBps rpm tpm } }`
	updateGroupQ = `mutation($id: ID!) { updateGroup(id: $id, input: {priceMultiplierBps: 12000}) { id priceMultiplierBps } }`
	deleteGroupQ = `mutation($id: ID!) { deleteGroup(id: $id) }`
	setWsGroupQ  = `mutation($ws: ID!, $g: ID) { setWorkspaceGroup(workspaceID: $ws, groupID: $g) { id groupID group { id name } } }`
)

// newGroup has the site admin define a group and returns its id.
func (s *server) newGroup(t testing.TB, bps int) string {
	t.Helper()
	d := s.must(t, s.admin.Token, createGroupQ, map[string]any{"n": s.unique("grp-"), "b": bps})
	return str(t, d, "createGroup", "id")
}

// groupRows are the matrix rows of groups and gateways: only site admins
// (none of the matrix's actors) define groups and set a workspace's; every
// signed-in user lists groups and gateways (a key's editor picks from them).
func groupRows() []op {
	everyoneRefused := want(forbid, forbid, forbid, forbid, forbid, unauth)
	freshGroup := func(t *testing.T, w *world, _ actor) map[string]any {
		return map[string]any{"id": w.s.newGroup(t, 15_000)}
	}
	return []op{
		{name: "groups", field: "groups", want: anyUser, query: `{ groups { id name priceMultiplierBps rpm tpm } }`},
		{name: "gateways", field: "gateways", want: anyUser, query: `{ gateways { name lastSeenAt } }`},
		{name: "createGroup", field: "createGroup", want: everyoneRefused, query: createGroupQ,
			vars: func(_ *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"n": w.s.unique("grp-"), "b": 5_000}
			}},
		{name: "updateGroup", field: "updateGroup", want: everyoneRefused, query: updateGroupQ, vars: freshGroup},
		{name: "deleteGroup", field: "deleteGroup", want: everyoneRefused, query: deleteGroupQ, vars: freshGroup},
		{name: "setWorkspaceGroup A", field: "setWorkspaceGroup", want: everyoneRefused, query: setWsGroupQ,
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"ws": w.wsA, "g": w.s.newGroup(t, 5_000)}
			}},
		{name: "setWorkspaceGroup made-up workspace", field: "setWorkspaceGroup", want: everyoneRefused, query: setWsGroupQ,
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"ws": ids.New(ids.Workspace), "g": nil}
			}},
	}
}

// TestGroupsAndGatewaysAPI: the site admin defines, edits and deletes
// groups and sets a workspace's (audited); a key's editor may pick a group
// that raises the key's price but not one that lowers it (a member cannot
// discount themselves), nor touch another tenant's key; a key's gateway
// name is validated and stored; Query.gateways lists the gateways' beats.
func TestGroupsAndGatewaysAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		w := newWorld(t, s)
		owner := w.token(asOwner)
		surcharge, discount := s.newGroup(t, 15_000), s.newGroup(t, 5_000)

		t.Run("bad group input is refused with the field", func(t *testing.T) {
			for _, b := range []int{-1, 100_001} {
				r := s.wantCode(t, badInput, s.admin.Token, createGroupQ, map[string]any{"n": s.unique("bad-"), "b": b})
				if r.Errors[0].Extensions["field"] != "priceMultiplierBps" {
					t.Errorf("field %v, want priceMultiplierBps", r.Errors[0].Extensions["field"])
				}
			}
			s.wantCode(t, badInput, s.admin.Token, createGroupQ, map[string]any{"n": " ", "b": 10_000})
		})

		t.Run("a member picks a dearer group, never a cheaper one", func(t *testing.T) {
			d := s.must(t, owner, `mutation($ws: ID!, $g: ID) { createAPIKey(input: {workspaceID: $ws, label: "grouped", groupID: $g}) { apiKey { id groupID group { id priceMultiplierBps } } } }`,
				map[string]any{"ws": w.wsA, "g": surcharge})
			if got := str(t, d, "createAPIKey", "apiKey", "group", "id"); got != surcharge {
				t.Fatalf("key's group %q, want %q", got, surcharge)
			}
			id := str(t, d, "createAPIKey", "apiKey", "id")
			upd := `mutation($id: ID!, $g: ID) { updateAPIKey(id: $id, input: {groupID: $g}) { id groupID } }`
			s.wantCode(t, forbid, owner, upd, map[string]any{"id": id, "g": discount})
			// Leaving the surcharge group (back to list price) lowers it too.
			s.wantCode(t, forbid, owner, upd, map[string]any{"id": id, "g": ""})
			s.wantCode(t, forbid, owner, `mutation($ws: ID!, $g: ID) { createAPIKey(input: {workspaceID: $ws, label: "cheap", groupID: $g}) { apiKey { id } } }`,
				map[string]any{"ws": w.wsA, "g": discount})
			s.wantCode(t, badInput, owner, upd, map[string]any{"id": id, "g": ids.New(ids.Group)})
			// The outsider cannot reach A's key at all.
			s.wantCode(t, notFound, w.token(asOutsider), upd, map[string]any{"id": id, "g": surcharge})
			// A site admin may discount (as the operator).
			if _, err := s.cp.Store.Ent.APIKey.Get(sys(t), id); err != nil {
				t.Fatal(err)
			}
			if !contains(s.auditActions(t, owner, w.wsA)["key.created"], id) {
				t.Errorf("no key.created line for %s", id)
			}
		})

		t.Run("the site admin sets the workspace's group, audited", func(t *testing.T) {
			d := s.must(t, s.admin.Token, setWsGroupQ, map[string]any{"ws": w.wsA, "g": surcharge})
			if str(t, d, "setWorkspaceGroup", "group", "id") != surcharge {
				t.Fatalf("workspace group not set: %v", d)
			}
			if !contains(s.auditActions(t, owner, w.wsA)["workspace.group_changed"], w.wsA) {
				t.Errorf("no workspace.group_changed line in A's audit log")
			}
			// Now list price is below A's: a member cannot pick a list-price group.
			list := s.newGroup(t, 10_000)
			s.wantCode(t, forbid, owner, `mutation($ws: ID!, $g: ID) { createAPIKey(input: {workspaceID: $ws, label: "list", groupID: $g}) { apiKey { id } } }`,
				map[string]any{"ws": w.wsA, "g": list})
			s.must(t, s.admin.Token, setWsGroupQ, map[string]any{"ws": w.wsA, "g": nil})
		})

		t.Run("edit and delete a group; its keys fall back to none", func(t *testing.T) {
			g := s.newGroup(t, 20_000)
			d := s.must(t, owner, `mutation($ws: ID!, $g: ID) { createAPIKey(input: {workspaceID: $ws, label: "to-orphan", groupID: $g}) { apiKey { id } } }`,
				map[string]any{"ws": w.wsA, "g": g})
			key := str(t, d, "createAPIKey", "apiKey", "id")
			if got := dig(t, s.must(t, s.admin.Token, updateGroupQ, map[string]any{"id": g}), "updateGroup", "priceMultiplierBps"); got != 12000.0 {
				t.Fatalf("updated multiplier %v", got)
			}
			if got := str(t, s.must(t, s.admin.Token, deleteGroupQ, map[string]any{"id": g}), "deleteGroup"); got != g {
				t.Fatalf("deleteGroup answered %q", got)
			}
			if k := s.key(t, owner, key); k["groupID"] != nil {
				t.Fatalf("key keeps the deleted group: %v", k["groupID"])
			}
			s.wantCode(t, notFound, s.admin.Token, deleteGroupQ, map[string]any{"id": g})
		})

		t.Run("gateway name on keys", func(t *testing.T) {
			q := `mutation($ws: ID!, $n: String) { createAPIKey(input: {workspaceID: $ws, label: "bound", gatewayName: $n}) { apiKey { id gatewayName } } }`
			for _, bad := range []string{"EU", "eu_prod", "-eu", "a b"} {
				r := s.wantCode(t, badInput, owner, q, map[string]any{"ws": w.wsA, "n": bad})
				if r.Errors[0].Extensions["field"] != "gatewayName" {
					t.Errorf("%q: field %v, want gatewayName", bad, r.Errors[0].Extensions["field"])
				}
			}
			d := s.must(t, owner, q, map[string]any{"ws": w.wsA, "n": "eu-prod"})
			if str(t, d, "createAPIKey", "apiKey", "gatewayName") != "eu-prod" {
				t.Fatalf("gatewayName not stored: %v", d)
			}
			id := str(t, d, "createAPIKey", "apiKey", "id")
			d = s.must(t, owner, `mutation($id: ID!) { updateAPIKey(id: $id, input: {gatewayName: ""}) { gatewayName } }`, map[string]any{"id": id})
			if dig(t, d, "updateAPIKey", "gatewayName") != nil {
				t.Fatalf("gatewayName not cleared: %v", d)
			}
		})

		t.Run("Query.gateways lists the beats", func(t *testing.T) {
			if err := gateways.Beat(t.Context(), s.cp.Store.Ent, "eu-prod", time.Now()); err != nil {
				t.Fatal(err)
			}
			d := s.must(t, w.token(asViewer), `{ gateways { name lastSeenAt } }`, nil)
			gws := list(t, d, "gateways")
			if len(gws) != 1 || str(t, gws[0], "name") != "eu-prod" || str(t, gws[0], "lastSeenAt") == "" {
				t.Fatalf("gateways = %v", gws)
			}
		})
	})
}
