package graphqltest

import (
	"sync"
	"testing"

	"github.com/oais/oais/ent/membership"
)

// TestLastOwnerConcurrent sends, at once, the two owners' demotions (and
// removals) of each other: whichever runs second must find the other gone
// and refuse, so the workspace keeps an owner (issue 15).
func TestLastOwnerConcurrent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		demote := `mutation($id: ID!) { updateMemberRole(membershipID: $id, role: ADMIN) { id } }`
		for round := range 8 {
			a := s.signUp(t, s.unique("a")+"@owners.test")
			b := s.signUp(t, s.unique("b")+"@owners.test")
			ws := s.createWorkspace(t, a.Token, "two owners")
			memB := s.addMember(t, a.Token, ws, b, "OWNER")
			d := s.must(t, a.Token, `query($id: ID!) { workspace(id: $id) { memberships(first: 5) { edges { node { id user { id } } } } } }`,
				map[string]any{"id": ws})
			var memA string
			for _, e := range list(t, d, "workspace", "memberships", "edges") {
				if str(t, e, "node", "user", "id") == a.ID {
					memA = str(t, e, "node", "id")
				}
			}
			b = s.signIn(t, b.Email, b.Password) // a token that knows b owns ws
			q := demote
			if round%2 == 1 {
				q = removeMember
			}
			var wg sync.WaitGroup
			replies := make([]reply, 2)
			for i, call := range []struct {
				token, target string
			}{{a.Token, memB}, {b.Token, memA}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					replies[i] = s.post(t, call.token, q, map[string]any{"id": call.target})
				}()
			}
			wg.Wait()
			n, err := s.cp.Store.Ent.Membership.Query().
				Where(membership.WorkspaceID(ws), membership.RoleEQ(membership.RoleOWNER)).Count(sys(t))
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Fatalf("round %d: %d owners left after two concurrent %s:\n%s\n%s", round, n, q, replies[0].Body, replies[1].Body)
			}
			// The second is refused as the last owner's change (FORBIDDEN),
			// or, had its request begun after the first's commit, as no
			// longer an owner (FORBIDDEN) or no longer a member (NOT_FOUND).
			refused := 0
			for _, r := range replies {
				if len(r.Errors) > 0 && (r.Errors[0].code() == "FORBIDDEN" || r.Errors[0].code() == "NOT_FOUND") {
					refused++
				}
			}
			if refused != 1 {
				t.Fatalf("round %d: want exactly one refusal, got:\n%s\n%s", round, replies[0].Body, replies[1].Body)
			}
		}
	})
}
