package graphqltest

import "testing"

// TestSignOutEndsAccessToken: signing out (and a refresh-token reuse, which
// revokes the session) ends the session's access token at once, not when it
// expires; other sessions of the same user keep working.
func TestSignOutEndsAccessToken(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		const me = `{ viewer { id } }`
		u := s.signUp(t, s.unique("leaver")+"@example.com")
		other := s.signIn(t, u.Email, u.Password)
		s.must(t, u.Token, me, nil)

		s.must(t, "", `mutation($r: String!) { signOut(refreshToken: $r) }`, map[string]any{"r": u.Refresh})
		s.wantCode(t, "UNAUTHENTICATED", u.Token, me, nil)
		s.must(t, other.Token, me, nil) // another session of the same user

		// Reusing a refresh token revokes its session: its access token too.
		first := s.post(t, "", `mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }`, map[string]any{"r": other.Refresh})
		if len(first.Errors) > 0 {
			t.Fatalf("refresh: %s", first.Body)
		}
		s.wantCode(t, "UNAUTHENTICATED", "", `mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }`, map[string]any{"r": other.Refresh})
		s.wantCode(t, "UNAUTHENTICATED", other.Token, me, nil)
	})
}
