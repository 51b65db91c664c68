package workspaces_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

// TestLastOwnerInterleaved runs the two owners' changes of each other in
// two transactions that overlap: the second starts while the first has
// made its change and not yet committed. Counting owners without a lock,
// both see two and both go through, leaving none (issue 15). With the
// workspace locked, the second waits for the first and refuses.
func TestLastOwnerInterleaved(t *testing.T) {
	changes := []struct {
		name string
		do   func(ctx context.Context, c *ent.Client, target string) error
	}{
		{"demotions", func(ctx context.Context, c *ent.Client, target string) error {
			_, err := workspaces.ChangeRole(ctx, c, target, membership.RoleADMIN)
			return err
		}},
		{"removals", func(ctx context.Context, c *ent.Client, target string) error {
			return workspaces.Remove(ctx, c, &apikeys.Service{}, target, false)
		}},
	}
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		for _, ch := range changes {
			t.Run(ch.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				sys := viewer.SystemContext(ctx)
				c := st.Ent
				ws := c.Workspace.Create().SetName("two owners").SetSlug(ch.name + "-two-owners").SaveX(sys)
				var ctxs [2]context.Context
				var mems [2]string
				for i := range 2 {
					u := c.User.Create().SetEmail(ch.name + string(rune('a'+i)) + "@owners.test").SaveX(sys)
					mems[i] = c.Membership.Create().SetWorkspaceID(ws.ID).SetUserID(u.ID).SetRole(membership.RoleOWNER).SaveX(sys).ID
					ctxs[i] = viewer.NewContext(ctx, &viewer.Viewer{UserID: u.ID, Email: u.Email, Roles: map[string]viewer.Role{ws.ID: viewer.RoleOwner}})
				}

				// The first owner changes the second, and does not commit yet.
				first, err := c.Tx(ctxs[0])
				if err != nil {
					t.Fatal(err)
				}
				errFirst := ch.do(ctxs[0], first.Client(), mems[1])
				// The second owner changes the first meanwhile.
				second := make(chan error, 1)
				go func() {
					tx, err := c.Tx(ctxs[1]) // SQLite: waits here for the first's write lock
					if err != nil {
						second <- err
						return
					}
					if err := ch.do(ctxs[1], tx.Client(), mems[0]); err != nil {
						_ = tx.Rollback()
						second <- err
						return
					}
					second <- tx.Commit()
				}()
				// Give the second every chance to run ahead; the verdict is
				// the owner count below, not this wait.
				var errSecond error
				early := false
				select {
				case errSecond = <-second:
					early = true
				case <-time.After(300 * time.Millisecond):
				}
				if errFirst != nil {
					_ = first.Rollback()
				} else if err := first.Commit(); err != nil {
					t.Fatal(err)
				}
				if !early {
					errSecond = <-second
				}

				n := c.Membership.Query().Where(membership.WorkspaceID(ws.ID), membership.RoleEQ(membership.RoleOWNER)).CountX(sys)
				if n != 1 {
					t.Fatalf("%d owners left (first: %v, second: %v, second finished before the first committed: %v)", n, errFirst, errSecond, early)
				}
				if errFirst != nil || !errors.Is(errSecond, workspaces.ErrLastOwner) {
					t.Fatalf("first: %v, second: %v; want the first through and the second refused as the last owner", errFirst, errSecond)
				}
			})
		}
	})
}
