package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/tenancy"
)

// User is a person who signs in to the dashboard, locally or through SSO.
type User struct{ ent.Schema }

// Mixin of User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.User}, TimeMixin{Private: true}}
}

// Fields of User. Other members see a user's id, e-mail and name; the rest
// of the profile (times, flags) is the user's own: those fields are left
// out of the generated type and declared in graph/schema.graphqls, whose
// resolvers answer null to anyone else. Otherwise a self-service tenant
// could invite any existing account and read when it signs in and whether
// it is an operator's (issue 15).
func (User) Fields() []ent.Field {
	private := entgql.Skip(entgql.SkipType, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
	return []ent.Field{
		field.String("email").NotEmpty().MaxLen(320).Unique(),
		field.String("name").Optional().MaxLen(200),
		field.String("password_hash").Optional().Sensitive().
			Annotations(entgql.Skip()),
		field.String("oidc_issuer").Optional().
			Annotations(entgql.Skip()),
		field.String("oidc_subject").Optional().
			Annotations(entgql.Skip()),
		field.Bool("site_admin").Default(false).
			Annotations(private),
		field.Bool("disabled").Default(false).
			Annotations(private),
		field.Time("last_sign_in_at").Optional().Nillable().
			Annotations(private),
		// Set when the user proved they read their address (a mailed link,
		// a password reset, an SSO provider that vouches for it). Only a
		// verified address accepts invitations or is linked to SSO; shown
		// to the user alone (Viewer.emailVerified).
		field.Time("email_verified_at").Optional().Nillable().
			Annotations(entgql.Skip()),
		// TOTP (RFC 6238) second factor. The secret is sealed with
		// OAIS_SECRETS_KEY when one is set (auth/accounts). It is stored at
		// enrolTOTP and counts only from confirmTOTP (totp_enabled_at);
		// totp_last_step is the time step of the last accepted code, which
		// is never accepted again (RFC 6238 §5.2).
		field.Bytes("totp_secret").Optional().Nillable().Sensitive().
			Annotations(entgql.Skip()),
		field.Time("totp_enabled_at").Optional().Nillable().
			Annotations(entgql.Skip()),
		field.Int64("totp_last_step").Optional().
			Annotations(entgql.Skip()),
	}
}

// Edges of User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("memberships", Membership.Type).Ref("user").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Indexes of User.
func (User) Indexes() []ent.Index {
	return []ent.Index{index.Fields("oidc_issuer", "oidc_subject")}
}

// Policy of User: a viewer sees themself and the members of their workspaces.
func (User) Policy() ent.Policy { return tenancy.UserPolicy() }
