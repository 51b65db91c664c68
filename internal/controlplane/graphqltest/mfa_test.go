package graphqltest

import (
	"testing"
	"time"

	"github.com/oais/oais/auth"
)

const signInOTP = `mutation($e: String!, $p: String!, $o: String) { signIn(email: $e, password: $p, otp: $o) { accessToken refreshToken } }`

// code returns secret's TOTP code for the time step after the current one
// (accepted, within the skew), so a test never waits 30 s for a new code.
func code(t testing.TB, secret string, steps int) string {
	t.Helper()
	c, err := auth.TOTPCode(secret, time.Now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrol turns TOTP on for u and returns the secret and recovery codes.
func (s *server) enrol(t testing.TB, u *user) (string, []string) {
	t.Helper()
	d := s.must(t, u.Token, `mutation { enrollTOTP { secret uri } }`, nil)
	secret := str(t, d, "enrollTOTP", "secret")
	s.wantCode(t, "OTP_INVALID", u.Token, `mutation($c: String!) { confirmTOTP(code: $c) }`, map[string]any{"c": "000000x"})
	d = s.must(t, u.Token, `mutation($c: String!) { confirmTOTP(code: $c) }`, map[string]any{"c": code(t, secret, 0)})
	var codes []string
	for _, c := range list(t, d, "confirmTOTP") {
		codes = append(codes, c.(string))
	}
	if len(codes) != auth.RecoveryCodes {
		t.Fatalf("%d recovery codes", len(codes))
	}
	return secret, codes
}

// TestTOTPSignIn: with TOTP on, a password alone does not sign in; a code
// does, once; a recovery code does, once.
func TestTOTPSignIn(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		u := s.signUp(t, s.unique("mfa")+"@a.test")
		d := s.must(t, u.Token, `mutation { enrollTOTP { secret uri } }`, nil)
		if uri := str(t, d, "enrollTOTP", "uri"); uri[:15] != "otpauth://totp/" {
			t.Fatalf("uri %q", uri)
		}
		// An enrolment that was never confirmed changes nothing.
		s.must(t, "", signInOTP, map[string]any{"e": u.Email, "p": u.Password})

		secret, recovery := s.enrol(t, u)
		vars := func(otp any) map[string]any { return map[string]any{"e": u.Email, "p": u.Password, "o": otp} }
		s.wantCode(t, "OTP_REQUIRED", "", signInOTP, vars(nil))
		s.wantCode(t, "OTP_INVALID", "", signInOTP, vars("123456x"))
		// A wrong password still says nothing about the second factor.
		s.wantCode(t, unauth, "", signInOTP, map[string]any{"e": u.Email, "p": "wrong password", "o": code(t, secret, 1)})

		next := code(t, secret, 1)
		s.must(t, "", signInOTP, vars(next))
		// The same code twice: a code works once (RFC 6238 §5.2).
		s.wantCode(t, "OTP_INVALID", "", signInOTP, vars(next))

		s.must(t, "", signInOTP, vars(recovery[0]))
		s.wantCode(t, "OTP_INVALID", "", signInOTP, vars(recovery[0]))

		d = s.must(t, u.Token, `{ viewer { mfaEnabled mfaRequired } }`, nil)
		if dig(t, d, "viewer", "mfaEnabled") != true {
			t.Fatal("viewer.mfaEnabled is false")
		}
		s.wantCode(t, conflict, u.Token, `mutation { enrollTOTP { secret } }`, nil)
		s.wantCode(t, "OTP_INVALID", u.Token, `mutation { disableTOTP(code: "999999x") }`, nil)
		s.must(t, u.Token, `mutation($c: String!) { disableTOTP(code: $c) }`, map[string]any{"c": recovery[1]})
		s.must(t, "", signInOTP, vars(nil))
	})
}

// TestTOTPThrottled: wrong codes from many addresses still run into the
// account's own limit.
func TestTOTPThrottled(t *testing.T) {
	s := start(t, storetestSQLite(t), nil)
	u := s.signUp(t, s.unique("throttle")+"@a.test")
	secret, _ := s.enrol(t, u)
	throttled := false
	for range 12 {
		r := s.post(t, "", signInOTP, map[string]any{"e": u.Email, "p": u.Password, "o": "000000"})
		if len(r.Errors) > 0 && r.Errors[0].code() == "THROTTLED" {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatal("12 wrong codes in a row were never throttled")
	}
	s.wantCode(t, "THROTTLED", "", signInOTP, map[string]any{"e": u.Email, "p": u.Password, "o": code(t, secret, 1)})
}

// TestWorkspaceRequiresMFA: an owner requires a second factor; a member
// without one still signs in, but the workspace answers MFA_REQUIRED until
// they enrol.
func TestWorkspaceRequiresMFA(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("owner")+"@a.test")
		ws := s.createWorkspace(t, owner.Token, "strict")
		other := s.createWorkspace(t, owner.Token, "relaxed")
		member := s.signUp(t, s.unique("member")+"@a.test")
		s.addMember(t, owner.Token, ws, member, "DEVELOPER")
		s.addMember(t, owner.Token, other, member, "DEVELOPER")
		keyID, _ := s.createKey(t, member.Token, ws, "before")

		const set = `mutation($id: ID!, $r: Boolean!) { setWorkspaceRequireMFA(workspaceID: $id, required: $r) { id requireMFA } }`
		// Not without MFA of one's own: the owner would shut themself out.
		s.wantCode(t, mfaRequired, owner.Token, set, map[string]any{"id": ws, "r": true})
		s.enrol(t, owner)
		s.wantCode(t, forbid, member.Token, set, map[string]any{"id": ws, "r": true})
		s.must(t, owner.Token, set, map[string]any{"id": ws, "r": true})

		member = s.signIn(t, member.Email, member.Password) // still signs in
		for name, q := range map[string]struct {
			query string
			vars  map[string]any
		}{
			"workspace":    {`query($id: ID!) { workspace(id: $id) { id name } }`, map[string]any{"id": ws}},
			"node":         {`query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": ws}},
			"node key":     {`query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": keyID}},
			"createAPIKey": {`mutation($id: ID!) { createAPIKey(input: {workspaceID: $id, label: "x"}) { secret } }`, map[string]any{"id": ws}},
			"revokeAPIKey": {`mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": keyID}},
		} {
			t.Run(name, func(t *testing.T) { s.wantCode(t, mfaRequired, member.Token, q.query, q.vars) })
		}
		d := s.must(t, member.Token, `{ viewer { mfaRequired memberships { workspace { id } } } workspaces(first: 10) { edges { node { id } } } }`, nil)
		if dig(t, d, "viewer", "mfaRequired") != true {
			t.Fatal("viewer.mfaRequired is false")
		}
		if ids := nodeIDs(t, dig(t, d, "workspaces")); contains(ids, ws) || !contains(ids, other) {
			t.Fatalf("workspaces = %v: the strict one hidden, the other listed", ids)
		}
		// The other workspace is not affected.
		s.createKey(t, member.Token, other, "fine")

		s.enrol(t, member)
		s.must(t, member.Token, `query($id: ID!) { workspace(id: $id) { id } }`, map[string]any{"id": ws})
		s.createKey(t, member.Token, ws, "after")
	})
}
