package graph

import (
	"errors"

	keygroups "github.com/oais/oais/internal/groups"
)

// presentGroups maps the groups domain's errors.
func presentGroups(err error) (Presented, bool) {
	if errors.Is(err, keygroups.ErrForbidden) {
		return Presented{CodeForbidden, "Only a site admin can define groups, set a workspace's group, or give a key a cheaper group.", ""}, true
	}
	return Presented{}, false
}
