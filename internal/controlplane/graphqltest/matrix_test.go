package graphqltest

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/keys"
)

// Outcomes of one call in the matrix: the root field answered (ok), answered
// null with no error (absent or foreign), or failed with an extensions.code.
const (
	ok       = "ok"
	null     = "null"
	notFound = "NOT_FOUND"
	forbid   = "FORBIDDEN"
	unauth   = "UNAUTHENTICATED"
	badInput = "BAD_USER_INPUT"
	// Issue 15's codes.
	linkInvalid = "LINK_INVALID"
	mismatch    = "INVITATION_EMAIL_MISMATCH"
	otpInvalid  = "OTP_INVALID"
	mfaRequired = "MFA_REQUIRED"
	conflict    = "CONFLICT"
)

type outcomes [nActors]string

// want lists the outcome for owner, admin, developer, viewer (of A), the
// outsider (owner of B only) and the anonymous caller.
func want(owner, admin, developer, viewer, outsider, anonymous string) outcomes {
	return outcomes{owner, admin, developer, viewer, outsider, anonymous}
}

var (
	// readA: every member of A reads; to the outsider A does not exist.
	readA = want(ok, ok, ok, ok, null, unauth)
	// manageA: owners and admins change A.
	manageA = want(ok, ok, forbid, forbid, notFound, unauth)
	// anyUser: every signed-in user may.
	anyUser = want(ok, ok, ok, ok, ok, unauth)
	// public: no session needed.
	public = want(ok, ok, ok, ok, ok, ok)
	// managersOnlyA: owners and admins; to everyone else the record does not exist.
	managersOnlyA = want(ok, ok, notFound, notFound, notFound, unauth)
)

// unknownToken is a well-formed link token that was never mailed.
var unknownToken = strings.Repeat("A", 43)

// op is one row of the matrix: an operation on A (or B) and what each actor gets.
type op struct {
	name  string // unique case name
	field string // the Query or Mutation field it exercises
	query string
	vars  func(t *testing.T, w *world, a actor) map[string]any // may make fresh targets
	want  outcomes
	check func(t *testing.T, w *world, a actor, data map[string]any) // extra assertions on success
	// nullAnswer: null is a real answer here (a billing link without Stripe),
	// not "absent", so it is not compared with a made-up id's answer.
	nullAnswer bool
}

const usageRange = `$from: Time!, $to: Time!`

func rangeVars(id string) map[string]any {
	now := time.Now().UTC()
	return map[string]any{"id": id, "from": now.Add(-24 * time.Hour).Format(time.RFC3339), "to": now.Add(time.Hour).Format(time.RFC3339)}
}

func wsA(_ *testing.T, w *world, _ actor) map[string]any { return map[string]any{"id": w.wsA} }

// billingVars asks for a billing link of A that comes back to back, or to
// A's billing page on the dashboard (OAIS_PUBLIC_URL) when back is "".
func billingVars(back string) func(*testing.T, *world, actor) map[string]any {
	return func(_ *testing.T, w *world, _ actor) map[string]any {
		to := back
		if to == "" {
			to = w.s.cp.Config.PublicURL.JoinPath("w", w.wsA, "billing").String()
		}
		return map[string]any{"id": w.wsA, "back": to}
	}
}

func idVar(f func(w *world) string) func(*testing.T, *world, actor) map[string]any {
	return func(_ *testing.T, w *world, _ actor) map[string]any { return map[string]any{"id": f(w)} }
}

// own returns the credentials of a (the viewer of A's for the anonymous caller).
func own(w *world, a actor) *user {
	if a == asAnonymous {
		return w.users[asViewer]
	}
	return w.users[a]
}

// freshRefresh signs a in again and returns the new refresh token.
func freshRefresh(t *testing.T, w *world, a actor) map[string]any {
	u := own(w, a)
	return map[string]any{"r": w.s.signIn(t, u.Email, u.Password).Refresh}
}

func keyIDsOf(t *testing.T, data map[string]any, path ...any) []string {
	t.Helper()
	return nodeIDs(t, dig(t, data, path...))
}

func matrix() []op {
	freshOwnerKey := func(t *testing.T, w *world, _ actor) map[string]any {
		id, _ := w.freshKey(t, asOwner)
		return map[string]any{"id": id}
	}
	freshDevKey := func(t *testing.T, w *world, _ actor) map[string]any {
		id, _ := w.freshKey(t, asDeveloper)
		return map[string]any{"id": id}
	}
	freshMember := func(role string) func(*testing.T, *world, actor) map[string]any {
		return func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"id": w.freshMember(t, "DEVELOPER"), "role": role}
		}
	}
	return []op{
		// Queries.
		{name: "viewer", field: "viewer", want: anyUser,
			query: `{ viewer { id email siteAdmin memberships { role workspace { id } } } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				var wss []string
				for _, m := range list(t, d, "viewer", "memberships") {
					wss = append(wss, str(t, m, "workspace", "id"))
				}
				if got := contains(wss, w.wsA); got != (a <= asViewer) {
					t.Errorf("viewer.memberships lists A: %v", got)
				}
				if str(t, d, "viewer", "id") != w.users[a].ID {
					t.Errorf("viewer is someone else")
				}
			}},
		{name: "workspace", field: "workspace", want: readA, vars: wsA,
			query: `query($id: ID!) { workspace(id: $id) { id name slug viewerRole maxKeys rateLimits { rpm tpm monthlyTokenQuota } spendCap { monthlyCents } monthSpendMicros } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				if got := str(t, d, "workspace", "viewerRole"); got != roleOf[a] {
					t.Errorf("viewerRole = %s, want %s", got, roleOf[a])
				}
			}},
		{name: "workspace made-up id", field: "workspace", want: want(null, null, null, null, null, unauth),
			vars:  func(*testing.T, *world, actor) map[string]any { return map[string]any{"id": ids.New(ids.Workspace)} },
			query: `query($id: ID!) { workspace(id: $id) { id } }`},
		{name: "workspace.apiKeys", field: "workspace", want: readA, vars: wsA,
			query: `query($id: ID!) { workspace(id: $id) { apiKeys(first: 500) { totalCount edges { node { id workspaceID maskedKey status } } } } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				got := keyIDsOf(t, d, "workspace", "apiKeys")
				if !contains(got, w.keyOwner) || !contains(got, w.keyDev) || contains(got, w.keyB) {
					t.Errorf("A's keys = %v; want A's owner and developer keys and not B's", got)
				}
			}},
		{name: "workspace.apiKeys first over 500", field: "workspace", want: want(badInput, badInput, badInput, badInput, null, unauth), vars: wsA,
			query: `query($id: ID!) { workspace(id: $id) { apiKeys(first: 501) { totalCount } } }`},
		{name: "workspace.memberships", field: "workspace", want: readA, vars: wsA,
			query: `query($id: ID!) { workspace(id: $id) { memberships(first: 100) { totalCount edges { node { id role workspaceID user { id email } } } } } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				got := nodeIDs(t, dig(t, d, "workspace", "memberships"))
				for r := asOwner; r <= asViewer; r++ {
					if !contains(got, w.mems[r]) {
						t.Errorf("memberships lack the %s's", r)
					}
				}
			}},
		{name: "workspace.auditEvents", field: "workspace", want: readA, vars: wsA,
			query: `query($id: ID!) { workspace(id: $id) { auditEvents(first: 500) { totalCount edges { node { id action workspaceID } } } } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				for _, e := range list(t, d, "workspace", "auditEvents", "edges") {
					if str(t, e, "node", "workspaceID") != w.wsA {
						t.Errorf("an audit event of another workspace: %v", e)
					}
				}
			}},
		{name: "workspace.usageEvents", field: "workspace", want: readA, vars: wsA,
			query: `query($id: ID!) { workspace(id: $id) { usageEvents(first: 10) { totalCount edges { node { id model costMicros } } } } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				if got := nodeIDs(t, dig(t, d, "workspace", "usageEvents")); !contains(got, w.useA) {
					t.Errorf("usageEvents = %v, want %s", got, w.useA)
				}
			}},
		{name: "workspace.usage", field: "workspace", want: readA,
			vars:  func(_ *testing.T, w *world, _ actor) map[string]any { return rangeVars(w.wsA) },
			query: `query($id: ID!, ` + usageRange + `) { workspace(id: $id) { usage(from: $from, to: $to) { requests totalTokens costMicros cacheHits errors } } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				if got := dig(t, d, "workspace", "usage", "costMicros"); got != float64(42) {
					t.Errorf("usage.costMicros = %v, want 42", got)
				}
			}},
		{name: "workspace.usage empty range", field: "workspace", want: want(badInput, badInput, badInput, badInput, null, unauth),
			vars: func(_ *testing.T, w *world, _ actor) map[string]any {
				v := rangeVars(w.wsA)
				v["from"], v["to"] = v["to"], v["from"]
				return v
			},
			query: `query($id: ID!, ` + usageRange + `) { workspace(id: $id) { usage(from: $from, to: $to) { requests } } }`},
		{name: "workspace.usageSeries", field: "workspace", want: readA,
			vars:  func(_ *testing.T, w *world, _ actor) map[string]any { return rangeVars(w.wsA) },
			query: `query($id: ID!, ` + usageRange + `) { workspace(id: $id) { usageSeries(from: $from, to: $to, granularity: DAY) { time requests costMicros } } }`},
		{name: "workspace.usageByModel", field: "workspace", want: readA,
			vars:  func(_ *testing.T, w *world, _ actor) map[string]any { return rangeVars(w.wsA) },
			query: `query($id: ID!, ` + usageRange + `) { workspace(id: $id) { usageByModel(from: $from, to: $to) { key label costMicros } } }`},
		{name: "workspace.usageByKey", field: "workspace", want: readA,
			vars:  func(_ *testing.T, w *world, _ actor) map[string]any { return rangeVars(w.wsA) },
			query: `query($id: ID!, ` + usageRange + `) { workspace(id: $id) { usageByKey(from: $from, to: $to) { key label costMicros } } }`},
		{name: "workspace.billing", field: "workspace", want: readA, vars: wsA,
			query: `query($id: ID!) { workspace(id: $id) { billing { standing monthSpendMicros spendCapCents stripeEnabled } } }`},
		{name: "workspace B filtered by A's key", field: "workspace", want: want(null, null, null, null, ok, unauth),
			vars: func(_ *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"id": w.wsB, "key": w.keyOwner}
			},
			query: `query($id: ID!, $key: ID!) { workspace(id: $id) { apiKeys(where: {id: $key}) { totalCount } } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				if n := dig(t, d, "workspace", "apiKeys", "totalCount"); n != float64(0) {
					t.Errorf("B's keys filtered by A's key id: %v, want 0", n)
				}
			}},
		{name: "workspaces", field: "workspaces", want: anyUser,
			query: `{ workspaces(first: 100) { totalCount edges { node { id } } } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				got := nodeIDs(t, dig(t, d, "workspaces"))
				if contains(got, w.wsA) != (a <= asViewer) || contains(got, w.wsB) != (a == asOutsider) {
					t.Errorf("workspaces = %v (A %s, B %s)", got, w.wsA, w.wsB)
				}
			}},
		{name: "node workspace", field: "node", want: readA, vars: idVar(func(w *world) string { return w.wsA }),
			query: `query($id: ID!) { node(id: $id) { id ... on Workspace { name } } }`},
		{name: "node owner's key", field: "node", want: readA, vars: idVar(func(w *world) string { return w.keyOwner }),
			query: `query($id: ID!) { node(id: $id) { id ... on APIKey { label maskedKey status workspace { id } } } }`},
		{name: "node developer's key", field: "node", want: readA, vars: idVar(func(w *world) string { return w.keyDev }),
			query: `query($id: ID!) { node(id: $id) { id ... on APIKey { label createdBy { id email } } } }`},
		{name: "node key usage and request log", field: "node", want: readA, vars: idVar(func(w *world) string { return w.keyOwner }),
			query: `query($id: ID!) { node(id: $id) { ... on APIKey { usage { requests costMicros } requestLog(first: 5) { id } } } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				if got := str(t, d, "node", "requestLog", 0, "id"); got != w.useA {
					t.Errorf("requestLog[0] = %s, want %s", got, w.useA)
				}
			}},
		{name: "node B's key", field: "node", want: want(null, null, null, null, ok, unauth), vars: idVar(func(w *world) string { return w.keyB }),
			query: `query($id: ID!) { node(id: $id) { id } }`},
		{name: "node membership", field: "node", want: readA, vars: idVar(func(w *world) string { return w.mems[asAdmin] }),
			query: `query($id: ID!) { node(id: $id) { id ... on Membership { role user { email } } } }`},
		{name: "node audit event", field: "node", want: readA, vars: idVar(func(w *world) string { return w.audA }),
			query: `query($id: ID!) { node(id: $id) { id ... on AuditEvent { action actorEmail } } }`},
		{name: "node usage event", field: "node", want: readA, vars: idVar(func(w *world) string { return w.useA }),
			query: `query($id: ID!) { node(id: $id) { id ... on UsageEvent { model costMicros } } }`},
		{name: "node user of A", field: "node", want: readA, vars: idVar(func(w *world) string { return w.users[asAdmin].ID }),
			query: `query($id: ID!) { node(id: $id) { id ... on User { email memberships { workspaceID } } } }`},
		{name: "node made-up id", field: "node", want: want(null, null, null, null, null, unauth),
			vars:  func(*testing.T, *world, actor) map[string]any { return map[string]any{"id": ids.New(ids.APIKey)} },
			query: `query($id: ID!) { node(id: $id) { id } }`},
		{name: "nodes of A", field: "nodes", want: readA,
			vars: func(_ *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"ids": []string{w.wsA, w.keyOwner, w.mems[asOwner], w.audA, w.useA}}
			},
			query: `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`},

		// Sign-in operations.
		{name: "signIn", field: "signIn", want: public,
			vars: func(_ *testing.T, w *world, a actor) map[string]any {
				return map[string]any{"e": own(w, a).Email, "p": own(w, a).Password}
			},
			query: `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken user { id } } }`},
		{name: "signIn wrong password", field: "signIn", want: want(unauth, unauth, unauth, unauth, unauth, unauth),
			vars: func(_ *testing.T, w *world, a actor) map[string]any {
				return map[string]any{"e": own(w, a).Email, "p": "wrong password " + a.String()}
			},
			query: `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`},
		{name: "signUp", field: "signUp", want: public,
			vars: func(_ *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"e": w.s.unique("new") + "@c.test", "p": userPassword}
			},
			query: `mutation($e: String!, $p: String!) { signUp(email: $e, password: $p) { accessToken user { id } } }`},
		{name: "refreshSession", field: "refreshSession", want: public, vars: freshRefresh,
			query: `mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken refreshToken } }`},
		{name: "refreshSession bogus", field: "refreshSession", want: want(unauth, unauth, unauth, unauth, unauth, unauth),
			vars:  func(*testing.T, *world, actor) map[string]any { return map[string]any{"r": "not-a-refresh-token"} },
			query: `mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }`},
		{name: "signOut", field: "signOut", want: public, vars: freshRefresh,
			query: `mutation($r: String!) { signOut(refreshToken: $r) }`},

		// Workspaces and members.
		{name: "createWorkspace", field: "createWorkspace", want: anyUser,
			query: `mutation { createWorkspace(input: {name: "Another"}) { id viewerRole } }`},
		{name: "updateWorkspaceLimits", field: "updateWorkspaceLimits", want: manageA, vars: wsA,
			query: `mutation($id: ID!) { updateWorkspaceLimits(workspaceID: $id, rpm: 600, tpm: 100000) { id rateLimits { rpm tpm } } }`},
		{name: "setSpendCap", field: "setSpendCap", want: manageA, vars: wsA,
			query: `mutation($id: ID!) { setSpendCap(workspaceID: $id, monthlyCents: 5000) { id spendCap { monthlyCents } } }`},
		{name: "setSpendCap negative", field: "setSpendCap", want: want(badInput, badInput, forbid, forbid, notFound, unauth), vars: wsA,
			query: `mutation($id: ID!) { setSpendCap(workspaceID: $id, monthlyCents: -1) { id } }`},
		{name: "inviteMember", field: "inviteMember", want: manageA,
			vars: func(_ *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"id": w.wsA, "e": w.s.unique("invitee") + "@a.test"}
			},
			query: `mutation($id: ID!, $e: String!) { inviteMember(workspaceID: $id, email: $e, role: DEVELOPER) { id role } }`},
		{name: "inviteMember as owner", field: "inviteMember", want: want(ok, forbid, forbid, forbid, notFound, unauth),
			vars: func(_ *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"id": w.wsA, "e": w.s.unique("invitee") + "@a.test"}
			},
			query: `mutation($id: ID!, $e: String!) { inviteMember(workspaceID: $id, email: $e, role: OWNER) { id role } }`},
		{name: "workspace.invitations", field: "workspace", want: readA, vars: wsA,
			query: `query($id: ID!) { workspace(id: $id) { invitations { id email role status expiresAt sentAt workspaceID } } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				var got []string
				for _, inv := range list(t, d, "workspace", "invitations") {
					got = append(got, str(t, inv, "id"))
				}
				if a <= asAdmin && !contains(got, w.invA) {
					t.Errorf("the %s does not see A's pending invitation: %v", a, got)
				}
				if a > asAdmin && len(got) > 0 {
					t.Errorf("the %s sees invitations: %v", a, got)
				}
			}},
		{name: "node invitation", field: "node", want: want(ok, ok, null, null, null, unauth), vars: idVar(func(w *world) string { return w.invA }),
			query: `query($id: ID!) { node(id: $id) { id ... on Invitation { email role status } } }`},
		{name: "acceptInvite unknown token", field: "acceptInvite", want: want(linkInvalid, linkInvalid, linkInvalid, linkInvalid, linkInvalid, unauth),
			vars:  func(*testing.T, *world, actor) map[string]any { return map[string]any{"t": unknownToken} },
			query: `mutation($t: String!) { acceptInvite(token: $t) { id } }`},
		{name: "acceptInvite of another address", field: "acceptInvite", want: want(mismatch, mismatch, mismatch, mismatch, mismatch, unauth),
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				_, link := w.freshInvitation(t)
				return map[string]any{"t": link}
			},
			query: `mutation($t: String!) { acceptInvite(token: $t) { id } }`},
		{name: "resendInvitation", field: "resendInvitation", want: managersOnlyA,
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				id, _ := w.freshInvitation(t)
				return map[string]any{"id": id}
			},
			query: `mutation($id: ID!) { resendInvitation(id: $id) { id status } }`},
		{name: "revokeInvitation", field: "revokeInvitation", want: managersOnlyA,
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				id, _ := w.freshInvitation(t)
				return map[string]any{"id": id}
			},
			query: `mutation($id: ID!) { revokeInvitation(id: $id) { id status } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				if got := str(t, d, "revokeInvitation", "status"); got != "REVOKED" {
					t.Errorf("status after revoke: %s", got)
				}
			}},
		{name: "updateMemberRole", field: "updateMemberRole", want: manageA, vars: freshMember("VIEWER"),
			query: `mutation($id: ID!, $role: MembershipRole!) { updateMemberRole(membershipID: $id, role: $role) { id role } }`},
		{name: "updateMemberRole to owner", field: "updateMemberRole", want: want(ok, forbid, forbid, forbid, notFound, unauth), vars: freshMember("OWNER"),
			query: `mutation($id: ID!, $role: MembershipRole!) { updateMemberRole(membershipID: $id, role: $role) { id role } }`},
		{name: "removeMember", field: "removeMember", want: manageA,
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"id": w.freshMember(t, "DEVELOPER")}
			},
			query: `mutation($id: ID!) { removeMember(membershipID: $id) }`},
		{name: "removeMember revoking keys", field: "removeMember", want: manageA,
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"id": w.freshMember(t, "DEVELOPER")}
			},
			query: `mutation($id: ID!) { removeMember(membershipID: $id, revokeKeys: true) }`},

		// Addresses and passwords.
		{name: "verifyEmail unknown token", field: "verifyEmail", want: want(linkInvalid, linkInvalid, linkInvalid, linkInvalid, linkInvalid, linkInvalid),
			vars:  func(*testing.T, *world, actor) map[string]any { return map[string]any{"t": unknownToken} },
			query: `mutation($t: String!) { verifyEmail(token: $t) }`},
		{name: "sendVerificationEmail", field: "sendVerificationEmail", want: anyUser,
			query: `mutation { sendVerificationEmail }`},
		{name: "requestPasswordReset", field: "requestPasswordReset", want: public,
			vars: func(_ *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"e": w.s.unique("reset") + "@a.test"}
			},
			query: `mutation($e: String!) { requestPasswordReset(email: $e) }`},
		{name: "resetPassword unknown token", field: "resetPassword", want: want(linkInvalid, linkInvalid, linkInvalid, linkInvalid, linkInvalid, linkInvalid),
			vars:  func(*testing.T, *world, actor) map[string]any { return map[string]any{"t": unknownToken} },
			query: `mutation($t: String!) { resetPassword(token: $t, password: "a long enough password") { accessToken } }`},
		{name: "changePassword wrong current", field: "changePassword", want: want(badInput, badInput, badInput, badInput, badInput, unauth),
			query: `mutation { changePassword(current: "not the password", new: "a long enough password") }`},

		// API keys.
		{name: "createAPIKey", field: "createAPIKey", want: want(ok, ok, ok, forbid, notFound, unauth), vars: wsA,
			query: `mutation($id: ID!) { createAPIKey(input: {workspaceID: $id, label: "matrix"}) { secret apiKey { id maskedKey } } }`},
		// Input is checked before the workspace is looked up, so the outsider's
		// answer is the same for A and for a made-up id.
		{name: "createAPIKey without label", field: "createAPIKey", want: want(badInput, badInput, badInput, badInput, badInput, unauth), vars: wsA,
			query: `mutation($id: ID!) { createAPIKey(input: {workspaceID: $id, label: "  "}) { secret } }`},
		{name: "updateAPIKey owner's key", field: "updateAPIKey", want: manageA, vars: freshOwnerKey,
			query: `mutation($id: ID!) { updateAPIKey(id: $id, input: {label: "renamed", maxRequests: 10}) { id label } }`},
		{name: "updateAPIKey developer's key", field: "updateAPIKey", want: want(ok, ok, ok, forbid, notFound, unauth), vars: freshDevKey,
			query: `mutation($id: ID!) { updateAPIKey(id: $id, input: {label: "renamed"}) { id label } }`},
		{name: "updateAPIKey reactivate developer's revoked key", field: "updateAPIKey", want: want(ok, ok, forbid, forbid, notFound, unauth),
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				id, _ := w.freshKey(t, asDeveloper)
				w.s.must(t, w.token(asDeveloper), `mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": id})
				return map[string]any{"id": id}
			},
			query: `mutation($id: ID!) { updateAPIKey(id: $id, input: {status: ACTIVE}) { id status } }`},
		{name: "updateAPIKey B's key", field: "updateAPIKey", want: want(notFound, notFound, notFound, notFound, ok, unauth),
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				id, _ := w.s.createKey(t, w.token(asOutsider), w.wsB, w.s.unique("b-"))
				return map[string]any{"id": id}
			},
			query: `mutation($id: ID!) { updateAPIKey(id: $id, input: {status: DISABLED}) { id status } }`},
		{name: "revokeAPIKey owner's key", field: "revokeAPIKey", want: manageA, vars: freshOwnerKey,
			query: `mutation($id: ID!) { revokeAPIKey(id: $id) { id status } }`},
		{name: "revokeAPIKey developer's key", field: "revokeAPIKey", want: want(ok, ok, ok, forbid, notFound, unauth), vars: freshDevKey,
			query: `mutation($id: ID!) { revokeAPIKey(id: $id) { id status } }`},
		{name: "revokeAPIKey made-up id", field: "revokeAPIKey", want: want(notFound, notFound, notFound, notFound, notFound, unauth),
			vars:  func(*testing.T, *world, actor) map[string]any { return map[string]any{"id": ids.New(ids.APIKey)} },
			query: `mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`},
		{name: "rotateAPIKey owner's key", field: "rotateAPIKey", want: manageA, vars: freshOwnerKey,
			query: `mutation($id: ID!) { rotateAPIKey(id: $id, graceSeconds: 60) { secret apiKey { id rotatedFromID } } }`},
		{name: "rotateAPIKey developer's key", field: "rotateAPIKey", want: want(ok, ok, ok, forbid, notFound, unauth), vars: freshDevKey,
			query: `mutation($id: ID!) { rotateAPIKey(id: $id, graceSeconds: 60) { secret apiKey { id } } }`},
		{name: "revokeAllAPIKeys", field: "revokeAllAPIKeys", want: manageA, vars: wsA,
			query: `mutation($id: ID!) { revokeAllAPIKeys(workspaceID: $id) }`},
		{name: "reportLeakedKey", field: "reportLeakedKey", want: want(ok, ok, ok, ok, notFound, unauth),
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				id, secret := w.freshKey(t, asOwner)
				return map[string]any{"id": id, "secret": secret}
			},
			query: `mutation($secret: String!) { reportLeakedKey(secret: $secret, source: "matrix") { id status revokeReason } }`},
		{name: "reportLeakedKey malformed", field: "reportLeakedKey", want: want(badInput, badInput, badInput, badInput, badInput, unauth),
			vars:  func(*testing.T, *world, actor) map[string]any { return map[string]any{"secret": "sk-oais-nope"} },
			query: `mutation($secret: String!) { reportLeakedKey(secret: $secret) { id } }`},

		// Billing (no Stripe configured: the links are null). Stripe sends
		// the user back to returnURL, so it must be a page of this dashboard.
		{name: "billingCheckoutURL", field: "billingCheckoutURL", want: want(null, null, forbid, forbid, notFound, unauth), vars: billingVars(""), nullAnswer: true,
			query: `mutation($id: ID!, $back: String!) { billingCheckoutURL(workspaceID: $id, returnURL: $back) }`},
		{name: "billingPortalURL", field: "billingPortalURL", want: want(null, null, forbid, forbid, notFound, unauth), vars: billingVars(""), nullAnswer: true,
			query: `mutation($id: ID!, $back: String!) { billingPortalURL(workspaceID: $id, returnURL: $back) }`},
		{name: "billingCheckoutURL back to another site", field: "billingCheckoutURL", want: want(badInput, badInput, forbid, forbid, notFound, unauth),
			vars:  billingVars("https://evil.example/phish"),
			query: `mutation($id: ID!, $back: String!) { billingCheckoutURL(workspaceID: $id, returnURL: $back) }`},
		{name: "billingPortalURL back to another site", field: "billingPortalURL", want: want(badInput, badInput, forbid, forbid, notFound, unauth),
			vars:  billingVars("https://evil.example/phish"),
			query: `mutation($id: ID!, $back: String!) { billingPortalURL(workspaceID: $id, returnURL: $back) }`},
		{name: "billingPortalURL back to our host over another scheme", field: "billingPortalURL", want: want(badInput, badInput, forbid, forbid, notFound, unauth),
			vars: func(t *testing.T, w *world, a actor) map[string]any {
				u := *w.s.cp.Config.PublicURL
				u.Scheme = map[string]string{"http": "https", "https": "http"}[u.Scheme]
				return billingVars(u.JoinPath("billing").String())(t, w, a)
			},
			query: `mutation($id: ID!, $back: String!) { billingPortalURL(workspaceID: $id, returnURL: $back) }`},
		{name: "setBillingAlertWebhook", field: "setBillingAlertWebhook", want: manageA, vars: wsA,
			query: `mutation($id: ID!) { setBillingAlertWebhook(workspaceID: $id, url: "https://hooks.example.com/spend") { id } }`},

		// Model prices: everyone reads, only site admins (none of these actors) write.
		{name: "modelPrices", field: "modelPrices", want: anyUser,
			query: `{ modelPrices { model inputMicrosPerMTok outputMicrosPerMTok builtIn } }`},
		{name: "setModelPrice", field: "setModelPrice", want: want(forbid, forbid, forbid, forbid, forbid, unauth),
			query: `mutation { setModelPrice(input: {model: "matrix-model", inputMicrosPerMTok: 1, cachedInputMicrosPerMTok: 1, outputMicrosPerMTok: 2}) { model } }`},
		{name: "deleteModelPrice", field: "deleteModelPrice", want: want(forbid, forbid, forbid, forbid, forbid, unauth),
			query: `mutation { deleteModelPrice(model: "mock-gpt") }`},
		// Every workspace's money against Stripe: site admins only, whatever the role.
		{name: "billingReconciliation", field: "billingReconciliation", want: want(forbid, forbid, forbid, forbid, forbid, unauth),
			query: `{ billingReconciliation { workspaceID ledgerMicros stripeMicros status } }`},

		// A workspace's own upstream.
		{name: "setWorkspaceUpstream", field: "setWorkspaceUpstream", want: manageA, vars: wsA,
			query: `mutation($id: ID!) { setWorkspaceUpstream(workspaceID: $id, input: {baseURL: "https://upstream.example.com/v1", models: ["m1"]}) { id upstream { baseURL hasAPIKey } } }`},
		{name: "workspace.upstream", field: "workspace", want: readA, vars: wsA,
			query: `query($id: ID!) { workspace(id: $id) { upstream { baseURL models hasAPIKey } } }`},
		{name: "clearWorkspaceUpstream", field: "clearWorkspaceUpstream", want: manageA, vars: wsA,
			query: `mutation($id: ID!) { clearWorkspaceUpstream(workspaceID: $id) { id upstream { baseURL } } }`},
		// Issue 15: sessions, the second factor, service tokens.
		{name: "sessions", field: "sessions", want: anyUser,
			query: `{ sessions { id createdAt lastUsedAt expiresAt userAgent ip method current } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				current := 0
				for _, s := range list(t, d, "sessions") {
					if s.(map[string]any)["current"] == true {
						current++
					}
				}
				if current != 1 {
					t.Errorf("%d sessions marked current, want 1", current)
				}
			}},
		{name: "revokeSession made-up id", field: "revokeSession", want: want(notFound, notFound, notFound, notFound, notFound, unauth),
			query: `mutation { revokeSession(id: "00000000-0000-4000-8000-000000000000") }`},
		{name: "revokeSession another user's", field: "revokeSession", want: want(notFound, notFound, notFound, notFound, notFound, unauth),
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				u := w.s.signUp(t, w.s.unique("other")+"@c.test")
				d := w.s.must(t, u.Token, `{ sessions { id } }`, nil)
				return map[string]any{"id": str(t, d, "sessions", 0, "id")}
			},
			query: `mutation($id: ID!) { revokeSession(id: $id) }`},
		{name: "signOutEverywhere", field: "signOutEverywhere", want: anyUser,
			query: `mutation { signOutEverywhere }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				// The actor's own session ended too: sign in again for the rows after.
				w.s.wantCode(t, unauth, w.token(a), `{ viewer { id } }`, nil)
				w.users[a] = w.s.signIn(t, w.users[a].Email, w.users[a].Password)
			}},
		{name: "enrollTOTP", field: "enrollTOTP", want: anyUser,
			query: `mutation { enrollTOTP { secret uri } }`},
		{name: "confirmTOTP wrong code", field: "confirmTOTP", want: want(otpInvalid, otpInvalid, otpInvalid, otpInvalid, otpInvalid, unauth),
			query: `mutation { confirmTOTP(code: "not a code") }`},
		{name: "disableTOTP when off", field: "disableTOTP", want: want(conflict, conflict, conflict, conflict, conflict, unauth),
			query: `mutation { disableTOTP(code: "123456") }`},
		{name: "setWorkspaceRequireMFA off", field: "setWorkspaceRequireMFA", want: want(ok, forbid, forbid, forbid, notFound, unauth), vars: wsA,
			query: `mutation($id: ID!) { setWorkspaceRequireMFA(workspaceID: $id, required: false) { id requireMFA } }`},
		{name: "setWorkspaceRequireMFA on without MFA", field: "setWorkspaceRequireMFA", want: want(mfaRequired, forbid, forbid, forbid, notFound, unauth), vars: wsA,
			query: `mutation($id: ID!) { setWorkspaceRequireMFA(workspaceID: $id, required: true) { id } }`},
		{name: "createServiceToken viewer role", field: "createServiceToken", want: want(ok, ok, ok, ok, notFound, unauth), vars: wsA,
			query: `mutation($id: ID!) { createServiceToken(input: {workspaceID: $id, name: "matrix", role: VIEWER}) { token serviceToken { id name role status } } }`},
		{name: "createServiceToken owner role", field: "createServiceToken", want: want(ok, forbid, forbid, forbid, notFound, unauth), vars: wsA,
			query: `mutation($id: ID!) { createServiceToken(input: {workspaceID: $id, name: "matrix", role: OWNER}) { token serviceToken { id } } }`},
		{name: "revokeServiceToken owner's", field: "revokeServiceToken", want: want(ok, ok, notFound, notFound, notFound, unauth),
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				d := w.s.must(t, w.token(asOwner), `mutation($ws: ID!) { createServiceToken(input: {workspaceID: $ws, name: "to revoke", role: VIEWER}) { serviceToken { id } } }`,
					map[string]any{"ws": w.wsA})
				return map[string]any{"id": str(t, d, "createServiceToken", "serviceToken", "id")}
			},
			query: `mutation($id: ID!) { revokeServiceToken(id: $id) { id status } }`},
		{name: "workspace.serviceTokens", field: "workspace", want: readA, vars: wsA,
			query: `query($id: ID!) { workspace(id: $id) { requireMFA serviceTokens { id name role status createdByID expiresAt lastUsedAt revokedAt workspaceID } } }`},
		{name: "node leaked key exposure", field: "node", want: readA,
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				id, secret := w.freshKey(t, asOwner)
				w.s.must(t, w.token(asOwner), `mutation($s: String!) { reportLeakedKey(secret: $s) { id } }`, map[string]any{"s": secret})
				return map[string]any{"id": id}
			},
			query: `query($id: ID!) { node(id: $id) { id ... on APIKey { exposure { reportedAt requests ips models } } } }`},
	}
}

// outcome classifies a reply for the matrix.
func outcome(r reply, field string) string {
	if len(r.Errors) > 0 {
		if c := r.Errors[0].code(); c != "" {
			return c
		}
		return "error: " + r.Errors[0].Message
	}
	v, present := r.Data[field]
	switch {
	case !present:
		return "missing"
	case nullish(v):
		return null
	}
	return ok
}

// nullish is null, or a list of nulls (nodes(ids:) of foreign ids).
func nullish(v any) bool {
	if v == nil {
		return true
	}
	l, isList := v.([]any)
	if !isList || len(l) == 0 {
		return false
	}
	for _, x := range l {
		if x != nil {
			return false
		}
	}
	return true
}

var idPattern = regexp.MustCompile(`^([a-z]+)_[0-9A-HJKMNP-TV-Z]{26}$`)

// ghost returns v with every record id replaced by a made-up id of the same
// type and every key secret by a well-formed one that was never issued, and
// whether it replaced anything.
func ghost(v any) (any, bool) {
	switch v := v.(type) {
	case map[string]any:
		out, changed := make(map[string]any, len(v)), false
		for k, x := range v {
			g, c := ghost(x)
			out[k], changed = g, changed || c
		}
		return out, changed
	case []string:
		out, changed := make([]any, len(v)), false
		for i, x := range v {
			g, c := ghost(x)
			out[i], changed = g, changed || c
		}
		return out, changed
	case string:
		if m := idPattern.FindStringSubmatch(v); m != nil {
			return ids.New(m[1]), true
		}
		if strings.HasPrefix(v, "sk-oais-") && keys.Valid(v) {
			s, err := keys.Generate()
			if err != nil {
				panic(err)
			}
			return s.Reveal(), true
		}
	}
	return v, false
}

// TestMatrix checks every Query and Mutation field for each of A's roles,
// an outsider and an anonymous caller. Whenever an actor gets null or
// NOT_FOUND, the same call with made-up ids must get a byte-identical answer:
// a foreign workspace looks exactly like a missing one.
func TestMatrix(t *testing.T) {
	rows := append(append(matrix(), lifecycleRows()...), keysReviewRows()...)
	rows = append(rows, groupRows()...)
	rows = append(rows, channelRows()...)
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		w := newWorld(t, s)
		t.Run("covers the schema", func(t *testing.T) { checkCoverage(t, s, rows) })
		seen := map[string]bool{}
		for _, r := range rows {
			if seen[r.name] {
				t.Fatalf("two rows named %q", r.name)
			}
			seen[r.name] = true
			t.Run(r.name, func(t *testing.T) {
				for a := asOwner; a < nActors; a++ {
					t.Run(a.String(), func(t *testing.T) { runCell(t, w, r, a) })
				}
			})
		}
	})
}

func runCell(t *testing.T, w *world, r op, a actor) {
	vars := map[string]any{}
	if r.vars != nil {
		vars = r.vars(t, w, a)
	}
	got := w.s.post(t, w.token(a), r.query, vars)
	want := r.want[a]
	if o := outcome(got, r.field); o != want {
		t.Fatalf("%s as %s: got %s, want %s\n%s", r.name, a, o, want, got.Body)
	}
	if r.check != nil && want == ok {
		r.check(t, w, a, got.Data)
	}
	if r.field == "reportLeakedKey" && a != asAnonymous && want != badInput {
		// Whoever holds the secret kills the key, even a stranger who cannot see it.
		if st := w.s.key(t, w.token(asOwner), vars["id"].(string))["revokeReason"]; st != "LEAKED" {
			t.Errorf("reported key's revokeReason = %v, want LEAKED", st)
		}
	}
	if (want != null || r.nullAnswer) && want != notFound {
		return
	}
	gv, changed := ghost(vars)
	if !changed {
		return
	}
	g := w.s.post(t, w.token(a), r.query, gv.(map[string]any))
	if !bytes.Equal(g.Body, got.Body) {
		t.Errorf("%s as %s: a foreign id answers differently from a made-up one:\nforeign: %s\nmade-up: %s", r.name, a, got.Body, g.Body)
	}
}

// checkCoverage fails when the schema has a Query or Mutation field without
// a row, or a row names a field the schema does not have.
func checkCoverage(t *testing.T, s *server, rows []op) {
	d := s.must(t, "", `{ __schema { queryType { fields { name } } mutationType { fields { name } } } }`, nil)
	inSchema := map[string]bool{}
	for _, typ := range []string{"queryType", "mutationType"} {
		for _, f := range list(t, d, "__schema", typ, "fields") {
			inSchema[str(t, f, "name")] = true
		}
	}
	covered := map[string]bool{}
	for _, r := range rows {
		covered[r.field] = true
		if !inSchema[r.field] {
			t.Errorf("row %q names %q, which the schema does not have", r.name, r.field)
		}
	}
	for f := range inSchema {
		if !covered[f] {
			t.Errorf("operation %q has no row in the tenancy and role matrix: add one", f)
		}
	}
}
