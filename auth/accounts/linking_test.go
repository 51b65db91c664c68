package accounts_test

import (
	"context"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
)

// TestSSODoesNotLinkUnverifiedPasswordAccount is issue 15's third attack:
// the attacker signs up with the victim's address and a password of their
// own (never proving the address); the victim then signs in with SSO. The
// SSO identity must not be linked to the attacker's account, and the
// attacker's password and sessions must stop working.
func TestSSODoesNotLinkUnverifiedPasswordAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		p := startProvider(t)
		app := startSSO(t, p, f)
		const victim = "victim@corp.example"
		tok, attacker, err := f.acc.SignUp(ctx, victim, "the attacker's password", otherIP)
		if err != nil {
			t.Fatal(err)
		}

		p.queue(&mockoidc.MockUser{Subject: "victim-sub", Email: victim, EmailVerified: true})
		loc, cookie := app.ssoSignIn(t, newBrowser(t), nil)
		if cookie == nil {
			t.Fatalf("the victim's SSO sign-in did not succeed (%s)", loc)
		}
		claims, err := f.issuer.Verify(ctx, ssoAccess(t, f, cookie).AccessToken)
		if err != nil {
			t.Fatalf("the victim's SSO sign-in did not succeed (%s): %v", loc, err)
		}
		if claims.Subject == attacker.ID {
			t.Fatal("the victim's SSO identity was linked to the attacker's unverified password account")
		}
		if _, _, err := f.acc.SignIn(ctx, victim, "the attacker's password", otherIP); err == nil {
			t.Fatal("the attacker's password still signs in to the victim's address")
		}
		if _, _, err := f.acc.Refresh(ctx, tok.RefreshToken, otherIP); err == nil {
			t.Fatal("the attacker's session still refreshes")
		}
	})
}
