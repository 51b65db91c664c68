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

// Upstream is a workspace's own OpenAI-compatible upstream, used instead of
// the gateway's global one (OAIS_UPSTREAM_BASE_URL). Its API key is stored
// encrypted (AES-256-GCM under OAIS_SECRETS_KEY), never in clear.
type Upstream struct{ ent.Schema }

// Mixin of Upstream.
func (Upstream) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.Upstream}, TimeMixin{}, TenantMixin{}}
}

// Fields of Upstream.
func (Upstream) Fields() []ent.Field {
	return []ent.Field{
		field.String("base_url").NotEmpty().MaxLen(2000),
		field.Bytes("api_key_ciphertext").Optional().Sensitive(),
		field.Strings("models").Optional().Comment("the models it serves; empty = whatever it lists"),
	}
}

// Indexes of Upstream.
func (Upstream) Indexes() []ent.Index {
	return []ent.Index{index.Fields("workspace_id").Unique().StorageKey("upstream_workspace_unique"), index.Fields("updated_at")}
}

// Annotations of Upstream.
func (Upstream) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of Upstream: members read, owners and admins write.
func (Upstream) Policy() ent.Policy { return tenancy.ManagedPolicy() }
