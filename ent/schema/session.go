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

// Session is one sign-in: the family of refresh tokens that descend from
// it share its id, which is also the sid claim of its access tokens. Its id
// is made by package auth (a UUID), not by internal/ids.
type Session struct{ ent.Schema }

// Fields of Session.
func (Session) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").MaxLen(64).NotEmpty().Immutable(),
		field.String("user_id").NotEmpty().Immutable(),
		field.String("email").Optional().MaxLen(320).Immutable().
			Comment("the user's email at sign-in, copied into access tokens"),
		field.String("method").Optional().MaxLen(32).Immutable().
			Comment("how the user signed in: password, oidc"),
		field.String("ip").Optional().MaxLen(64).Immutable(),
		field.String("user_agent").Optional().MaxLen(500).Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("expires_at").Immutable().
			Comment("absolute end; refreshing never extends it"),
		field.Time("revoked_at").Optional().Nillable(),
		// Moved by every refresh and, at most once a minute, by requests
		// (auth/accounts); the session ends OAIS_SESSION_IDLE after it.
		// Null on sessions from before the column: their created_at.
		field.Time("last_used_at").Optional().Nillable(),
	}
}

// Edges of Session. Sessions and their tokens go with their user.
func (Session) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of Session.
func (Session) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "created_at")}
}

// Annotations of Session.
func (Session) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of Session: system only.
func (Session) Policy() ent.Policy { return tenancy.SystemOnlyPolicy() }

// RefreshToken is one refresh token of a session, stored as the hex SHA-256
// of the token, never the token. Using one sets used_at exactly once (a
// compare-and-set); presenting a used one again ends its session.
type RefreshToken struct{ ent.Schema }

// Mixin of RefreshToken.
func (RefreshToken) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{Prefix: ids.RefreshToken}} }

// Fields of RefreshToken.
func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("token_hash").NotEmpty().MaxLen(64).Unique().Immutable().Sensitive(),
		field.String("session_id").NotEmpty().Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("expires_at").Immutable().
			Comment("min(session end, created_at + idle timeout)"),
		field.Time("used_at").Optional().Nillable(),
	}
}

// Edges of RefreshToken.
func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("session", Session.Type).Field("session_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of RefreshToken.
func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("session_id")}
}

// Annotations of RefreshToken.
func (RefreshToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of RefreshToken: system only.
func (RefreshToken) Policy() ent.Policy { return tenancy.SystemOnlyPolicy() }
