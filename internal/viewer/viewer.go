// Package viewer carries the authenticated principal of a request through its
// context. Only the auth middleware (and trusted system code) writes it; ent
// privacy rules and resolvers read it.
package viewer

import "context"

// Role is a member's role in a workspace, ordered from most to least powerful.
type Role string

// The roles of CONTRACT §4.
const (
	RoleOwner     Role = "OWNER"
	RoleAdmin     Role = "ADMIN"
	RoleDeveloper Role = "DEVELOPER"
	RoleViewer    Role = "VIEWER"
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	switch r {
	case RoleOwner, RoleAdmin, RoleDeveloper, RoleViewer:
		return true
	}
	return false
}

// CanManage reports whether r may manage members, limits, billing and every key.
func (r Role) CanManage() bool { return r == RoleOwner || r == RoleAdmin }

// CanCreateKeys reports whether r may create keys (and manage its own).
func (r Role) CanCreateKeys() bool { return r.CanManage() || r == RoleDeveloper }

// Viewer is the principal of a request: a signed-in user with their
// memberships, or the system itself (background workers, bootstrap).
type Viewer struct {
	UserID    string
	Email     string
	SessionID string
	// Roles maps a workspace ID to the viewer's role in it.
	Roles map[string]Role
	// SiteAdmin is an operator of the whole installation (the bootstrap
	// admin): they edit global settings such as model prices.
	SiteAdmin bool
	// System bypasses tenancy; only process-internal code sets it.
	System bool
	// ServiceTokenID is set when the principal is a service token (a bearer
	// token for automation): UserID is then its creator, and Roles hold the
	// token's one workspace. Operations on the person (sessions, MFA,
	// passwords, new workspaces, more tokens) refuse such a viewer.
	ServiceTokenID string
	// MFAPending lists the workspaces that require a second factor the
	// viewer has not set up (setWorkspaceRequireMFA). They are left out of
	// Roles, so tenancy hides them; GraphQL answers MFA_REQUIRED for them.
	MFAPending []string
	// MFAEnabled reports whether the user signs in with a TOTP code.
	MFAEnabled bool
}

// RoleIn returns the viewer's role in workspace ws, and whether they are a member.
func (v *Viewer) RoleIn(ws string) (Role, bool) {
	if v == nil {
		return "", false
	}
	r, ok := v.Roles[ws]
	return r, ok
}

// WorkspacesWhere lists the workspaces in which the viewer's role satisfies ok.
func (v *Viewer) WorkspacesWhere(ok func(Role) bool) []string {
	if v == nil {
		return nil
	}
	ids := make([]string, 0, len(v.Roles))
	for id, r := range v.Roles {
		if ok(r) {
			ids = append(ids, id)
		}
	}
	return ids
}

// WorkspaceIDs lists the workspaces the viewer belongs to.
func (v *Viewer) WorkspaceIDs() []string {
	if v == nil {
		return nil
	}
	ids := make([]string, 0, len(v.Roles))
	for id := range v.Roles {
		ids = append(ids, id)
	}
	return ids
}

type ctxKey struct{}

// NewContext returns ctx carrying v.
func NewContext(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the viewer in ctx, or nil.
func FromContext(ctx context.Context) *Viewer {
	v, _ := ctx.Value(ctxKey{}).(*Viewer)
	return v
}

// SystemContext returns ctx carrying the system viewer, for workers and
// bootstrap code that act on behalf of no user.
func SystemContext(ctx context.Context) context.Context {
	return NewContext(ctx, &Viewer{System: true})
}
