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

// SigningKey is one of the control plane's JWT signing keys, created on
// first start and rotated; retired keys keep verifying for a while.
type SigningKey struct{ ent.Schema }

// Mixin of SigningKey.
func (SigningKey) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{Prefix: ids.SigningKey}} }

// Fields of SigningKey.
func (SigningKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("kid").Unique().Immutable(),
		field.Bytes("private_jwk").Sensitive().Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("retired_at").Optional().Nillable(),
	}
}

// Annotations of SigningKey.
func (SigningKey) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of SigningKey: system only.
func (SigningKey) Policy() ent.Policy { return tenancy.SystemOnlyPolicy() }

// RefreshToken is one refresh token of a sign-in session, stored hashed.
// Tokens of one sign-in form a family; reusing a spent one ends the family.
type RefreshToken struct{ ent.Schema }

// Mixin of RefreshToken.
func (RefreshToken) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{Prefix: ids.RefreshToken}} }

// Fields of RefreshToken.
func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("token_hash").Unique().Immutable().Sensitive(),
		field.String("family_id").Immutable(),
		field.String("user_id").Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.String("ip").Optional(),
		field.String("user_agent").Optional().MaxLen(500),
	}
}

// Indexes of RefreshToken.
func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("family_id"), index.Fields("user_id")}
}

// Annotations of RefreshToken.
func (RefreshToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of RefreshToken: system only.
func (RefreshToken) Policy() ent.Policy { return tenancy.SystemOnlyPolicy() }
