package graphqltest

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/auth/mail"
	"github.com/oais/oais/auth/mail/mailtest"
	"github.com/oais/oais/ent/invitation"
)

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

const acceptInvite = `mutation($t: String!) { acceptInvite(token: $t) { id role workspace { id name } } }`

// resetPassword takes over u.Email's account the way its owner can: a
// reset link mailed to the address.
func (s *server) resetPassword(t testing.TB, email, password string) *user {
	t.Helper()
	s.must(t, "", `mutation($e: String!) { requestPasswordReset(email: $e) }`, map[string]any{"e": email})
	tok := s.mail.Token(t, email, mail.ResetPath)
	s.secrets.add(password, "password")
	d := s.must(t, "", `mutation($t: String!, $p: String!) { resetPassword(token: $t, password: $p) { `+authFields+` } }`,
		map[string]any{"t": tok, "p": password})
	return &user{
		ID: str(t, d, "resetPassword", "user", "id"), Email: email, Password: password, verified: true,
		Token: str(t, d, "resetPassword", "accessToken"), Refresh: str(t, d, "resetPassword", "refreshToken"),
	}
}

// TestInviteTakeoverBySignUp is issue 15's first attack: an owner invites
// alice@ as ADMIN; before Alice arrives, an attacker signs up with her
// address. The attacker must not become a member of anything; Alice, who
// reads the address's mail, gets the account back and joins.
func TestInviteTakeoverBySignUp(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("owner")+"@corp.test")
		ws := s.createWorkspace(t, owner.Token, "Corp")
		alice := s.unique("alice") + "@corp.test"
		_, link := s.invite(t, owner.Token, ws, alice, "ADMIN")

		attacker := s.signUp(t, alice)
		if s.memberOf(t, attacker.Token, ws) {
			t.Fatal("whoever signed up with the invited address became a member without the invitation's token")
		}
		// Even holding the link (it went to Alice's mailbox), an account
		// that never proved the address cannot use it.
		s.wantCode(t, "EMAIL_NOT_VERIFIED", attacker.Token, acceptInvite, map[string]any{"t": link})
		if s.memberOf(t, attacker.Token, ws) {
			t.Fatal("a refused acceptInvite left a membership behind")
		}

		// Alice reads her mail: a reset proves the address, ends the
		// attacker's sessions, and the invitation still works for her.
		real := s.resetPassword(t, alice, "alice's own password")
		if real.ID != attacker.ID {
			t.Fatalf("the reset reached another account")
		}
		s.wantCode(t, "UNAUTHENTICATED", attacker.Token, `{ viewer { id } }`, nil)
		d := s.must(t, real.Token, acceptInvite, map[string]any{"t": link})
		if str(t, d, "acceptInvite", "role") != "ADMIN" || str(t, d, "acceptInvite", "workspace", "id") != ws {
			t.Fatalf("accepted: %v", d)
		}
		s.wantCode(t, "LINK_INVALID", real.Token, acceptInvite, map[string]any{"t": link})
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
		id, link := s.invite(t, owner.Token, ws, victim, "ADMIN")
		if s.memberOf(t, attacker.Token, ws) {
			t.Fatal("the unverified account that pre-registered the address became a member of the workspace that invited it")
		}
		s.wantCode(t, "EMAIL_NOT_VERIFIED", attacker.Token, acceptInvite, map[string]any{"t": link})
		if st := invitationStatus(t, s, owner.Token, ws, id); st != "PENDING" {
			t.Fatalf("after the attacker's try the invitation is %s, want PENDING", st)
		}
		real := s.resetPassword(t, victim, "the victim's own password")
		s.must(t, real.Token, acceptInvite, map[string]any{"t": link})
		if !s.memberOf(t, real.Token, ws) {
			t.Fatal("the victim is not a member after accepting")
		}
	})
}

func invitationStatus(t *testing.T, s *server, token, ws, id string) string {
	t.Helper()
	d := s.must(t, token, `query($id: ID!) { node(id: $id) { ... on Invitation { status } } }`, map[string]any{"id": id})
	return str(t, d, "node", "status")
}

// TestInvitations walks an invitation's life: the answer is the same with
// or without an account, nobody joins before accepting, links are single
// use and expire, resend and revoke kill the old link, and every step is
// in the audit log.
func TestInvitations(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.admin
		ws := s.createWorkspace(t, owner.Token, "Invites")
		const invite = `mutation($ws: ID!, $e: String!) { inviteMember(workspaceID: $ws, email: $e, role: DEVELOPER) { role status workspaceID } }`

		t.Run("the same answer and mail with or without an account", func(t *testing.T) {
			known := s.signUp(t, s.unique("known")+"@corp.test")
			s.verify(t, known)
			unknown := s.unique("unknown") + "@corp.test"
			a := s.post(t, owner.Token, invite, map[string]any{"ws": ws, "e": known.Email})
			b := s.post(t, owner.Token, invite, map[string]any{"ws": ws, "e": unknown})
			if string(a.Body) != string(b.Body) || len(a.Errors) > 0 {
				t.Fatalf("answers differ:\nwith an account:    %s\nwithout an account: %s", a.Body, b.Body)
			}
			ma, mb := s.mail.Next(t, known.Email, mail.InvitePath), s.mail.Next(t, unknown, mail.InvitePath)
			norm := func(text, addr string) string {
				return tokenInLink.ReplaceAllString(strings.ReplaceAll(text, addr, "<to>"), "token=<token>")
			}
			if norm(ma.Text, known.Email) != norm(mb.Text, unknown) || ma.Header.Get("Subject") != mb.Header.Get("Subject") {
				t.Fatalf("mails differ:\n%s\n---\n%s", ma.Text, mb.Text)
			}
			// An existing user is not added by the invitation alone.
			if s.memberOf(t, known.Token, ws) {
				t.Fatal("an existing user became a member without accepting")
			}
			s.must(t, known.Token, acceptInvite, map[string]any{"t": mailtest.Token(t, ma, mail.InvitePath)})
			if !s.memberOf(t, known.Token, ws) {
				t.Fatal("not a member after accepting")
			}
			s.wantCode(t, "CONFLICT", owner.Token, invite, map[string]any{"ws": ws, "e": strings.ToUpper(known.Email)})
		})

		t.Run("addresses compare normalised", func(t *testing.T) {
			carol := s.signUp(t, s.unique("carol")+"@corp.test")
			s.verify(t, carol)
			s.must(t, owner.Token, invite, map[string]any{"ws": ws, "e": "  " + strings.ToUpper(carol.Email) + " "})
			s.must(t, carol.Token, acceptInvite, map[string]any{"t": s.mail.Token(t, carol.Email, mail.InvitePath)})
		})

		t.Run("another address cannot accept", func(t *testing.T) {
			other := s.signUp(t, s.unique("other")+"@corp.test")
			s.verify(t, other)
			_, link := s.invite(t, owner.Token, ws, s.unique("dave")+"@corp.test", "ADMIN")
			s.wantCode(t, "INVITATION_EMAIL_MISMATCH", other.Token, acceptInvite, map[string]any{"t": link})
			s.wantCode(t, "UNAUTHENTICATED", "", acceptInvite, map[string]any{"t": link})
		})

		t.Run("expired", func(t *testing.T) {
			erin := s.signUp(t, s.unique("erin")+"@corp.test")
			s.verify(t, erin)
			id, link := s.invite(t, owner.Token, ws, erin.Email, "VIEWER")
			if err := s.cp.Store.Ent.Invitation.UpdateOneID(id).SetExpiresAt(time.Now().Add(-time.Second)).SetSentAt(time.Now().Add(-time.Hour)).Exec(sys(t)); err != nil {
				t.Fatal(err)
			}
			s.wantCode(t, "LINK_INVALID", erin.Token, acceptInvite, map[string]any{"t": link})
			if st := invitationStatus(t, s, owner.Token, ws, id); st != "EXPIRED" {
				t.Fatalf("status %s", st)
			}
			// A resend sends a new link for another TTL; the old one stays dead.
			d := s.must(t, owner.Token, `mutation($id: ID!) { resendInvitation(id: $id) { status expiresAt } }`, map[string]any{"id": id})
			if str(t, d, "resendInvitation", "status") != "PENDING" {
				t.Fatalf("after resend: %v", d)
			}
			fresh := s.mail.Token(t, erin.Email, mail.InvitePath)
			s.wantCode(t, "THROTTLED", owner.Token, `mutation($id: ID!) { resendInvitation(id: $id) { id } }`, map[string]any{"id": id})
			s.wantCode(t, "LINK_INVALID", erin.Token, acceptInvite, map[string]any{"t": link})
			s.must(t, erin.Token, acceptInvite, map[string]any{"t": fresh})
		})

		t.Run("revoked, and replaced by a new invitation", func(t *testing.T) {
			frank := s.signUp(t, s.unique("frank")+"@corp.test")
			s.verify(t, frank)
			id, first := s.invite(t, owner.Token, ws, frank.Email, "ADMIN")
			_, second := s.invite(t, owner.Token, ws, frank.Email, "VIEWER")
			if st := invitationStatus(t, s, owner.Token, ws, id); st != "REVOKED" {
				t.Fatalf("the replaced invitation is %s", st)
			}
			s.wantCode(t, "LINK_INVALID", frank.Token, acceptInvite, map[string]any{"t": first})
			id2 := pendingID(t, s, owner.Token, ws, frank.Email)
			s.must(t, owner.Token, `mutation($id: ID!) { revokeInvitation(id: $id) { id } }`, map[string]any{"id": id2})
			s.wantCode(t, "LINK_INVALID", frank.Token, acceptInvite, map[string]any{"t": second})
			if pendingID(t, s, owner.Token, ws, frank.Email) != "" {
				t.Fatal("a revoked invitation is still listed")
			}
		})

		t.Run("two accepts of one link: one membership", func(t *testing.T) {
			gail := s.signUp(t, s.unique("gail")+"@corp.test")
			s.verify(t, gail)
			_, link := s.invite(t, owner.Token, ws, gail.Email, "DEVELOPER")
			codes := make(chan string, 2)
			for range 2 {
				go func() {
					r := s.post(t, gail.Token, acceptInvite, map[string]any{"t": link})
					if len(r.Errors) > 0 {
						codes <- r.Errors[0].code()
						return
					}
					codes <- "ok"
				}()
			}
			got := []string{<-codes, <-codes}
			if (got[0] == "ok") == (got[1] == "ok") {
				t.Fatalf("two concurrent accepts: %v, want exactly one ok", got)
			}
		})

		t.Run("audited", func(t *testing.T) {
			acts := s.auditActions(t, owner.Token, ws)
			for _, a := range []string{"member.invited", "member.joined", "invitation.resent", "invitation.revoked"} {
				if len(acts[a]) == 0 {
					t.Errorf("no %s in the audit log: %v", a, acts)
				}
			}
		})

		t.Run("tokens are stored hashed", func(t *testing.T) {
			for _, inv := range s.cp.Store.Ent.Invitation.Query().Where(invitation.WorkspaceID(ws)).AllX(sys(t)) {
				for _, m := range s.mail.Messages() {
					if strings.Contains(m.Text, inv.TokenHash) {
						t.Fatal("a mailed link carries the stored hash")
					}
				}
			}
			for _, m := range s.mail.Messages() {
				if tok := tokenInLink.FindStringSubmatch(m.Text); tok != nil {
					if n := s.cp.Store.Ent.Invitation.Query().Where(invitation.TokenHash(tok[1])).CountX(sys(t)); n != 0 {
						t.Fatal("a token is stored as it was mailed")
					}
				}
			}
		})
	})
}

var tokenInLink = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)

// pendingID returns the id of email's listed invitation into ws, "" if none.
func pendingID(t *testing.T, s *server, token, ws, email string) string {
	t.Helper()
	d := s.must(t, token, `query($id: ID!) { workspace(id: $id) { invitations { id email } } }`, map[string]any{"id": ws})
	for _, inv := range list(t, d, "workspace", "invitations") {
		if str(t, inv, "email") == email {
			return str(t, inv, "id")
		}
	}
	return ""
}

// TestMailToTheLog: without OAIS_SMTP_URL the control plane says at start
// that mail goes to its log, and an invitation's link can be read there
// and used.
func TestMailToTheLog(t *testing.T) {
	s := start(t, dialects[0].url(t), map[string]string{"OAIS_SMTP_URL": "", "OAIS_SMTP_FROM": ""})
	if !strings.Contains(s.logs.String(), "e-mail is not configured (OAIS_SMTP_URL)") {
		t.Fatalf("no warning at start:\n%s", s.logs)
	}
	ws := s.createWorkspace(t, s.admin.Token, "Logged")
	hana := s.signUp(t, s.unique("hana")+"@corp.test")
	s.must(t, s.admin.Token, `mutation($ws: ID!, $e: String!) { inviteMember(workspaceID: $ws, email: $e, role: VIEWER) { id } }`,
		map[string]any{"ws": ws, "e": hana.Email})
	link := func(path string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			for _, line := range strings.Split(s.logs.String(), "\n") {
				var rec struct{ To, Text string }
				if json.Unmarshal([]byte(line), &rec) == nil && rec.To == hana.Email && strings.Contains(rec.Text, path+"?token=") {
					return tokenInLink.FindStringSubmatch(rec.Text[strings.Index(rec.Text, path):])[1]
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no %s link to %s in the log", path, hana.Email)
		return ""
	}
	s.must(t, "", `mutation($t: String!) { verifyEmail(token: $t) }`, map[string]any{"t": link(mail.VerifyPath)})
	s.must(t, hana.Token, acceptInvite, map[string]any{"t": link(mail.InvitePath)})
}

// TestInvitationMailBudget: each invitation or resend mails a stranger, so
// one user's are bounded per hour, across workspaces, even when revoking
// makes room under the pending limit.
func TestInvitationMailBudget(t *testing.T) {
	s := start(t, dialects[0].url(t), nil)
	s.cp.Invites.MailsPerHour = 3
	u := s.signUp(t, s.unique("mailer")+"@corp.test")
	a, b := s.createWorkspace(t, u.Token, "A"), s.createWorkspace(t, u.Token, "B")
	const invite = `mutation($ws: ID!, $e: String!) { inviteMember(workspaceID: $ws, email: $e, role: VIEWER) { id } }`
	const revoke = `mutation($id: ID!) { revokeInvitation(id: $id) { id } }`
	for i, ws := range []string{a, b, a} {
		d := s.must(t, u.Token, invite, map[string]any{"ws": ws, "e": "stranger@example.com"})
		if i == 0 {
			s.must(t, u.Token, revoke, map[string]any{"id": str(t, d, "inviteMember", "id")})
		}
	}
	s.wantCode(t, "THROTTLED", u.Token, invite, map[string]any{"ws": b, "e": "another@example.com"})
	// Someone else's budget is their own.
	c := s.createWorkspace(t, s.admin.Token, "C")
	s.must(t, s.admin.Token, invite, map[string]any{"ws": c, "e": "another@example.com"})
}
