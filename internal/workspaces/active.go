package workspaces

import (
	"context"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
)

// SetActive switches workspace wsID on or off. Only its owners may: an
// inactive workspace makes no new keys (internal/apikeys.ErrWorkspaceInactive)
// and every gateway refuses its keys with 403 workspace_inactive, so
// switching it off stops the whole tenant, which is the owners' call. It is
// apart from billing's suspension (status SUSPENDED): either refuses
// requests, and lifting one leaves the other. Setting the value it has
// already changes nothing and audits nothing.
func SetActive(ctx context.Context, c *ent.Client, wsID string, active bool) (*ent.Workspace, error) {
	if err := manager(ctx, wsID); err != nil {
		return nil, err
	}
	if !isOwner(ctx, wsID) {
		return nil, ErrForbidden
	}
	ws, err := c.Workspace.Get(ctx, wsID)
	if err != nil {
		return nil, store.Classify(err)
	}
	if ws.Active == active {
		return ws, nil
	}
	// The update moves updated_at: gateways reload the workspace's policy
	// at their next poll (or at once, on PostgreSQL's NOTIFY).
	if ws, err = c.Workspace.UpdateOne(ws).SetActive(active).Save(ctx); err != nil {
		return nil, store.Classify(err)
	}
	action := audit.WorkspaceDeactivated
	if active {
		action = audit.WorkspaceActivated
	}
	return ws, audit.Record(ctx, c, audit.Event{WorkspaceID: wsID, Action: action, TargetType: "workspace", TargetID: wsID})
}
