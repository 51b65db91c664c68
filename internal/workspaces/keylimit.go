package workspaces

import (
	"context"
	"fmt"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/userinput"
	"github.com/oais/oais/internal/viewer"
)

// MaxKeyLimit bounds a workspace's key limit: every gateway holds every live
// key in memory (gateway/keysnapshot), so no workspace may ask for millions.
const MaxKeyLimit = 100_000

// SetKeyLimit sets how many live (unrevoked, undeleted) keys workspace wsID
// may have; internal/apikeys.Create refuses the next one with ErrKeyLimit.
// Only site admins may: the limit protects the installation, so no
// workspace role is enough, and a site admin need not be a member, so the
// read and the write run with the system's authority once the check passed.
// A workspace that is not there answers ErrNotFound.
func SetKeyLimit(ctx context.Context, c *ent.Client, wsID string, maxKeys int) (*ent.Workspace, error) {
	v := viewer.FromContext(ctx)
	if v == nil || (v.UserID == "" && !v.System) {
		return nil, ErrNoViewer
	}
	if !v.SiteAdmin && !v.System {
		return nil, ErrForbidden
	}
	if maxKeys < 1 || maxKeys > MaxKeyLimit {
		return nil, userinput.Errorf("maxKeys", "must be between 1 and %d", MaxKeyLimit)
	}
	sys := viewer.SystemContext(ctx)
	ws, err := c.Workspace.Get(sys, wsID)
	if err != nil {
		return nil, store.Classify(err)
	}
	if ws.MaxKeys == maxKeys {
		return ws, nil
	}
	before := ws.MaxKeys
	if ws, err = c.Workspace.UpdateOne(ws).SetMaxKeys(maxKeys).Save(sys); err != nil {
		return nil, store.Classify(err)
	}
	return ws, audit.Record(ctx, c, audit.Event{WorkspaceID: wsID, Action: audit.KeyLimitChanged, TargetType: "workspace", TargetID: wsID,
		Details: map[string]string{"from": fmt.Sprint(before), "to": fmt.Sprint(maxKeys)}})
}
