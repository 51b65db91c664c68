package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/tenancy"
)

// AuditEvent is one append-only line of the audit log: who did what, to
// what, from where, when. Events of no workspace (a failed sign-in) are
// visible to site admins only.
type AuditEvent struct{ ent.Schema }

// Mixin of AuditEvent.
func (AuditEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.AuditEvent}}
}

// Fields of AuditEvent.
func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("workspace_id").Optional().Nillable().Immutable(),
		field.String("actor_id").Optional().Immutable(),
		field.String("actor_email").Optional().Immutable(),
		field.String("action").NotEmpty().Immutable().
			Annotations(entgql.OrderField("ACTION")),
		field.String("target_type").Optional().Immutable(),
		field.String("target_id").Optional().Immutable(),
		field.String("ip").Optional().Immutable(),
		field.JSON("details", map[string]string{}).Optional().Immutable().
			Annotations(entgql.Skip()),
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
	}
}

// Edges of AuditEvent.
func (AuditEvent) Edges() []ent.Edge {
	return []ent.Edge{
		workspaceEdgeOptional(),
	}
}

// Indexes of AuditEvent.
func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("workspace_id", "created_at"), index.Fields("action")}
}

// Annotations of AuditEvent.
func (AuditEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

// Policy of AuditEvent: append-only, readable by the workspace's members.
func (AuditEvent) Policy() ent.Policy { return tenancy.AuditPolicy() }
