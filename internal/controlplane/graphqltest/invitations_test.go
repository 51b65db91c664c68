package graphqltest

import "testing"

// memberOf reports whether token's user can see ws and has a membership in it.
func (s *server) memberOf(t testing.TB, token, ws string) bool {
	t.Helper()
	d := s.must(t, token, `query($id: ID!) { workspace(id: $id) { id } viewer { memberships { workspace { id } } } }`, map[string]any{"id": ws})
	if d["workspace"] != nil {
		return true
	}
	for _, m := range list(t, d, "viewer", "memberships") {
		if str(t, m, "workspace", "id") == ws {
			return true
		}
	}
	return false
}

// TestInviteTakeoverBySignUp is issue 15's first attack: an owner invites
// alice@ as ADMIN; before Alice arrives, an attacker signs up with her
// address. The attacker must not become a member of anything.
func TestInviteTakeoverBySignUp(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("owner")+"@corp.test")
		ws := s.createWorkspace(t, owner.Token, "Corp")
		alice := s.unique("alice") + "@corp.test"
		s.post(t, owner.Token, `mutation($ws: ID!, $e: String!) { inviteMember(workspaceID: $ws, email: $e, role: ADMIN) { id } }`,
			map[string]any{"ws": ws, "e": alice})

		attacker := s.signUp(t, alice)
		if s.memberOf(t, attacker.Token, ws) {
			t.Fatal("whoever signed up with the invited address became a member without the invitation's token")
		}
	})
}

// TestPreRegisteredAddressGetsNoInvite is the second attack: the attacker
// registers a victim's address first (no proof they own it); a later
// invitation of that address must not reach the attacker's account.
func TestPreRegisteredAddressGetsNoInvite(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("owner")+"@corp.test")
		ws := s.createWorkspace(t, owner.Token, "Corp")
		victim := s.unique("victim") + "@corp.test"
		attacker := s.signUp(t, victim)
		s.post(t, owner.Token, `mutation($ws: ID!, $e: String!) { inviteMember(workspaceID: $ws, email: $e, role: ADMIN) { id } }`,
			map[string]any{"ws": ws, "e": victim})
		if s.memberOf(t, attacker.Token, ws) {
			t.Fatal("the unverified account that pre-registered the address became a member of the workspace that invited it")
		}
	})
}
