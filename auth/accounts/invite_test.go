package accounts_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
)

// TestSignUpClaimsInvitation: an invited address has a user row without
// credentials; signing up with it claims that row and its memberships,
// while an address that already has a password stays taken.
func TestSignUpClaimsInvitation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		ctx := context.Background()
		ip := netip.MustParseAddr("192.0.2.1")
		invited := mkUser(t, s, "invited@example.com", "")
		ws := mkWorkspace(t, s, "Claim")
		addMember(t, s, ws.ID, invited.ID, membership.RoleDEVELOPER)

		_, u, err := f.acc.SignUp(ctx, "Invited@Example.com", "a good password", ip)
		if err != nil {
			t.Fatalf("sign-up of an invited address: %v", err)
		}
		if u.ID != invited.ID {
			t.Fatalf("sign-up made a new user %s instead of claiming %s", u.ID, invited.ID)
		}
		if _, _, err := f.acc.SignIn(ctx, "invited@example.com", "a good password", ip); err != nil {
			t.Fatalf("sign-in after claiming: %v", err)
		}
		if _, _, err := f.acc.SignUp(ctx, "invited@example.com", "another password", ip); !errors.Is(err, accounts.ErrEmailTaken) {
			t.Fatalf("second sign-up: %v, want ErrEmailTaken", err)
		}
	})
}
