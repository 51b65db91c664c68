package graphqltest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/internal/keys"
)

// TestKeyLifecycle drives API-key management end to end: the secret shown
// once, lists, filters, ordering, pages, the key limit, rotation, revocation,
// leaks, and the audit line each of them leaves.
func TestKeyLifecycle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		w := newWorld(t, s)
		owner := w.token(asOwner)
		newWS := func(t *testing.T) string { t.Helper(); return s.createWorkspace(t, owner, s.unique("ws-")) }
		keyQ := func(t *testing.T, id string) map[string]any { t.Helper(); return s.key(t, owner, id) }
		const update = `mutation($id: ID!, $in: UpdateAPIKeyInput!) { updateAPIKey(id: $id, input: $in) { id status revokeReason } }`
		const revoke = `mutation($id: ID!) { revokeAPIKey(id: $id) { id status revokeReason revokedAt } }`
		setStatus := func(id, status string) map[string]any {
			return map[string]any{"id": id, "in": map[string]any{"status": status}}
		}

		t.Run("secret is shown once", func(t *testing.T) {
			d := s.must(t, owner, `mutation($ws: ID!) { createAPIKey(input: {workspaceID: $ws, label: "once"}) { secret apiKey { id maskedKey status } } }`,
				map[string]any{"ws": w.wsA})
			secret, id := str(t, d, "createAPIKey", "secret"), str(t, d, "createAPIKey", "apiKey", "id")
			if !strings.HasPrefix(secret, "sk-oais-") || !keys.Valid(secret) {
				t.Fatalf("secret %q is not a well-formed key", secret)
			}
			wantMask := "sk-oa**********" + secret[len(secret)-4:]
			if got := str(t, d, "createAPIKey", "apiKey", "maskedKey"); got != wantMask {
				t.Errorf("maskedKey = %q, want %q", got, wantMask)
			}
			hash := keys.HashOf(secret).String()
			for name, q := range map[string]string{
				"node":  `query($id: ID!, $ws: ID!) { workspace(id: $ws) { id } node(id: $id) { ... on APIKey { ` + keyFields + ` } } }`,
				"list":  `query($id: String!, $ws: ID!) { workspace(id: $ws) { apiKeys(first: 500, search: $id) { edges { node { ` + keyFields + ` } } } } }`,
				"audit": `query($id: ID!, $ws: ID!) { node(id: $id) { id } workspace(id: $ws) { auditEvents(first: 500) { edges { node { id action actorID actorEmail targetType targetID ip } } } } }`,
			} {
				r := s.post(t, owner, q, map[string]any{"id": id, "ws": w.wsA})
				if len(r.Errors) > 0 {
					t.Fatalf("%s: %s", name, r.Body)
				}
				if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), hash) {
					t.Errorf("%s exposes the secret or its hash: %s", name, r.Body)
				}
				if name != "audit" && !strings.Contains(string(r.Body), wantMask) {
					t.Errorf("%s lacks the mask %s", name, wantMask)
				}
			}
			if got := s.auditActions(t, owner, w.wsA)["key.created"]; !contains(got, id) {
				t.Errorf("no key.created audit line for %s", id)
			}
		})

		t.Run("filter by status and search", func(t *testing.T) {
			ws := newWS(t)
			byStatus := map[string]string{}
			for _, st := range []string{"ACTIVE", "DISABLED", "REVOKED", "EXPIRED", "RATE_LIMITED"} {
				id, _ := s.createKey(t, owner, ws, "filter-"+strings.ToLower(st))
				byStatus[st] = id
			}
			s.must(t, owner, update, setStatus(byStatus["DISABLED"], "DISABLED"))
			s.must(t, owner, revoke, map[string]any{"id": byStatus["REVOKED"]})
			// Expiry and request counts move with time and traffic, not through the API.
			ent := s.cp.Store.Ent
			if err := ent.APIKey.UpdateOneID(byStatus["EXPIRED"]).SetExpiresAt(time.Now().Add(-time.Minute)).Exec(sys(t)); err != nil {
				t.Fatal(err)
			}
			if err := ent.APIKey.UpdateOneID(byStatus["RATE_LIMITED"]).SetMaxRequests(3).SetRequestCount(3).Exec(sys(t)); err != nil {
				t.Fatal(err)
			}
			list := func(t *testing.T, args string) []string {
				t.Helper()
				d := s.must(t, owner, `query($ws: ID!) { workspace(id: $ws) { apiKeys(first: 100`+args+`) { edges { node { id status } } } } }`, map[string]any{"ws": ws})
				return nodeIDs(t, dig(t, d, "workspace", "apiKeys"))
			}
			for st, id := range byStatus {
				if got := list(t, ", status: "+st); len(got) != 1 || got[0] != id {
					t.Errorf("status: %s lists %v, want [%s]", st, got, id)
				}
				if got := keyQ(t, id)["status"]; got != st {
					t.Errorf("key %s has status %v, want %s", id, got, st)
				}
			}
			if got := list(t, fmt.Sprintf(", search: %q", byStatus["REVOKED"])); len(got) != 1 || got[0] != byStatus["REVOKED"] {
				t.Errorf("search by id lists %v", got)
			}
			if got := list(t, `, search: "FILTER-DIS"`); len(got) != 1 || got[0] != byStatus["DISABLED"] {
				t.Errorf("search by label lists %v", got)
			}
			if got := list(t, `, search: "filter-"`); len(got) != 5 {
				t.Errorf("search by a common label part lists %d keys, want 5", len(got))
			}
			if got := list(t, `, search: "nothing-like-this"`); len(got) != 0 {
				t.Errorf("search for nothing lists %v", got)
			}
		})

		t.Run("order by request count", func(t *testing.T) {
			ws := newWS(t)
			counts := []int64{5, 50, 0, 20}
			idsByCount := map[int64]string{}
			for _, n := range counts {
				id, _ := s.createKey(t, owner, ws, fmt.Sprintf("count-%d", n))
				if err := s.cp.Store.Ent.APIKey.UpdateOneID(id).SetRequestCount(n).Exec(sys(t)); err != nil {
					t.Fatal(err)
				}
				idsByCount[n] = id
			}
			d := s.must(t, owner, `query($ws: ID!) { workspace(id: $ws) { apiKeys(first: 10, orderBy: {field: REQUEST_COUNT, direction: DESC}) { edges { node { id requestCount } } } } }`,
				map[string]any{"ws": ws})
			got := nodeIDs(t, dig(t, d, "workspace", "apiKeys"))
			want := []string{idsByCount[50], idsByCount[20], idsByCount[5], idsByCount[0]}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("REQUEST_COUNT DESC = %v, want %v", got, want)
			}
		})

		t.Run("pages", func(t *testing.T) {
			ws := newWS(t)
			const n = 7
			var made []string
			for i := range n {
				id, _ := s.createKey(t, owner, ws, fmt.Sprintf("page-%02d", i))
				made = append(made, id)
			}
			var seen []string
			after := any(nil)
			for page := 0; ; page++ {
				if page > n {
					t.Fatal("pagination does not end")
				}
				d := s.must(t, owner, `query($ws: ID!, $after: Cursor) { workspace(id: $ws) { apiKeys(first: 3, after: $after, orderBy: {field: LABEL}) {
					totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } } }`, map[string]any{"ws": ws, "after": after})
				conn := dig(t, d, "workspace", "apiKeys")
				if tc := dig(t, conn, "totalCount"); tc != float64(n) {
					t.Fatalf("totalCount = %v, want %d", tc, n)
				}
				seen = append(seen, nodeIDs(t, conn)...)
				if dig(t, conn, "pageInfo", "hasNextPage") != true {
					break
				}
				after = dig(t, conn, "pageInfo", "endCursor")
			}
			if strings.Join(seen, ",") != strings.Join(made, ",") {
				t.Errorf("pages = %v, want %v", seen, made)
			}
			for _, args := range []string{"first: 501", "last: 501", "first: -1"} {
				s.wantCode(t, badInput, owner, `query($ws: ID!) { workspace(id: $ws) { apiKeys(`+args+`) { totalCount } } }`, map[string]any{"ws": ws})
			}
			s.must(t, owner, `query($ws: ID!) { workspace(id: $ws) { apiKeys(first: 500) { totalCount } } }`, map[string]any{"ws": ws})
		})

		t.Run("key limit", func(t *testing.T) {
			ws := newWS(t)
			if err := s.cp.Store.Ent.Workspace.UpdateOneID(ws).SetMaxKeys(2).Exec(sys(t)); err != nil {
				t.Fatal(err)
			}
			first, _ := s.createKey(t, owner, ws, "one")
			s.createKey(t, owner, ws, "two")
			const create = `mutation($ws: ID!) { createAPIKey(input: {workspaceID: $ws, label: "three"}) { secret } }`
			s.wantCode(t, "KEY_LIMIT_REACHED", owner, create, map[string]any{"ws": ws})
			s.must(t, owner, revoke, map[string]any{"id": first})
			s.must(t, owner, create, map[string]any{"ws": ws})
			s.wantCode(t, "KEY_LIMIT_REACHED", owner, create, map[string]any{"ws": ws})
		})

		t.Run("rotate with grace", func(t *testing.T) {
			old, oldSecret := s.createKey(t, owner, w.wsA, "rotating")
			d := s.must(t, owner, `mutation($id: ID!) { rotateAPIKey(id: $id, graceSeconds: 1) { secret apiKey { id label status rotatedFromID } } }`, map[string]any{"id": old})
			newID, newSecret := str(t, d, "rotateAPIKey", "apiKey", "id"), str(t, d, "rotateAPIKey", "secret")
			if newSecret == oldSecret || !keys.Valid(newSecret) || newID == old {
				t.Fatalf("rotation did not issue a new key: %v", d)
			}
			if got := str(t, d, "rotateAPIKey", "apiKey", "rotatedFromID"); got != old {
				t.Errorf("rotatedFromID = %s, want %s", got, old)
			}
			if str(t, d, "rotateAPIKey", "apiKey", "label") != "rotating" {
				t.Errorf("the new key lost the label")
			}
			// During the grace both keys work.
			if st := keyQ(t, old)["status"]; st != "ACTIVE" {
				t.Errorf("old key during grace: %v, want ACTIVE", st)
			}
			if st := keyQ(t, newID)["status"]; st != "ACTIVE" {
				t.Errorf("new key: %v, want ACTIVE", st)
			}
			eventually(t, 5*time.Second, "old key revoked after its grace", func() bool { return keyQ(t, old)["status"] == "REVOKED" })
			// The sweeper (every 30 s in Serve) writes the end of the grace down; run its tick now.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := s.cp.Keys.EndGraces(ctx, s.cp.Store.Ent); err != nil {
				t.Fatal(err)
			}
			k := keyQ(t, old)
			if k["status"] != "REVOKED" || k["revokeReason"] != "ROTATED" {
				t.Errorf("old key after grace: status %v reason %v, want REVOKED ROTATED", k["status"], k["revokeReason"])
			}
			if st := keyQ(t, newID)["status"]; st != "ACTIVE" {
				t.Errorf("new key after grace: %v, want ACTIVE", st)
			}
			a := s.auditActions(t, owner, w.wsA)
			if !contains(a["key.rotated"], old) || !contains(a["key.grace_ended"], old) || !contains(a["key.created"], newID) {
				t.Errorf("audit lacks the rotation of %s: %v", old, a)
			}
			s.wantCode(t, badInput, owner, `mutation($id: ID!) { rotateAPIKey(id: $id) { secret } }`, map[string]any{"id": old})
			s.wantCode(t, badInput, owner, `mutation($id: ID!) { rotateAPIKey(id: $id, graceSeconds: -1) { secret } }`, map[string]any{"id": newID})
		})

		t.Run("revoke and re-activate", func(t *testing.T) {
			id, _ := w.freshKey(t, asDeveloper)
			d := s.must(t, w.token(asDeveloper), revoke, map[string]any{"id": id})
			if dig(t, d, "revokeAPIKey", "status") != "REVOKED" || dig(t, d, "revokeAPIKey", "revokeReason") != "MANUAL" || dig(t, d, "revokeAPIKey", "revokedAt") == nil {
				t.Errorf("revoked key: %v", d)
			}
			// Bringing a key back is an admin's decision, even for its creator.
			s.wantCode(t, forbid, w.token(asDeveloper), update, setStatus(id, "ACTIVE"))
			d = s.must(t, w.token(asAdmin), update, setStatus(id, "ACTIVE"))
			if dig(t, d, "updateAPIKey", "status") != "ACTIVE" || dig(t, d, "updateAPIKey", "revokeReason") != nil {
				t.Errorf("re-activated key: %v", d)
			}
			a := s.auditActions(t, owner, w.wsA)
			if !contains(a["key.revoked"], id) || !contains(a["key.reactivated"], id) {
				t.Errorf("audit lacks the revocation or re-activation of %s", id)
			}
		})

		t.Run("leaked key stays dead", func(t *testing.T) {
			id, secret := w.freshKey(t, asOwner)
			d := s.must(t, w.token(asViewer), `mutation($s: String!) { reportLeakedKey(secret: $s, source: "https://github.com/x/y") { id status revokeReason leakedAt leakSource } }`,
				map[string]any{"s": secret})
			if dig(t, d, "reportLeakedKey", "status") != "REVOKED" || dig(t, d, "reportLeakedKey", "revokeReason") != "LEAKED" ||
				dig(t, d, "reportLeakedKey", "leakSource") != "https://github.com/x/y" {
				t.Errorf("reported key: %v", d)
			}
			s.wantCode(t, forbid, owner, update, setStatus(id, "ACTIVE"))
			s.wantCode(t, badInput, owner, update, setStatus(id, "DISABLED"))
			s.wantCode(t, badInput, owner, `mutation($id: ID!) { rotateAPIKey(id: $id) { secret } }`, map[string]any{"id": id})
			if st := keyQ(t, id)["revokeReason"]; st != "LEAKED" {
				t.Errorf("leaked key's reason changed to %v", st)
			}
			if a := s.auditActions(t, owner, w.wsA); !contains(a["key.leaked"], id) {
				t.Errorf("no key.leaked audit line for %s", id)
			}
		})

		t.Run("revoke all", func(t *testing.T) {
			ws := newWS(t)
			var made []string
			for i := range 3 {
				id, _ := s.createKey(t, owner, ws, fmt.Sprintf("bulk-%d", i))
				made = append(made, id)
			}
			s.must(t, owner, revoke, map[string]any{"id": made[0]})
			s.must(t, owner, update, setStatus(made[1], "DISABLED"))
			const all = `mutation($ws: ID!) { revokeAllAPIKeys(workspaceID: $ws) }`
			if n := dig(t, s.must(t, owner, all, map[string]any{"ws": ws}), "revokeAllAPIKeys"); n != float64(2) {
				t.Errorf("revokeAllAPIKeys = %v, want 2", n)
			}
			for i, id := range made {
				k := keyQ(t, id)
				wantReason := "BULK"
				if i == 0 {
					wantReason = "MANUAL"
				}
				if k["status"] != "REVOKED" || k["revokeReason"] != wantReason {
					t.Errorf("key %d: status %v reason %v, want REVOKED %s", i, k["status"], k["revokeReason"], wantReason)
				}
			}
			if n := dig(t, s.must(t, owner, all, map[string]any{"ws": ws}), "revokeAllAPIKeys"); n != float64(0) {
				t.Errorf("second revokeAllAPIKeys = %v, want 0", n)
			}
			if a := s.auditActions(t, owner, ws); len(a["key.revoked_all"]) != 2 {
				t.Errorf("key.revoked_all lines: %v, want 2", a["key.revoked_all"])
			}
		})

		t.Run("disable and enable", func(t *testing.T) {
			id, _ := w.freshKey(t, asDeveloper)
			dev := w.token(asDeveloper)
			if st := dig(t, s.must(t, dev, update, setStatus(id, "DISABLED")), "updateAPIKey", "status"); st != "DISABLED" {
				t.Errorf("after disabling: %v", st)
			}
			if st := dig(t, s.must(t, dev, update, setStatus(id, "ACTIVE")), "updateAPIKey", "status"); st != "ACTIVE" {
				t.Errorf("after enabling: %v", st)
			}
			for _, st := range []string{"REVOKED", "EXPIRED", "RATE_LIMITED"} {
				s.wantCode(t, badInput, dev, update, setStatus(id, st))
			}
			a := s.auditActions(t, owner, w.wsA)
			if !contains(a["key.disabled"], id) || !contains(a["key.enabled"], id) {
				t.Errorf("audit lacks key.disabled / key.enabled for %s", id)
			}
			d := s.must(t, owner, `query($ws: ID!) { workspace(id: $ws) { auditEvents(first: 500) { edges { node { action targetID actorEmail } } } } }`, map[string]any{"ws": w.wsA})
			for _, e := range list(t, d, "workspace", "auditEvents", "edges") {
				if str(t, e, "node", "action") == "key.disabled" && str(t, e, "node", "targetID") == id {
					if got := str(t, e, "node", "actorEmail"); got != w.users[asDeveloper].Email {
						t.Errorf("key.disabled actor = %s, want the developer", got)
					}
				}
			}
		})

		t.Run("members", func(t *testing.T) {
			ws := newWS(t)
			var ownMem string
			d := s.must(t, owner, `query($ws: ID!) { workspace(id: $ws) { memberships(first: 10) { edges { node { id role user { id } } } } } }`, map[string]any{"ws": ws})
			ownMem = str(t, d, "workspace", "memberships", "edges", 0, "node", "id")
			const role = `mutation($id: ID!, $r: MembershipRole!) { updateMemberRole(membershipID: $id, role: $r) { id role } }`
			const remove = `mutation($id: ID!) { removeMember(membershipID: $id) }`
			// The last owner can neither leave nor step down.
			s.wantCode(t, forbid, owner, remove, map[string]any{"id": ownMem})
			s.wantCode(t, forbid, owner, role, map[string]any{"id": ownMem, "r": "ADMIN"})

			// An accepted invitation creates the membership, once.
			mem := s.addMember(t, owner, ws, w.users[asAdmin], "ADMIN")
			d = s.must(t, owner, `query($ws: ID!) { workspace(id: $ws) { memberships(first: 10) { totalCount edges { node { id role user { email } } } } } }`, map[string]any{"ws": ws})
			found := false
			for _, e := range list(t, d, "workspace", "memberships", "edges") {
				if str(t, e, "node", "id") == mem {
					found = str(t, e, "node", "role") == "ADMIN" && str(t, e, "node", "user", "email") == w.users[asAdmin].Email
				}
			}
			if !found {
				t.Errorf("the invitation did not create an ADMIN membership: %v", d)
			}
			s.wantCode(t, "CONFLICT", owner, `mutation($ws: ID!, $e: String!) { inviteMember(workspaceID: $ws, email: $e, role: VIEWER) { id } }`,
				map[string]any{"ws": ws, "e": w.users[asAdmin].Email})
			if got := dig(t, s.must(t, w.token(asAdmin), `query($ws: ID!) { workspace(id: $ws) { viewerRole } }`, map[string]any{"ws": ws}), "workspace", "viewerRole"); got != "ADMIN" {
				t.Errorf("the invitee's role: %v", got)
			}
			// An admin cannot make owners; an owner can, and then may step down.
			s.wantCode(t, forbid, w.token(asAdmin), role, map[string]any{"id": mem, "r": "OWNER"})
			s.must(t, owner, role, map[string]any{"id": mem, "r": "OWNER"})
			s.must(t, owner, role, map[string]any{"id": ownMem, "r": "ADMIN"})
			s.wantCode(t, forbid, w.token(asAdmin), role, map[string]any{"id": mem, "r": "ADMIN"})

			// Limits and spend caps.
			s.must(t, w.token(asAdmin), `mutation($ws: ID!) { updateWorkspaceLimits(workspaceID: $ws, rpm: 60, tpm: 1000, monthlyTokenQuota: 5) { id } }`, map[string]any{"ws": ws})
			d = s.must(t, w.token(asAdmin), `mutation($ws: ID!) { setSpendCap(workspaceID: $ws, monthlyCents: 1234) { spendCap { monthlyCents } rateLimits { rpm tpm monthlyTokenQuota } } }`, map[string]any{"ws": ws})
			if dig(t, d, "setSpendCap", "spendCap", "monthlyCents") != float64(1234) || dig(t, d, "setSpendCap", "rateLimits", "rpm") != float64(60) {
				t.Errorf("limits and cap: %v", d)
			}
			d = s.must(t, w.token(asAdmin), `mutation($ws: ID!) { setSpendCap(workspaceID: $ws, monthlyCents: null) { spendCap { monthlyCents } } }`, map[string]any{"ws": ws})
			if dig(t, d, "setSpendCap", "spendCap") != nil {
				t.Errorf("a null cap did not remove it: %v", d)
			}

			// A member leaves on their own; the new last owner cannot.
			s.must(t, owner, remove, map[string]any{"id": ownMem})
			s.wantCode(t, forbid, w.token(asAdmin), remove, map[string]any{"id": mem})
			if got := dig(t, s.must(t, owner, `query($ws: ID!) { workspace(id: $ws) { id } }`, map[string]any{"ws": ws}), "workspace"); got != nil {
				t.Errorf("a member who left still sees the workspace: %v", got)
			}
			a := s.auditActions(t, w.token(asAdmin), ws)
			for action, target := range map[string]string{
				"member.joined": mem, "member.role_changed": mem, "member.removed": ownMem,
				"workspace.limits_changed": ws, "workspace.spend_cap_changed": ws, "workspace.created": ws,
			} {
				if !contains(a[action], target) {
					t.Errorf("no %s audit line for %s: %v", action, target, a[action])
				}
			}
			if len(a["member.invited"]) == 0 {
				t.Errorf("no member.invited audit line")
			}
		})

		t.Run("operation limits", func(t *testing.T) {
			// viewer(1) memberships(2) workspace(3) apiKeys(4) edges(5) node(6) workspace(7)
			// memberships(8) edges(9) node(10) workspace(11) …
			deep := func(leaf string) string {
				return `{ viewer { memberships { workspace { apiKeys { edges { node { workspace { memberships { edges { node { workspace { ` + leaf + ` } } } } } } } } } } } }`
			}
			s.must(t, owner, deep("id"), nil) // 12 levels
			r := s.post(t, owner, deep("apiKeys { totalCount }"), nil)
			if len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, "levels deep") || r.Data != nil {
				t.Errorf("13 levels: %s", r.Body)
			}
			roots := func(n int) string {
				var b strings.Builder
				b.WriteString("{")
				for i := range n {
					fmt.Fprintf(&b, " v%d: viewer { id }", i)
				}
				return b.String() + " }"
			}
			s.must(t, owner, roots(20), nil)
			if r := s.post(t, owner, roots(21), nil); len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, "root fields") || r.Data != nil {
				t.Errorf("21 root fields: %s", r.Body)
			}
			// Sign-in runs outside the transaction: never with anything else.
			u := w.users[asOwner]
			mixed := []string{
				`mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } createWorkspace(input: {name: "Mixed"}) { id } }`,
				`mutation($e: String!, $p: String!) { a: signIn(email: $e, password: $p) { accessToken } b: signIn(email: $e, password: $p) { accessToken } }`,
				`mutation($e: String!, $p: String!) { createWorkspace(input: {name: "Mixed"}) { id } ... on Mutation { signUp(email: $e, password: $p) { accessToken } } }`,
				`mutation($e: String!, $p: String!) { ... on Mutation { signUp(email: $e, password: $p) { accessToken } } }`,
				`mutation($e: String!, $p: String!) { ...up createWorkspace(input: {name: "Mixed"}) { id } } fragment up on Mutation { signUp(email: $e, password: $p) { accessToken } }`,
			}
			for _, q := range mixed {
				email := u.Email
				if strings.Contains(q, "signUp") {
					email = s.unique("mixed") + "@a.test"
				}
				r := s.post(t, owner, q, map[string]any{"e": email, "p": u.Password})
				if len(r.Errors) == 0 || r.Data != nil || !strings.Contains(r.Errors[0].Message, "alone") {
					t.Errorf("mixed sign-in operation ran: %s", r.Body)
				}
			}
			d := s.must(t, owner, `{ workspaces(first: 500, where: {name: "Mixed"}) { totalCount } }`, nil)
			if n := dig(t, d, "workspaces", "totalCount"); n != float64(0) {
				t.Errorf("a refused mixed operation created %v workspaces", n)
			}
		})
	})
}
