// Package tenancy holds the ent privacy rules that keep every workspace's
// data to its members (STYLE rule 8). The schema attaches them, so every
// query and mutation, from any resolver or worker, is filtered below the API:
// no viewer means deny, a foreign row is simply not there.
package tenancy

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/entql"

	"github.com/oais/oais/ent/privacy"
	"github.com/oais/oais/internal/viewer"
)

// Decisions callers can recognise with errors.Is.
var (
	errNoViewer   = privacy.Denyf("tenancy: no viewer in context")
	errNotAllowed = privacy.Denyf("tenancy: not allowed")
)

// denyNoViewer denies when the context carries no principal, and allows the
// system principal outright.
var denyNoViewer = privacy.ContextQueryMutationRule(func(ctx context.Context) error {
	v := viewer.FromContext(ctx)
	switch {
	case v == nil:
		return errNoViewer
	case v.System:
		return privacy.Allow
	}
	return privacy.Skip
})

// filterByField restricts a query or update to rows whose field is in the
// workspaces that pass ok.
func filterByField(field string, ok func(viewer.Role) bool) privacy.FilterFunc {
	return func(ctx context.Context, f privacy.Filter) error {
		ws := viewer.FromContext(ctx).WorkspacesWhere(ok)
		f.Where(entql.FieldIn(field, anys(ws)...))
		return privacy.Skip
	}
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	if len(out) == 0 {
		// IN () is invalid SQL on some dialects; an impossible id keeps the
		// filter well-formed and empty.
		out = append(out, "-")
	}
	return out
}

func anyRole(viewer.Role) bool { return true }

// createIn checks that a create targets a workspace where the viewer's role
// passes ok; updates and deletes are filtered to such workspaces instead.
func createIn(ok func(viewer.Role) bool) privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		if !m.Op().Is(ent.OpCreate) {
			return privacy.Skip
		}
		ws, _ := m.Field("workspace_id")
		id, _ := ws.(string)
		r, member := viewer.FromContext(ctx).RoleIn(id)
		if !member || !ok(r) {
			return errNotAllowed
		}
		return privacy.Allow
	})
}

// WorkspaceMemberPolicy is the policy of every type that belongs to one
// workspace: members read; members with a managing role write. Types that
// need finer rules (API keys) add them in their own Policy.
func WorkspaceMemberPolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			denyNoViewer,
			filterByField("workspace_id", anyRole),
		},
		Mutation: privacy.MutationPolicy{
			denyNoViewer,
		},
	}
}

// ManagedPolicy lets owners and admins write a tenant type.
func ManagedPolicy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{
			createIn(viewer.Role.CanManage),
			filterByField("workspace_id", viewer.Role.CanManage),
			privacy.AlwaysAllowRule(),
		},
	}
}

// ManagersOnlyPolicy: only owners and admins read or write a tenant type
// (invitations: who was invited, and the links' state, is the managers'
// business); other members see no rows.
func ManagersOnlyPolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			filterByField("workspace_id", viewer.Role.CanManage),
		},
		Mutation: privacy.MutationPolicy{
			createIn(viewer.Role.CanManage),
			filterByField("workspace_id", viewer.Role.CanManage),
			privacy.AlwaysAllowRule(),
		},
	}
}

// APIKeyPolicy: owners and admins write every key; developers create keys
// and change the ones they created; viewers only read.
func APIKeyPolicy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{
			createIn(viewer.Role.CanCreateKeys),
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v := viewer.FromContext(ctx)
				managed := v.WorkspacesWhere(viewer.Role.CanManage)
				dev := v.WorkspacesWhere(func(r viewer.Role) bool { return r == viewer.RoleDeveloper })
				f.Where(entql.Or(
					entql.FieldIn("workspace_id", anys(managed)...),
					entql.And(
						entql.FieldIn("workspace_id", anys(dev)...),
						entql.FieldEQ("created_by_id", v.UserID),
					),
				))
				return privacy.Skip
			}),
			privacy.AlwaysAllowRule(),
		},
	}
}

// SystemWritePolicy lets only the system principal write a tenant type (the
// usage ledger, billing periods); members still read through WorkspaceMemberPolicy.
func SystemWritePolicy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}

// WorkspacePolicy: a viewer sees the workspaces they belong to; any
// signed-in user may create one; owners and admins change it.
func WorkspacePolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			denyNoViewer,
			filterByField("id", anyRole),
		},
		Mutation: privacy.MutationPolicy{
			denyNoViewer,
			privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
				if m.Op().Is(ent.OpCreate) && viewer.FromContext(ctx).UserID != "" {
					return privacy.Allow
				}
				return privacy.Skip
			}),
			privacy.OnMutationOperation(privacy.AlwaysDenyRule(), ent.OpCreate),
			filterByField("id", viewer.Role.CanManage),
			privacy.AlwaysAllowRule(),
		},
	}
}

// UserPolicy: a viewer sees themself and the members of their workspaces,
// and changes only themself.
func UserPolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			denyNoViewer,
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v := viewer.FromContext(ctx)
				f.Where(entql.Or(
					entql.FieldEQ("id", v.UserID),
					entql.HasEdgeWith("memberships", entql.FieldIn("workspace_id", anys(v.WorkspaceIDs())...)),
				))
				return privacy.Skip
			}),
		},
		Mutation: privacy.MutationPolicy{
			denyNoViewer,
			privacy.OnMutationOperation(privacy.AlwaysDenyRule(), ent.OpCreate),
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				f.Where(entql.FieldEQ("id", viewer.FromContext(ctx).UserID))
				return privacy.Skip
			}),
			privacy.AlwaysAllowRule(),
		},
	}
}

// SiteAdminWritePolicy: every signed-in user reads; site admins write.
func SiteAdminWritePolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{denyNoViewer, privacy.AlwaysAllowRule()},
		Mutation: privacy.MutationPolicy{
			denyNoViewer,
			privacy.ContextQueryMutationRule(func(ctx context.Context) error {
				if viewer.FromContext(ctx).SiteAdmin {
					return privacy.Allow
				}
				return errNotAllowed
			}),
		},
	}
}

// AuditPolicy: members read their workspaces' events; nobody but the system
// writes, and nobody changes or deletes a line (append-only).
func AuditPolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			denyNoViewer,
			filterByField("workspace_id", anyRole),
		},
		Mutation: privacy.MutationPolicy{
			privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
				if !m.Op().Is(ent.OpCreate) {
					return privacy.Denyf("tenancy: the audit log is append-only")
				}
				if v := viewer.FromContext(ctx); v != nil && v.System {
					return privacy.Allow
				}
				return errNotAllowed
			}),
		},
	}
}

// SystemOnlyPolicy: only the system principal reads or writes (secrets of
// the control plane itself, webhook bookkeeping, the change feed).
func SystemOnlyPolicy() ent.Policy {
	only := privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if v := viewer.FromContext(ctx); v != nil && v.System {
			return privacy.Allow
		}
		return errNotAllowed
	})
	return privacy.Policy{
		Query:    privacy.QueryPolicy{only},
		Mutation: privacy.MutationPolicy{only},
	}
}

// ChannelPolicy: a channel with no workspace is site-wide, read and written
// by site admins only; a workspace's channel is read by its members and
// written by its owners and admins. A site admin has no say over a
// workspace's channels by being one (only by a role in it).
func ChannelPolicy() ent.Policy {
	visible := func(ok func(viewer.Role) bool) privacy.FilterFunc {
		return func(ctx context.Context, f privacy.Filter) error {
			v := viewer.FromContext(ctx)
			own := entql.FieldIn("workspace_id", anys(v.WorkspacesWhere(ok))...)
			if v.SiteAdmin {
				f.Where(entql.Or(own, entql.FieldNil("workspace_id")))
			} else {
				f.Where(own)
			}
			return privacy.Skip
		}
	}
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			denyNoViewer,
			visible(anyRole),
		},
		Mutation: privacy.MutationPolicy{
			denyNoViewer,
			privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
				if !m.Op().Is(ent.OpCreate) {
					return privacy.Skip
				}
				v := viewer.FromContext(ctx)
				ws, _ := m.Field("workspace_id")
				id, _ := ws.(string)
				if id == "" {
					if v.SiteAdmin {
						return privacy.Allow
					}
					return errNotAllowed
				}
				if r, member := v.RoleIn(id); member && r.CanManage() {
					return privacy.Allow
				}
				return errNotAllowed
			}),
			visible(viewer.Role.CanManage),
			privacy.AlwaysAllowRule(),
		},
	}
}
