package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/tenancy"
)

// Group is a site-wide set of pricing and rate-limit defaults that keys and
// workspaces pick (seed 003: "different pricing ratios or rate limits to
// sets of tokens"). A key's group wins over its workspace's. Site admins
// define them (internal/groups).
type Group struct{ ent.Schema }

// Mixin of Group.
func (Group) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.Group}, TimeMixin{}}
}

// Fields of Group.
func (Group) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(64).Unique(),
		// price_multiplier_bps scales every price for the group's requests:
		// 10,000 is list price, 15,000 is 1.5×. Bounded by
		// internal/groups.MaxMultiplierBps (pricing.MaxMultiplierBps).
		field.Int64("price_multiplier_bps").Default(10_000).NonNegative().
			Comment("price multiplier in basis points; 10000 = list price"),
		field.Int64("rpm").Default(0).NonNegative().Comment("default requests per minute of keys without their own; 0 = none"),
		field.Int64("tpm").Default(0).NonNegative().Comment("default tokens per minute of keys without their own; 0 = none"),
	}
}

// Indexes of Group: gateways follow groups by updated_at.
func (Group) Indexes() []ent.Index {
	return []ent.Index{index.Fields("updated_at")}
}

// Annotations of Group: its type is generated; the operations are
// hand-written in graph/groups.graphqls.
func (Group) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)}
}

// Policy of Group: everyone signed in reads (to pick one), site admins write.
func (Group) Policy() ent.Policy { return tenancy.SiteAdminWritePolicy() }
