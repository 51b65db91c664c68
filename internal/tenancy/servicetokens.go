package tenancy

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/entql"

	"github.com/oais/oais/ent/privacy"
	"github.com/oais/oais/internal/viewer"
)

// errRoleTooHigh refuses a service token whose role is above its creator's.
var errRoleTooHigh = privacy.Denyf("tenancy: a service token's role cannot be higher than its creator's")

// ServiceTokenPolicy: owners and admins read and revoke every service token
// of their workspaces; other members their own. A member creates tokens in
// their workspaces with a role no higher than their own, and only a person
// does (a service token cannot mint another).
func ServiceTokenPolicy() ent.Policy {
	mineOrManaged := privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := viewer.FromContext(ctx)
		f.Where(entql.Or(
			entql.FieldIn("workspace_id", anys(v.WorkspacesWhere(viewer.Role.CanManage))...),
			entql.And(
				entql.FieldIn("workspace_id", anys(v.WorkspaceIDs())...),
				entql.FieldEQ("created_by_id", v.UserID),
			),
		))
		return privacy.Skip
	})
	return privacy.Policy{
		Query: privacy.QueryPolicy{denyNoViewer, mineOrManaged},
		Mutation: privacy.MutationPolicy{
			denyNoViewer,
			privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
				if !m.Op().Is(ent.OpCreate) {
					return privacy.Skip
				}
				v := viewer.FromContext(ctx)
				if !v.Person() {
					return errNotAllowed
				}
				wsv, _ := m.Field("workspace_id")
				ws, _ := wsv.(string)
				mine, member := v.RoleIn(ws)
				if !member {
					return errNotAllowed
				}
				byv, _ := m.Field("created_by_id")
				if by, _ := byv.(string); by != v.UserID {
					return errNotAllowed
				}
				rv, _ := m.Field("role")
				if role := viewer.Role(stringer(rv)); !role.AtMost(mine) {
					return errRoleTooHigh
				}
				return privacy.Allow
			}),
			mineOrManaged,
			privacy.AlwaysAllowRule(),
		},
	}
}

// stringer reads an ent enum value (a string type) as a string.
func stringer(v any) string {
	if s, ok := v.(interface{ String() string }); ok {
		return s.String()
	}
	s, _ := v.(string)
	return s
}
