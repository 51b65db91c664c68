package tenancy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/oais/oais/ent/privacy"
	"github.com/oais/oais/ent/servicetoken"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

// TestServiceTokenRoleCeiling: below any resolver, nobody stores a service
// token with a role above their own, for another user, in a workspace not
// theirs, or as a service token.
func TestServiceTokenRoleCeiling(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		c := s.Ent
		a, owner := seed(t, c, "alpha")
		b, _ := seed(t, c, "beta")
		dev := &viewer.Viewer{UserID: owner.UserID, Email: owner.Email, Roles: map[string]viewer.Role{a.ws: viewer.RoleDeveloper}}
		mint := func(v *viewer.Viewer, ws, by, role string) error {
			return c.ServiceToken.Create().SetWorkspaceID(ws).SetName("t").SetRole(servicetoken.Role(role)).
				SetTokenHash(ids.New("h")).SetCreatedByID(by).Exec(viewer.NewContext(context.Background(), v))
		}
		for _, tc := range []struct {
			name         string
			v            *viewer.Viewer
			ws, by, role string
			allowed      bool
		}{
			{"a developer, as developer", dev, a.ws, dev.UserID, "DEVELOPER", true},
			{"a developer, as viewer", dev, a.ws, dev.UserID, "VIEWER", true},
			{"a developer, as admin", dev, a.ws, dev.UserID, "ADMIN", false},
			{"a developer, as owner", dev, a.ws, dev.UserID, "OWNER", false},
			{"an owner, as owner", owner, a.ws, owner.UserID, "OWNER", true},
			{"for someone else", owner, a.ws, "usr_someone_else", "VIEWER", false},
			{"in another workspace", owner, b.ws, owner.UserID, "VIEWER", false},
			{"by a service token", &viewer.Viewer{UserID: owner.UserID, ServiceTokenID: "stk_x", Roles: owner.Roles}, a.ws, owner.UserID, "VIEWER", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := mint(tc.v, tc.ws, tc.by, tc.role)
				if tc.allowed && err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !tc.allowed && !errors.Is(err, privacy.Deny) {
					t.Fatalf("got %v, want a privacy denial", err)
				}
			})
		}
	})
}
