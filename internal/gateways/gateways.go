// Package gateways names gateways (OAIS_GATEWAY_NAME) and keeps their
// heartbeat: a named gateway upserts its row of the gateways table every
// HeartbeatInterval, which the control plane lists (Query.gateways) and a
// key's gatewayName is checked against. Both binaries use it.
package gateways

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/oais/oais/internal/ids"
)

// MaxNameLen bounds a gateway name (a DNS label's length; the column's
// MaxLen in ent/schema/gateway.go and apikey.go: raise them together).
const MaxNameLen = 63

// HeartbeatInterval is how often a named gateway reports itself.
const HeartbeatInterval = 30 * time.Second

// ErrInvalidName is returned by ValidateName.
var ErrInvalidName = errors.New("a gateway name is 1 to 63 lowercase letters, digits and dashes, starting and ending with a letter or digit (e.g. eu-prod)")

// ValidateName reports whether name is a gateway name: lowercase letters,
// digits and dashes, at most MaxNameLen, no dash at either end. The empty
// name (an unnamed gateway) is not one.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen || name[0] == '-' || name[len(name)-1] == '-' {
		return ErrInvalidName
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return ErrInvalidName
		}
	}
	return nil
}

// Execer is what Beat writes through: a *sql.DB, or the gateway's ent
// client (ExecContext).
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Beat records that the gateway called name is alive at now: one upsert,
// the same SQL on PostgreSQL and SQLite ($N placeholders, ON CONFLICT). It
// goes around ent's privacy on purpose: a gateway has no viewer, and the
// row says nothing but a name and a time.
func Beat(ctx context.Context, db Execer, name string, now time.Time) error {
	now = now.UTC()
	_, err := db.ExecContext(ctx, `INSERT INTO gateways (id, name, last_seen_at, created_at, updated_at) VALUES ($1, $2, $3, $3, $3)
ON CONFLICT (name) DO UPDATE SET last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at`, ids.New(ids.Gateway), name, now)
	if err != nil {
		return fmt.Errorf("gateway heartbeat of %q: %w", name, err)
	}
	return nil
}
