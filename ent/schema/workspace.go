package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/tenancy"
)

// Workspace is a tenant: it owns keys, usage, limits and a bill.
type Workspace struct{ ent.Schema }

// Mixin of Workspace.
func (Workspace) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.Workspace}, TimeMixin{}}
}

// Fields of Workspace.
func (Workspace) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(100).
			Annotations(entgql.OrderField("NAME")),
		field.String("slug").NotEmpty().MaxLen(64).Unique().
			Annotations(entgql.Skip(entgql.SkipMutationUpdateInput)),
		field.Enum("status").Values("ACTIVE", "SUSPENDED").Default("ACTIVE").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.String("suspended_reason").Optional().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		// active is the owner's switch (setWorkspaceActive), apart from the
		// billing status: an inactive workspace makes no new keys, and its
		// keys get 403 workspace_inactive at every gateway.
		field.Bool("active").Default(true).
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Int64("rpm").Default(0).NonNegative().Comment("requests per minute for the whole workspace; 0 = unlimited"),
		field.Int64("tpm").Default(0).NonNegative().Comment("tokens per minute; 0 = unlimited"),
		field.Int64("monthly_token_quota").Default(0).NonNegative().Comment("tokens per calendar month (UTC); 0 = unlimited"),
		field.Int64("spend_cap_cents").Optional().Nillable().NonNegative().Comment("monthly spend cap in cents; null = none"),
		field.Int("max_keys").Default(100).Positive(),
		// Members without a second factor get MFA_REQUIRED for everything of
		// this workspace until they enrol (auth/accounts.PrincipalLoader).
		field.Bool("require_mfa").Default(false).
			Annotations(entgql.Skip(entgql.SkipAll)),
		// api_key_count is the number of keys of the workspace that are not
		// deleted, revoked keys included: what an unfiltered apiKeys page
		// lists. APIKey's countKeys hook adds one in the inserting
		// transaction, internal/apikeys.Delete takes one off in the
		// deleting one (a key is soft-deleted at most once), and the
		// backfill_api_key_count migration set it for existing rows. A
		// workspace's key is never moved. An unfiltered apiKeys page answers
		// totalCount from it instead of counting 100,000 rows
		// (graph/keycount.go). It is not max_keys's number: the key limit
		// counts the live, unrevoked keys.
		// group_id is the workspace's group (setWorkspaceGroup, site
		// admins): the pricing multiplier and default key RPM/TPM of its
		// keys that have no group of their own.
		field.String("group_id").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Int64("api_key_count").Default(0).NonNegative().
			Comment("number of API keys of the workspace that are not deleted, revoked ones included; kept by the system").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Edges of Workspace.
func (Workspace) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("memberships", Membership.Type).Ref("workspace").
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		// apiKeys is declared by hand in graph/workspace.graphqls: it adds
		// the derived-status filter and the search the dashboard needs.
		edge.From("api_keys", APIKey.Type).Ref("workspace").
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.From("audit_events", AuditEvent.Type).Ref("workspace").
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.From("usage_events", UsageEvent.Type).Ref("workspace").
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("group", Group.Type).Field("group_id").Unique().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Annotations of Workspace.
// Indexes of Workspace: gateways follow workspaces by updated_at
// (gateway/keysnapshot polls for rows changed since its last poll).
func (Workspace) Indexes() []ent.Index {
	return []ent.Index{index.Fields("updated_at")}
}

func (Workspace) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
	}
}

// Policy of Workspace: a viewer sees only workspaces they belong to.
func (Workspace) Policy() ent.Policy { return tenancy.WorkspacePolicy() }
