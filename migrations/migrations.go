// Package migrations holds the versioned SQL migrations of each dialect,
// generated from ent/schema by `make generate` (gen/) and applied by
// golang-migrate (`controlplane migrate up`, and at start).
package migrations

import "embed"

//go:generate go run ./gen -name schema

// FS holds sqlite/*.sql and postgres/*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
