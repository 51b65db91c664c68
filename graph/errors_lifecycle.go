package graph

import (
	"errors"

	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/keys"
)

// Error codes of issue 16's key lifecycle. Add, never rename.
const (
	// CodeWorkspaceInactive: createAPIKey or rotateAPIKey in a workspace
	// its owner deactivated.
	CodeWorkspaceInactive = "WORKSPACE_INACTIVE"
	// CodeKeyExpired: an edit that would bring an expired key back.
	CodeKeyExpired = "KEY_EXPIRED"
)

// presentKeyLifecycle maps the errors of deleting, resetting and
// re-activating keys, and of inactive workspaces.
func presentKeyLifecycle(err error) (Presented, bool) {
	switch {
	case errors.Is(err, apikeys.ErrWorkspaceInactive):
		// The product guide's words.
		return Presented{CodeWorkspaceInactive, "Cannot generate tokens for inactive workspace", ""}, true
	case errors.Is(err, keys.ErrExpiredFinal):
		return Presented{CodeKeyExpired, "This key has expired and cannot be re-activated. Generate a new key instead.", ""}, true
	}
	return Presented{}, false
}
