// Package graph is the control plane's GraphQL API: gqlgen resolvers over
// the ent client. Resolvers stay short; domain packages do the work, and ent
// privacy rules enforce tenancy below them.
package graph

import (
	"github.com/oais/oais/ent"
)

// Resolver is the root resolver; it holds the dependencies of every field.
type Resolver struct {
	Client *ent.Client
}
