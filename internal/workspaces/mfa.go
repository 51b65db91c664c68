package workspaces

import (
	"context"
	"strconv"

	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// AuditRequireMFA records setWorkspaceRequireMFA.
const AuditRequireMFA = "workspace.require_mfa_changed"

// SetRequireMFA turns workspace ws's second-factor requirement on or off.
// Only owners may; an owner without a second factor may not turn it on
// (they would shut themselves out).
func SetRequireMFA(ctx context.Context, c *ent.Client, ws string, required bool) (*ent.Workspace, error) {
	v := viewer.FromContext(ctx)
	role, member := v.RoleIn(ws)
	switch {
	case !member:
		return nil, store.ErrNotFound
	case role != viewer.RoleOwner:
		return nil, ErrForbidden
	case required && !v.MFAEnabled:
		return nil, accounts.ErrMFARequired
	}
	w, err := c.Workspace.UpdateOneID(ws).SetRequireMfa(required).Save(ctx)
	if err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, c, audit.Event{
		WorkspaceID: ws, Action: AuditRequireMFA, TargetType: "workspace", TargetID: ws,
		Details: map[string]string{"required": strconv.FormatBool(required)},
	}); err != nil {
		return nil, err
	}
	return w, nil
}
