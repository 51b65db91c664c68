package schema

import (
	"context"
	"fmt"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	gen "github.com/oais/oais/ent"
	"github.com/oais/oais/ent/hook"
	"github.com/oais/oais/ent/intercept"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/tenancy"
)

// APIKey is a credential for the /v1 gateway. Only the SHA-256 of its secret
// is stored; the secret itself is shown once, by the mutation that makes it.
type APIKey struct{ ent.Schema }

// Mixin of APIKey.
func (APIKey) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.APIKey}, TimeMixin{}, TenantMixin{}}
}

// Fields of APIKey.
func (APIKey) Fields() []ent.Field {
	skipInputs := entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
	return []ent.Field{
		field.String("label").NotEmpty().MaxLen(100).
			Annotations(entgql.OrderField("LABEL")),
		field.String("secret_hash").Unique().Immutable().Sensitive().
			Annotations(entgql.Skip()),
		field.String("masked_key").Immutable().
			Annotations(skipInputs),
		field.Enum("status").Values("ACTIVE", "DISABLED", "REVOKED").Default("ACTIVE").
			Comment("stored status; EXPIRED and RATE_LIMITED are derived (internal/keys)").
			Annotations(entgql.OrderField("STATUS"), entgql.Type("APIKeyStoredStatus"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipType)),
		field.Enum("revoke_reason").Values("MANUAL", "BULK", "LEAKED", "ROTATED").Optional().Nillable().
			Annotations(skipInputs),
		field.Time("revoked_at").Optional().Nillable().Annotations(skipInputs),
		field.String("revoked_by").Optional().Nillable().Annotations(entgql.Skip()),
		field.Time("expires_at").Optional().Nillable().
			Annotations(entgql.OrderField("EXPIRES_AT")),
		field.Int64("max_requests").Default(0).NonNegative().Comment("0 = unlimited"),
		// request_count and cache_hits count the answered requests since
		// requests_reset_at (since the key was made, if never reset): the
		// ledger adds them as it stores usage (internal/ledger.Ship), and
		// resetAPIKeyRequestCount sets them back to 0.
		field.Int64("request_count").Default(0).NonNegative().
			Annotations(entgql.OrderField("REQUEST_COUNT"), skipInputs),
		field.Int64("cache_hits").Default(0).NonNegative().Annotations(skipInputs),
		// requests_reset_at is when the request count was last reset; the
		// gateways' request budget of the key is named after it, so a reset
		// starts a new counter (gateway/limits.go).
		field.Time("requests_reset_at").Optional().Nillable().Annotations(skipInputs),
		field.Strings("allowed_models").Optional().Comment("empty = every model of the workspace"),
		field.Strings("ip_allowlist").Optional().Comment("CIDRs; empty = any address"),
		field.Int64("rpm").Optional().Nillable().NonNegative(),
		field.Int64("tpm").Optional().Nillable().NonNegative(),
		// credit_quota_cents is the most the key may ever spend (all
		// time, not monthly), in cents; null = unlimited (an input of 0
		// stores null). credit_used_micros is what it has spent, kept by
		// the ledger as it stores usage, like request_count; it is never
		// reset: raising the quota is the top-up.
		field.Int64("credit_quota_cents").Optional().Nillable().Positive().
			Comment("all-time spend limit in cents; null = unlimited"),
		field.Int64("credit_used_micros").Default(0).NonNegative().
			Comment("the key's total cost in micro-dollars; kept by the ledger").
			Annotations(skipInputs),
		field.Bool("cache_enabled").Default(false),
		field.String("created_by_id").Optional().Nillable().Immutable().Annotations(skipInputs),
		field.Time("last_used_at").Optional().Nillable().
			Annotations(entgql.OrderField("LAST_USED_AT"), skipInputs),
		field.String("rotated_from_id").Optional().Nillable().Immutable().Annotations(skipInputs),
		field.Time("grace_until").Optional().Nillable().Annotations(skipInputs),
		field.Time("leaked_at").Optional().Nillable().Annotations(skipInputs),
		field.String("leak_source").Optional().Nillable().MaxLen(500).Annotations(skipInputs),
		// deleted_at marks a deleted key: the row stays, so that its usage
		// and audit lines still name it and the bill still adds up, but no
		// query sees it (Interceptors) and no gateway accepts it.
		field.Time("deleted_at").Optional().Nillable().Annotations(entgql.Skip()),
		// group_id picks the key's group (pricing multiplier, default
		// RPM/TPM); it wins over the workspace's. Deleting a group clears it
		// (internal/groups.Delete).
		field.String("group_id").Optional().Nillable().Annotations(skipInputs),
		// gateway_name binds the key to the gateway of that
		// OAIS_GATEWAY_NAME: any other gateway, an unnamed one included,
		// answers it 401 invalid_api_key. Null: every gateway.
		field.String("gateway_name").Optional().Nillable().MaxLen(63).Annotations(skipInputs),
		field.String("deleted_by").Optional().Nillable().Annotations(entgql.Skip()),
	}
}

// Edges of APIKey.
func (APIKey) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("created_by", User.Type).Field("created_by_id").Unique().Immutable().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("rotated_from", APIKey.Type).Field("rotated_from_id").Unique().Immutable().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("group", Group.Type).Field("group_id").Unique().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Indexes of APIKey.
func (APIKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("workspace_id", "created_at"),
		index.Fields("updated_at"),
	}
}

// Annotations of APIKey.
func (APIKey) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

// Policy of APIKey.
func (APIKey) Policy() ent.Policy { return tenancy.APIKeyPolicy() }

// Interceptors of APIKey: a deleted key is gone from every query, of every
// viewer and of the system alone (deleteAPIKey is a soft delete). The key
// snapshot and the ledger read api_keys with SQL of their own and skip or
// keep deleted rows on purpose. A generic predicate, so that the schema
// compiles before the generated package has deleted_at.
func (APIKey) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{
		intercept.TraverseFunc(func(_ context.Context, q intercept.Query) error {
			q.WhereP(sql.FieldIsNull("deleted_at"))
			return nil
		}),
	}
}

// Hooks of APIKey.
func (APIKey) Hooks() []ent.Hook {
	return []ent.Hook{hook.On(countKeys, ent.OpCreate)}
}

// countKeys keeps workspaces.api_key_count equal to the workspace's rows of
// api_keys: after each insert it adds one, on the mutation's own client, so
// inside its transaction when there is one (every GraphQL mutation has one).
// CreateBulk runs the hooks of each of its builders, so a bulk insert adds
// one per key too. Keys are never deleted as rows; a soft delete
// (internal/apikeys.Delete) takes its key off the count itself.
//
// Plain SQL rather than ent's Workspace update: that one would also move the
// workspace's updated_at (gateways reload a workspace whose updated_at
// moves) and go through the workspace's privacy rules, which let only
// owners and admins write a workspace, while developers create keys too.
// The statement bypasses privacy on purpose: the key insert it follows has
// passed them. $1 is understood by both drivers (pgx, and modernc.org/sqlite,
// which binds $N to the Nth argument).
func countKeys(next ent.Mutator) ent.Mutator {
	return hook.APIKeyFunc(func(ctx context.Context, m *gen.APIKeyMutation) (ent.Value, error) {
		v, err := next.Mutate(ctx, m)
		if err != nil {
			return v, err
		}
		ws, ok := m.WorkspaceID()
		if !ok {
			return nil, fmt.Errorf("ent: count the new API key: no workspace_id")
		}
		if _, err := m.Client().ExecContext(ctx, `UPDATE workspaces SET api_key_count = api_key_count + 1 WHERE id = $1`, ws); err != nil {
			return nil, fmt.Errorf("ent: count the new API key of workspace %s: %w", ws, err)
		}
		return v, nil
	})
}
