package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/tenancy"
)

// Gateway is a named gateway (OAIS_GATEWAY_NAME) as last heard of: each
// named gateway upserts its row every internal/gateways.HeartbeatInterval
// through its own database connection, so the dashboard can show which
// gateways exist and a key can be bound to one of them.
type Gateway struct{ ent.Schema }

// Mixin of Gateway.
func (Gateway) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.Gateway}, TimeMixin{}}
}

// Fields of Gateway.
func (Gateway) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(63).Unique().Immutable(),
		field.Time("last_seen_at"),
	}
}

// Annotations of Gateway: read through Query.gateways only.
func (Gateway) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of Gateway: everyone signed in reads; the gateways write with SQL
// of their own, and through ent only site admins could.
func (Gateway) Policy() ent.Policy { return tenancy.SiteAdminWritePolicy() }
