package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/tenancy"
)

// ModelPrice is what a model costs, in micro-dollars per million tokens.
// Rows override internal/pricing's defaults; site admins edit them.
type ModelPrice struct{ ent.Schema }

// Mixin of ModelPrice.
func (ModelPrice) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.ModelPrice}, TimeMixin{}}
}

// Fields of ModelPrice.
func (ModelPrice) Fields() []ent.Field {
	return []ent.Field{
		field.String("model").NotEmpty().MaxLen(200).Unique(),
		field.Int64("input_micros_per_mtok").NonNegative(),
		field.Int64("cached_input_micros_per_mtok").NonNegative(),
		field.Int64("output_micros_per_mtok").NonNegative(),
	}
}

// Policy of ModelPrice: everyone signed in reads, site admins write.
func (ModelPrice) Policy() ent.Policy { return tenancy.SiteAdminWritePolicy() }
