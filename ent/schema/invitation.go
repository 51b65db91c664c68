package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/tenancy"
)

// Invitation offers a role in a workspace to an e-mail address. It becomes
// a membership only when a signed-in user whose verified address is the
// invited one presents its token (internal/workspaces.Accept); the token is
// mailed, single-use and expiring, and only its SHA-256 is stored.
type Invitation struct{ ent.Schema }

// Mixin of Invitation.
func (Invitation) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.Invitation}, TimeMixin{}, TenantMixin{}}
}

// Fields of Invitation.
func (Invitation) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").NotEmpty().MaxLen(320).Immutable().
			Comment("the invited address, normalised as accounts.NormalizeEmail"),
		// Exposed as MembershipRole by graph/invitations.graphqls.
		field.Enum("role").Values("OWNER", "ADMIN", "DEVELOPER", "VIEWER").Immutable().
			Annotations(entgql.Skip()),
		field.String("token_hash").NotEmpty().MaxLen(64).Unique().Sensitive().
			Comment("hex SHA-256 of the mailed token; a resend replaces it").
			Annotations(entgql.Skip()),
		field.String("inviter_id").Optional().Immutable().
			Annotations(entgql.Skip()),
		field.Time("expires_at"),
		field.Time("sent_at").Comment("when the last link was mailed"),
		field.Time("accepted_at").Optional().Nillable(),
		field.String("accepted_by_id").Optional().
			Annotations(entgql.Skip()),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

// Indexes of Invitation.
func (Invitation) Indexes() []ent.Index {
	return []ent.Index{index.Fields("workspace_id", "email")}
}

// Policy of Invitation: owners and admins only.
func (Invitation) Policy() ent.Policy { return tenancy.ManagersOnlyPolicy() }
