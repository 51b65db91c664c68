package graphqltest

import (
	"testing"
	"time"

	"github.com/oais/oais/ent/usageevent"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

// actor is who calls an operation in the matrix: one of workspace A's four
// roles, the owner of only workspace B, or nobody.
type actor int

const (
	asOwner actor = iota
	asAdmin
	asDeveloper
	asViewer
	asOutsider
	asAnonymous
	nActors
)

func (a actor) String() string {
	return [...]string{"owner", "admin", "developer", "viewer", "outsider", "anonymous"}[a]
}

// roleOf is the membership role of A's actors.
var roleOf = [...]string{asOwner: "OWNER", asAdmin: "ADMIN", asDeveloper: "DEVELOPER", asViewer: "VIEWER"}

// world is two workspaces and their people: A with an owner, an admin, a
// developer and a viewer; B owned by an outsider who is not in A.
type world struct {
	s     *server
	users [asOutsider + 1]*user
	wsA   string
	wsB   string

	keyOwner, secretOwner string // a key of A created by A's owner
	keyDev                string // a key of A created by A's developer
	keyB                  string // a key of B
	invA                  string // a pending invitation into A
	mems                  [asViewer + 1]string
	audA                  string // an audit event of A
	useA                  string // a usage event of A
}

// newWorld builds the world through the API, plus one usage event (the
// ledger is written by the gateway, not by GraphQL).
func newWorld(t *testing.T, s *server) *world {
	t.Helper()
	w := &world{s: s}
	for a := asOwner; a <= asOutsider; a++ {
		w.users[a] = s.signUp(t, a.String()+"@a.test")
	}
	w.wsA = s.createWorkspace(t, w.token(asOwner), "Workspace A")
	w.wsB = s.createWorkspace(t, w.token(asOutsider), "Workspace B")
	for a := asAdmin; a <= asViewer; a++ {
		w.mems[a] = s.addMember(t, w.token(asOwner), w.wsA, w.users[a], roleOf[a])
	}
	w.invA, _ = s.invite(t, w.token(asOwner), w.wsA, "pending@a.test", "VIEWER")
	d := s.must(t, w.token(asOwner), `query($id: ID!) { workspace(id: $id) { memberships(first: 10) { edges { node { id role } } } } }`,
		map[string]any{"id": w.wsA})
	for _, e := range list(t, d, "workspace", "memberships", "edges") {
		if str(t, e, "node", "role") == "OWNER" {
			w.mems[asOwner] = str(t, e, "node", "id")
		}
	}
	w.keyOwner, w.secretOwner = s.createKey(t, w.token(asOwner), w.wsA, "owner key")
	w.keyDev, _ = s.createKey(t, w.token(asDeveloper), w.wsA, "developer key")
	w.keyB, _ = s.createKey(t, w.token(asOutsider), w.wsB, "b key")
	d = s.must(t, w.token(asOwner), `query($id: ID!) { workspace(id: $id) { auditEvents(first: 1) { edges { node { id } } } } }`,
		map[string]any{"id": w.wsA})
	w.audA = str(t, d, "workspace", "auditEvents", "edges", 0, "node", "id")
	// Through the ledger, as the gateway's records arrive: it keeps the
	// hourly rollups the analytics read.
	reqID := ids.New("req")
	err := ledger.New(s.cp.Store).Ship(sys(t), []usage.Record{{
		RequestID: reqID, WorkspaceID: w.wsA, KeyID: w.keyOwner, Model: "mock-gpt", Endpoint: "/v1/chat/completions",
		Status: 200, Source: usage.SourceUpstream, PromptTokens: 10, CompletionTokens: 5, CostMicros: 42,
		Time: time.Now().Add(-time.Minute),
	}})
	if err != nil {
		t.Fatalf("ship usage event: %v", err)
	}
	ue, err := s.cp.Store.Ent.UsageEvent.Query().Where(usageevent.RequestID(reqID)).Only(sys(t))
	if err != nil {
		t.Fatalf("read usage event: %v", err)
	}
	w.useA = ue.ID
	// The matrix makes many keys; the default limit is not what it tests.
	if err := s.cp.Store.Ent.Workspace.UpdateOneID(w.wsA).SetMaxKeys(10000).Exec(sys(t)); err != nil {
		t.Fatal(err)
	}
	return w
}

// token is a's access token; "" for the anonymous caller.
func (w *world) token(a actor) string {
	if a == asAnonymous {
		return ""
	}
	return w.users[a].Token
}

// freshKey makes a new key of A created by creator.
func (w *world) freshKey(t *testing.T, creator actor) (id, secret string) {
	t.Helper()
	return w.s.createKey(t, w.token(creator), w.wsA, w.s.unique("fresh-"))
}

// freshMember signs up a new user, makes them a member of A with role and
// returns the membership.
func (w *world) freshMember(t *testing.T, role string) string {
	t.Helper()
	u := w.s.signUp(t, w.s.unique("member")+"@a.test")
	return w.s.addMember(t, w.token(asOwner), w.wsA, u, role)
}

// freshInvitation invites a new address into A as a developer and returns
// the invitation's id and token. Its mail is dated an hour back, so it may
// be resent at once.
func (w *world) freshInvitation(t *testing.T) (id, link string) {
	t.Helper()
	id, link = w.s.invite(t, w.token(asOwner), w.wsA, w.s.unique("invitee")+"@a.test", "DEVELOPER")
	if err := w.s.cp.Store.Ent.Invitation.UpdateOneID(id).SetSentAt(time.Now().Add(-time.Hour)).Exec(sys(t)); err != nil {
		t.Fatal(err)
	}
	return id, link
}
