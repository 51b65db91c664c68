package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/tenancy"
)

// EmailToken is the secret of a link mailed to a user's address: presenting
// it proves the presenter reads that address. It verifies the address or
// sets a new password, once, before it expires, and only for the address
// it was sent to. Only its SHA-256 is stored.
type EmailToken struct{ ent.Schema }

// Mixin of EmailToken.
func (EmailToken) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{Prefix: ids.EmailToken}} }

// Fields of EmailToken.
func (EmailToken) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("purpose").Values("VERIFY_EMAIL", "RESET_PASSWORD").Immutable(),
		field.String("user_id").NotEmpty().Immutable(),
		field.String("email").NotEmpty().MaxLen(320).Immutable().
			Comment("the address the link was mailed to; the token is void once the user's address differs"),
		field.String("token_hash").NotEmpty().MaxLen(64).Unique().Immutable().Sensitive(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable(),
	}
}

// Edges of EmailToken.
func (EmailToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of EmailToken.
func (EmailToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "purpose", "created_at")}
}

// Annotations of EmailToken.
func (EmailToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of EmailToken: system only.
func (EmailToken) Policy() ent.Policy { return tenancy.SystemOnlyPolicy() }
