package schema

import (
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

// Channel is one upstream provider account the gateway routes requests to
// (gateway/route.Channel): site-wide when workspace_id is null (site admins
// manage it), else a workspace's own (its owners and admins manage it).
// Its API key is sealed (AES-256-GCM under OAIS_SECRETS_KEY, bound to the
// channel's id), never stored or shown in clear: only a mask.
type Channel struct{ ent.Schema }

// Mixin of Channel.
func (Channel) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.Channel}, TimeMixin{}}
}

// Fields of Channel. The bounds are internal/channels' (raise both together).
func (Channel) Fields() []ent.Field {
	return []ent.Field{
		field.String("workspace_id").Optional().Nillable().Immutable().
			Comment("null: a site-wide channel"),
		field.String("name").NotEmpty().MaxLen(100),
		field.Enum("type").Values("OPENAI", "AZURE", "ANTHROPIC").Default("OPENAI"),
		field.String("base_url").NotEmpty().MaxLen(2000),
		field.Bytes("api_key_ciphertext").Optional().Sensitive().Annotations(entgql.Skip()),
		field.String("api_key_mask").Optional().MaxLen(40).Comment("e.g. sk-…abcd; empty without a key"),
		field.String("api_version").Optional().MaxLen(100).Comment("Azure's api-version"),
		field.Strings("models").Optional().Comment("client model names served; empty = every model"),
		field.JSON("model_map", map[string]string{}).Optional().Comment("client model → upstream model"),
		field.Int("priority").Default(0),
		field.Int("weight").Default(1).NonNegative(),
		field.Bool("enabled").Default(true),
		field.Int64("rpm").Default(0).NonNegative().Comment("0 = no cap"),
		field.Int64("tpm").Default(0).NonNegative().Comment("0 = no cap"),
	}
}

// Edges of Channel.
func (Channel) Edges() []ent.Edge {
	// Cascade, never SET NULL: a workspace's channel must not become a
	// site-wide one when its workspace goes.
	return []ent.Edge{
		edge.To("workspace", Workspace.Type).Field("workspace_id").Unique().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of Channel: a name is unique within its owner; site-wide
// channels (a null workspace, which a plain unique index lets repeat) get
// a partial index of their own.
func (Channel) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("workspace_id", "name").Unique().StorageKey("channel_workspace_name"),
		index.Fields("name").Unique().StorageKey("channel_site_name").
			Annotations(entsql.IndexWhere("workspace_id IS NULL")),
		index.Fields("updated_at"),
	}
}

// Annotations of Channel: its GraphQL type is hand-written
// (graph/channels.graphqls), so the key never has a generated field.
func (Channel) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of Channel: site admins read and write the site-wide ones; a
// workspace's members read its own, its owners and admins write them.
func (Channel) Policy() ent.Policy { return tenancy.ChannelPolicy() }
