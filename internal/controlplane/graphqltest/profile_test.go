package graphqltest

import (
	"testing"
)

// profileFields is every field of User beyond id, e-mail and name.
var profileFields = []string{"createdAt", "updatedAt", "siteAdmin", "disabled", "lastSignInAt"}

const userFields = `id email name createdAt updatedAt siteAdmin disabled lastSignInAt`

// TestInviteeProfileIsPrivate is issue 15's second attack: a self-service
// tenant invites an existing account (here the site admin) and reads its
// profile through the membership once the invitee joined. Others
// see an invitee's e-mail and name; its sign-in times and flags stay its own.
func TestInviteeProfileIsPrivate(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		attacker := s.signUp(t, s.unique("attacker")+"@evil.test")
		ws := s.createWorkspace(t, attacker.Token, "phishing")
		s.addMember(t, attacker.Token, ws, s.admin, "VIEWER")

		d := s.must(t, attacker.Token, `query($id: ID!) { workspace(id: $id) { memberships(first: 10) { edges { node { user { `+userFields+` } } } } } }`,
			map[string]any{"id": ws})
		seen := map[string]map[string]any{}
		for _, e := range list(t, d, "workspace", "memberships", "edges") {
			u := dig(t, e, "node", "user").(map[string]any)
			seen[u["id"].(string)] = u
		}
		admin, me := seen[s.admin.ID], seen[attacker.ID]
		if admin == nil || me == nil {
			t.Fatalf("memberships lack the invitee or the inviter: %v", seen)
		}

		t.Run("the invitee's e-mail is shown", func(t *testing.T) {
			if admin["email"] != adminEmail {
				t.Errorf("invitee email = %v, want %s", admin["email"], adminEmail)
			}
		})
		t.Run("the invitee's profile is null through the membership", func(t *testing.T) {
			for _, f := range profileFields {
				if admin[f] != nil {
					t.Errorf("the inviter reads the invitee's %s: %v", f, admin[f])
				}
			}
		})
		t.Run("the invitee's profile is null through node", func(t *testing.T) {
			d := s.must(t, attacker.Token, `query($id: ID!) { node(id: $id) { ... on User { `+userFields+` } } }`, map[string]any{"id": s.admin.ID})
			n, _ := d["node"].(map[string]any)
			if n == nil || n["email"] != adminEmail {
				t.Fatalf("node(invitee) = %v, want the invitee's e-mail", d["node"])
			}
			for _, f := range profileFields {
				if n[f] != nil {
					t.Errorf("the inviter reads the invitee's %s through node: %v", f, n[f])
				}
			}
		})
		t.Run("a user reads their own profile", func(t *testing.T) {
			for _, f := range []string{"createdAt", "updatedAt", "lastSignInAt"} {
				if me[f] == nil {
					t.Errorf("own %s is null", f)
				}
			}
			if me["siteAdmin"] != false || me["disabled"] != false {
				t.Errorf("own flags: siteAdmin %v, disabled %v; want false, false", me["siteAdmin"], me["disabled"])
			}
			d := s.must(t, s.admin.Token, `query($id: ID!) { node(id: $id) { ... on User { `+userFields+` } } viewer { siteAdmin } }`,
				map[string]any{"id": s.admin.ID})
			if dig(t, d, "node", "siteAdmin") != true || dig(t, d, "viewer", "siteAdmin") != true || dig(t, d, "node", "lastSignInAt") == nil {
				t.Errorf("the site admin cannot read their own profile: %v", d)
			}
		})
	})
}
