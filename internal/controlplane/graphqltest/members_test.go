package graphqltest

import (
	"fmt"
	"testing"

	"github.com/oais/oais/ent/auditevent"
	"github.com/oais/oais/internal/audit"
)

const removeMember = `mutation($id: ID!, $revoke: Boolean) { removeMember(membershipID: $id, revokeKeys: $revoke) }`

// removedDetails returns the details of the member.removed line of membership m.
func removedDetails(t *testing.T, s *server, m string) map[string]string {
	t.Helper()
	ev, err := s.cp.Store.Ent.AuditEvent.Query().
		Where(auditevent.Action(audit.MemberRemoved), auditevent.TargetID(m)).Only(sys(t))
	if err != nil {
		t.Fatalf("the audit log has no member.removed line for %s: %v", m, err)
	}
	return ev.Details
}

// TestRemoveMemberKeys: removing a member asks what happens to the keys
// they created; revoked, they stop at once; kept, they keep working; the
// audit line says how many either way.
func TestRemoveMemberKeys(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("owner")+"@rm.test")
		ws := s.createWorkspace(t, owner.Token, "removals")
		other := s.signUp(t, s.unique("other")+"@rm.test")
		s.addMember(t, owner.Token, ws, other, "DEVELOPER")
		otherKey, _ := s.createKey(t, other.Token, ws, "stays")

		// member joins as a developer, makes three keys and revokes one.
		member := func(t *testing.T, role string) (mem string, u *user, live []string) {
			u = s.signUp(t, s.unique("dev")+"@rm.test")
			mem = s.addMember(t, owner.Token, ws, u, "DEVELOPER")
			for i := range 3 {
				id, _ := s.createKey(t, u.Token, ws, fmt.Sprint("k", i))
				live = append(live, id)
			}
			s.must(t, u.Token, `mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": live[2]})
			if role != "DEVELOPER" {
				s.must(t, owner.Token, `mutation($id: ID!, $r: MembershipRole!) { updateMemberRole(membershipID: $id, role: $r) { id } }`,
					map[string]any{"id": mem, "r": role})
				u = s.signIn(t, u.Email, u.Password) // a token with the new role
			}
			return mem, u, live[:2]
		}
		status := func(t *testing.T, id string) (string, any) {
			t.Helper()
			k := s.key(t, owner.Token, id)
			return k["status"].(string), k["revokeReason"]
		}

		for _, tc := range []struct {
			name   string
			role   string
			self   bool
			revoke any // the argument: true, false or absent (nil)
		}{
			{name: "revoked by a manager", role: "DEVELOPER", revoke: true},
			{name: "kept by a manager", role: "DEVELOPER", revoke: false},
			{name: "kept when not asked", role: "DEVELOPER", revoke: nil},
			{name: "revoked by the member leaving", role: "DEVELOPER", self: true, revoke: true},
			// A viewer cannot write keys, yet revokes the ones it made as a developer when it leaves.
			{name: "revoked by a viewer leaving", role: "VIEWER", self: true, revoke: true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				mem, u, live := member(t, tc.role)
				who := owner.Token
				if tc.self {
					who = u.Token
				}
				vars := map[string]any{"id": mem}
				if tc.revoke != nil {
					vars["revoke"] = tc.revoke
				}
				if got := s.must(t, who, removeMember, vars)["removeMember"]; got != true {
					t.Fatalf("removeMember = %v", got)
				}
				revoked := tc.revoke == true
				for _, id := range live {
					st, reason := status(t, id)
					if revoked && (st != "REVOKED" || reason != "BULK") {
						t.Errorf("key %s: %s (%v), want REVOKED (BULK)", id, st, reason)
					}
					if !revoked && st != "ACTIVE" {
						t.Errorf("key %s: %s, want it kept ACTIVE", id, st)
					}
				}
				if st, _ := status(t, otherKey); st != "ACTIVE" {
					t.Errorf("another member's key is %s", st)
				}
				d := removedDetails(t, s, mem)
				if revoked && (d["keys_revoked"] != "2" || d["keys_kept"] != "") {
					t.Errorf("audit details %v, want keys_revoked 2", d)
				}
				if !revoked && (d["keys_kept"] != "2" || d["keys_revoked"] != "") {
					t.Errorf("audit details %v, want keys_kept 2", d)
				}
			})
		}
	})
}
