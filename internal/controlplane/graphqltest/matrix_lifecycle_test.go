package graphqltest

import (
	"testing"

	"github.com/oais/oais/internal/ids"
)

// lifecycleRows are the tenancy and role matrix's rows of issue 16's key
// lifecycle: delete, reset, the credit quota, lifetimes in hours and the
// workspace switch (TestMatrix runs them with the rest).
func lifecycleRows() []op {
	freshKey := func(creator actor) func(*testing.T, *world, actor) map[string]any {
		return func(t *testing.T, w *world, _ actor) map[string]any {
			id, _ := w.freshKey(t, creator)
			return map[string]any{"id": id}
		}
	}
	// ownerOnlyA: only owners, of A; admins are refused like developers.
	ownerOnlyA := want(ok, forbid, forbid, forbid, notFound, unauth)
	return []op{
		{name: "deleteAPIKey owner's key", field: "deleteAPIKey", want: manageA, vars: freshKey(asOwner),
			query: `mutation($id: ID!) { deleteAPIKey(id: $id) }`},
		{name: "deleteAPIKey developer's key", field: "deleteAPIKey", want: want(ok, ok, ok, forbid, notFound, unauth), vars: freshKey(asDeveloper),
			query: `mutation($id: ID!) { deleteAPIKey(id: $id) }`},
		{name: "deleteAPIKey made-up id", field: "deleteAPIKey", want: want(notFound, notFound, notFound, notFound, notFound, unauth),
			vars:  func(*testing.T, *world, actor) map[string]any { return map[string]any{"id": ids.New(ids.APIKey)} },
			query: `mutation($id: ID!) { deleteAPIKey(id: $id) }`},
		{name: "deleteAPIKey B's key", field: "deleteAPIKey", want: want(notFound, notFound, notFound, notFound, ok, unauth),
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				id, _ := w.s.createKey(t, w.token(asOutsider), w.wsB, w.s.unique("b-del-"))
				return map[string]any{"id": id}
			},
			query: `mutation($id: ID!) { deleteAPIKey(id: $id) }`},
		{name: "resetAPIKeyRequestCount owner's key", field: "resetAPIKeyRequestCount", want: manageA, vars: freshKey(asOwner),
			query: `mutation($id: ID!) { resetAPIKeyRequestCount(id: $id) { id requestCount requestsResetAt status } }`},
		{name: "resetAPIKeyRequestCount developer's key", field: "resetAPIKeyRequestCount", want: want(ok, ok, ok, forbid, notFound, unauth), vars: freshKey(asDeveloper),
			query: `mutation($id: ID!) { resetAPIKeyRequestCount(id: $id) { id requestCount } }`},
		{name: "resetAPIKeyRequestCount B's key", field: "resetAPIKeyRequestCount", want: want(notFound, notFound, notFound, notFound, ok, unauth),
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				id, _ := w.s.createKey(t, w.token(asOutsider), w.wsB, w.s.unique("b-reset-"))
				return map[string]any{"id": id}
			},
			query: `mutation($id: ID!) { resetAPIKeyRequestCount(id: $id) { id } }`},
		{name: "updateAPIKey top up the credit quota", field: "updateAPIKey", want: manageA, vars: freshKey(asOwner),
			query: `mutation($id: ID!) { updateAPIKey(id: $id, input: {creditQuotaCents: 2500}) { id creditQuotaCents creditUsedMicros creditRemainingMicros } }`},
		// Input is checked before the workspace is looked up: the same answer for A and a made-up id.
		{name: "createAPIKey durationHours and expiresAt", field: "createAPIKey", want: want(badInput, badInput, badInput, badInput, badInput, unauth), vars: wsA,
			query: `mutation($id: ID!) { createAPIKey(input: {workspaceID: $id, label: "both", durationHours: 24, expiresAt: "2099-01-01T00:00:00Z"}) { secret } }`},
		{name: "createAPIKey durationHours and creditQuotaCents", field: "createAPIKey", want: want(ok, ok, ok, forbid, notFound, unauth), vars: wsA,
			query: `mutation($id: ID!) { createAPIKey(input: {workspaceID: $id, label: "hours", durationHours: 4, creditQuotaCents: 100}) { secret apiKey { id expiresAt creditQuotaCents } } }`},
		{name: "workspace.active", field: "workspace", want: readA, vars: wsA,
			query: `query($id: ID!) { workspace(id: $id) { id active } }`},
		// Switching A off would refuse the other rows' keys: the owner switches it on, which it is.
		{name: "setWorkspaceActive", field: "setWorkspaceActive", want: ownerOnlyA, vars: wsA,
			query: `mutation($id: ID!) { setWorkspaceActive(workspaceID: $id, active: true) { id active } }`},
		{name: "setWorkspaceActive B", field: "setWorkspaceActive", want: want(notFound, notFound, notFound, notFound, ok, unauth),
			vars:  func(_ *testing.T, w *world, _ actor) map[string]any { return map[string]any{"id": w.wsB} },
			query: `mutation($id: ID!) { setWorkspaceActive(workspaceID: $id, active: true) { id active } }`},
	}
}
