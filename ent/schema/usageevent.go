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

// UsageEvent is the ledger: one row per answered request, and per refused
// or failed request of a known key (error_code set, no tokens, no cost),
// unique by its request id so that every shipper and retry is idempotent.
type UsageEvent struct{ ent.Schema }

// Mixin of UsageEvent.
func (UsageEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.UsageEvent}, TenantMixin{NoIndex: true}}
}

// Fields of UsageEvent.
func (UsageEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("request_id").NotEmpty().MaxLen(128).Unique().Immutable(),
		field.String("api_key_id").Immutable(),
		field.String("model").MaxLen(200).Immutable(),
		field.String("endpoint").MaxLen(100).Immutable(),
		field.Bool("stream").Default(false).Immutable(),
		field.Int64("prompt_tokens").Default(0).Immutable(),
		field.Int64("completion_tokens").Default(0).Immutable(),
		field.Int64("cached_tokens").Default(0).Immutable(),
		field.Int64("cost_micros").Default(0).Immutable(),
		field.Int("status").Immutable(),
		field.Int64("latency_ms").Default(0).Immutable(),
		field.Bool("cache_hit").Default(false).Immutable(),
		// none: a refused or failed request, which counts no tokens.
		field.Enum("source").Values("upstream", "estimated", "cache", "none").Immutable(),
		field.String("estimate_reason").Optional().Immutable(),
		field.String("client_ip").Optional().MaxLen(64).Immutable(),
		// error_code is the error.code a refused or failed request got
		// (CONTRACT §3), or "upstream_error"; empty for an answer. Its
		// length is internal/ledger's maxErrorCode: raise both together.
		field.String("error_code").Optional().MaxLen(64).Immutable(),
		// channel names the channel that served the request
		// (usage.Record.Channel); empty for the global upstream or none.
		// Its length is internal/ledger's maxChannel: raise both together.
		field.String("channel").Optional().MaxLen(100).Immutable(),
		field.Time("occurred_at").Immutable().
			Annotations(entgql.OrderField("OCCURRED_AT")),
		field.Time("ingested_at").Default(time.Now).Immutable(),
		field.String("billing_period_id").Optional().Nillable().
			Annotations(entgql.Skip()),
	}
}

// Indexes of UsageEvent.
func (UsageEvent) Indexes() []ent.Index {
	return []ent.Index{
		// No index on occurred_at alone: time-range reads go through the
		// hourly rollups, and raw reads name a workspace or a key.
		index.Fields("workspace_id", "occurred_at"),
		index.Fields("api_key_id", "occurred_at"),
		index.Fields("billing_period_id", "ingested_at"),
	}
}

// Annotations of UsageEvent.
func (UsageEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

// Policy of UsageEvent.
func (UsageEvent) Policy() ent.Policy { return tenancy.SystemWritePolicy() }
