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

// ServiceToken is a bearer token for automation (CI, Terraform, the REST
// face): it acts in one workspace with a role no higher than its creator's,
// and only while its creator is still a member there (auth/accounts). Only
// the SHA-256 of the token is stored; the token is shown once.
type ServiceToken struct{ ent.Schema }

// Mixin of ServiceToken.
func (ServiceToken) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.ServiceToken}, TimeMixin{}, TenantMixin{}}
}

// Fields of ServiceToken.
func (ServiceToken) Fields() []ent.Field {
	skipInputs := entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(100).Annotations(skipInputs),
		// Exposed as MembershipRole by graph/servicetokens.graphqls.
		field.Enum("role").Values("OWNER", "ADMIN", "DEVELOPER", "VIEWER").Immutable().
			Annotations(entgql.Skip()),
		field.String("token_hash").NotEmpty().MaxLen(64).Unique().Immutable().Sensitive().
			Comment("hex SHA-256 of the token").
			Annotations(entgql.Skip()),
		field.String("created_by_id").NotEmpty().Immutable().Annotations(skipInputs),
		field.Time("expires_at").Optional().Nillable().Immutable().Annotations(skipInputs),
		field.Time("last_used_at").Optional().Nillable().Annotations(skipInputs),
		field.Time("revoked_at").Optional().Nillable().Annotations(skipInputs),
	}
}

// Indexes of ServiceToken.
func (ServiceToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_by_id")}
}

// Annotations of ServiceToken: no filters, no generated mutations.
func (ServiceToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipOrderField)}
}

// Policy of ServiceToken: owners and admins see and revoke every token of
// their workspaces, other members their own; nobody mints a role above
// their own.
func (ServiceToken) Policy() ent.Policy { return tenancy.ServiceTokenPolicy() }

// RecoveryCode is one of a user's single-use MFA recovery codes, stored as
// the hex SHA-256 of the code (80 random bits, so no slow hash is needed).
type RecoveryCode struct{ ent.Schema }

// Mixin of RecoveryCode.
func (RecoveryCode) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{Prefix: ids.RecoveryCode}} }

// Fields of RecoveryCode.
func (RecoveryCode) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").NotEmpty().Immutable(),
		field.String("code_hash").NotEmpty().MaxLen(64).Unique().Immutable().Sensitive(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("used_at").Optional().Nillable(),
	}
}

// Edges of RecoveryCode: the codes go with their user.
func (RecoveryCode) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of RecoveryCode.
func (RecoveryCode) Indexes() []ent.Index { return []ent.Index{index.Fields("user_id")} }

// Annotations of RecoveryCode.
func (RecoveryCode) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of RecoveryCode: system only.
func (RecoveryCode) Policy() ent.Policy { return tenancy.SystemOnlyPolicy() }
