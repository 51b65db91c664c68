package graphqltest

import (
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/auditevent"
	"github.com/oais/oais/internal/storetest"
)

func storetestSQLite(t testing.TB) string { return storetest.SQLiteURL(t) }

const createToken = `mutation($ws: ID!, $n: String!, $r: MembershipRole!, $x: Time) {
	createServiceToken(input: {workspaceID: $ws, name: $n, role: $r, expiresAt: $x}) { token serviceToken { id name role status } } }`

// serviceToken mints a token in ws with role and returns its id and secret.
func (s *server) serviceToken(t testing.TB, token, ws, role string) (id, secret string) {
	t.Helper()
	d := s.must(t, token, createToken, map[string]any{"ws": ws, "n": s.unique("ci-"), "r": role})
	secret = str(t, d, "createServiceToken", "token")
	s.secrets.add(secret, "service token")
	return str(t, d, "createServiceToken", "serviceToken", "id"), secret
}

// TestServiceTokenTenancy: a service token acts in its one workspace, never
// in another of its creator's, never above its creator's role, and never on
// the creator's account.
func TestServiceTokenTenancy(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("owner")+"@a.test")
		wsA := s.createWorkspace(t, owner.Token, "A")
		wsB := s.createWorkspace(t, owner.Token, "B")
		keyB, _ := s.createKey(t, owner.Token, wsB, "b-key")
		dev := s.signUp(t, s.unique("dev")+"@a.test")
		devMem := s.addMember(t, owner.Token, wsA, dev, "DEVELOPER")

		id, tok := s.serviceToken(t, owner.Token, wsA, "ADMIN")
		if !strings.HasPrefix(tok, auth.ServiceTokenPrefix) || strings.HasPrefix(tok, "sk-oais-") {
			t.Fatalf("token %q", tok)
		}

		// In its workspace it works as an admin would.
		s.must(t, tok, `query($id: ID!) { workspace(id: $id) { id viewerRole } }`, map[string]any{"id": wsA})
		s.createKey(t, tok, wsA, "made by ci")
		// Audited as its creator, with the token named.
		ev, err := s.cp.Store.Ent.AuditEvent.Query().Where(auditevent.WorkspaceID(wsA), auditevent.Action("key.created")).
			Order(ent.Desc(auditevent.FieldID)).First(sys(t))
		if err != nil || ev.ActorEmail != owner.Email || ev.Details["service_token"] != id {
			t.Fatalf("the key the token made is audited as %+v (%v): want the creator, and the token in details", ev, err)
		}
		d := s.must(t, tok, `{ viewer { id memberships { workspace { id } } } workspaces(first: 10) { totalCount } }`, nil)
		if got := list(t, d, "viewer", "memberships"); len(got) != 1 || str(t, got[0], "workspace", "id") != wsA {
			t.Fatalf("the token's viewer has memberships %v, want A only", got)
		}
		if n := dig(t, d, "workspaces", "totalCount"); n != float64(1) {
			t.Fatalf("the token sees %v workspaces, want 1", n)
		}

		t.Run("another workspace of its creator is not there", func(t *testing.T) {
			r := s.post(t, tok, `query($id: ID!) { workspace(id: $id) { id } }`, map[string]any{"id": wsB})
			if len(r.Errors) > 0 || r.Data["workspace"] != nil {
				t.Fatalf("workspace B through A's token: %s", r.Body)
			}
			s.wantCode(t, notFound, tok, `mutation($id: ID!) { createAPIKey(input: {workspaceID: $id, label: "x"}) { secret } }`, map[string]any{"id": wsB})
			s.wantCode(t, notFound, tok, `mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": keyB})
			s.wantCode(t, notFound, tok, `mutation($id: ID!) { updateWorkspaceLimits(workspaceID: $id, rpm: 1) { id } }`, map[string]any{"id": wsB})
		})

		t.Run("no role above its creator's", func(t *testing.T) {
			for _, role := range []string{"OWNER", "ADMIN"} {
				s.wantCode(t, forbid, dev.Token, createToken, map[string]any{"ws": wsA, "n": "escalate", "r": role})
			}
			_, devTok := s.serviceToken(t, dev.Token, wsA, "DEVELOPER")
			s.wantCode(t, forbid, devTok, `mutation($id: ID!) { updateWorkspaceLimits(workspaceID: $id, rpm: 1) { id } }`, map[string]any{"id": wsA})
			// Nor above the creator's role now: demoted, the token shrinks too.
			viewerTok := func() string { _, t2 := s.serviceToken(t, dev.Token, wsA, "DEVELOPER"); return t2 }()
			s.must(t, owner.Token, `mutation($id: ID!) { updateMemberRole(membershipID: $id, role: VIEWER) { id } }`, map[string]any{"id": devMem})
			s.wantCode(t, forbid, viewerTok, `mutation($id: ID!) { createAPIKey(input: {workspaceID: $id, label: "x"}) { secret } }`, map[string]any{"id": wsA})
			// Removed, the creator's tokens stop.
			s.must(t, owner.Token, `mutation($id: ID!) { removeMember(membershipID: $id) }`, map[string]any{"id": devMem})
			s.wantCode(t, unauth, viewerTok, `{ viewer { id } }`, nil)
		})

		t.Run("nothing of the person", func(t *testing.T) {
			for _, q := range []string{
				`{ sessions { id } }`,
				`mutation { signOutEverywhere }`,
				`mutation { enrollTOTP { secret } }`,
				`mutation { createWorkspace(input: {name: "from ci"}) { id } }`,
				`mutation { changePassword(current: "x", new: "a long enough password") }`,
			} {
				s.wantCode(t, forbid, tok, q, nil)
			}
			s.wantCode(t, forbid, tok, createToken, map[string]any{"ws": wsA, "n": "child", "r": "VIEWER"})
			s.must(t, owner.Token, `{ viewer { id } }`, nil) // the owner's session is untouched
		})

		t.Run("malformed, revoked and expired tokens are nobody", func(t *testing.T) {
			broken := tok[:len(tok)-1] + map[bool]string{true: "A", false: "B"}[tok[len(tok)-1] != 'A']
			s.wantCode(t, unauth, broken, `{ viewer { id } }`, nil)
			past := time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano)
			d := s.must(t, owner.Token, createToken, map[string]any{"ws": wsA, "n": "short", "r": "VIEWER", "x": past})
			short := str(t, d, "createServiceToken", "token")
			s.must(t, short, `{ viewer { id } }`, nil)
			time.Sleep(2500 * time.Millisecond)
			s.wantCode(t, unauth, short, `{ viewer { id } }`, nil)

			d = s.must(t, owner.Token, `mutation($id: ID!) { revokeServiceToken(id: $id) { status } }`, map[string]any{"id": id})
			if got := str(t, d, "revokeServiceToken", "status"); got != "REVOKED" {
				t.Fatalf("status %s", got)
			}
			s.wantCode(t, unauth, tok, `{ viewer { id } }`, nil)
		})

		// Audited, and listed on the workspace without the secret.
		acts := s.auditActions(t, owner.Token, wsA)
		if len(acts["service_token.created"]) == 0 || len(acts["service_token.revoked"]) == 0 {
			t.Fatalf("audit lacks service token lines: %v", acts)
		}
		d = s.must(t, owner.Token, `query($id: ID!) { workspace(id: $id) { serviceTokens { id name role status createdByID } } }`, map[string]any{"id": wsA})
		if n := len(list(t, d, "workspace", "serviceTokens")); n < 4 {
			t.Fatalf("%d tokens listed", n)
		}
	})
}
