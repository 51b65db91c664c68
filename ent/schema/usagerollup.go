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

// UsageRollup is the usage of one key, model and channel in one UTC hour,
// kept by the ledger in the transaction that stores the hour's events, so
// that it always equals the sum of those events. Charts and quotas read
// rollups, not raw events: their size grows with keys × models × channels
// × hours, not with traffic, and they outlive the raw events' retention.
// One key, model and hour can be several rows (one per channel): readers
// sum, never pick one.
type UsageRollup struct{ ent.Schema }

// Mixin of UsageRollup.
func (UsageRollup) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.UsageRollup}, TenantMixin{NoIndex: true}}
}

// Fields of UsageRollup. Counters follow ledger.Summary: requests and
// cache hits count answered events (status < 400), errors the others;
// tokens and cost sum every event.
func (UsageRollup) Fields() []ent.Field {
	return []ent.Field{
		field.String("api_key_id").Immutable(),
		field.String("model").MaxLen(200).Immutable(),
		field.String("channel").MaxLen(100).Default("").Immutable().
			Comment("the event's channel; empty for the global upstream or a request refused before any channel"),
		field.Time("hour").Immutable().Comment("the hour's start, UTC"),
		field.Int64("requests").Default(0),
		field.Int64("errors").Default(0),
		field.Int64("cache_hits").Default(0),
		field.Int64("prompt_tokens").Default(0),
		field.Int64("completion_tokens").Default(0),
		field.Int64("cached_tokens").Default(0),
		field.Int64("cost_micros").Default(0),
		field.Int64("latency_ms_sum").Default(0).Comment("over answered events"),
	}
}

// Indexes of UsageRollup: the upsert key, which also serves a workspace's
// range scans; and a key's.
func (UsageRollup) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("workspace_id", "hour", "api_key_id", "model", "channel").Unique(),
		index.Fields("api_key_id", "hour"),
	}
}

// Annotations of UsageRollup.
func (UsageRollup) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of UsageRollup.
func (UsageRollup) Policy() ent.Policy { return tenancy.SystemWritePolicy() }

// LatencyRollup counts a workspace's answered requests of one UTC hour
// whose latency fell in one bucket of ledger.LatencyBuckets: the
// histogram that charts take latency percentiles from.
type LatencyRollup struct{ ent.Schema }

// Mixin of LatencyRollup.
func (LatencyRollup) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.LatencyRollup}, TenantMixin{NoIndex: true}}
}

// Fields of LatencyRollup.
func (LatencyRollup) Fields() []ent.Field {
	return []ent.Field{
		field.Time("hour").Immutable().Comment("the hour's start, UTC"),
		field.Int("bucket").Immutable().Comment("index into ledger.LatencyBuckets"),
		field.Int64("count").Default(0),
	}
}

// Indexes of LatencyRollup.
func (LatencyRollup) Indexes() []ent.Index {
	return []ent.Index{index.Fields("workspace_id", "hour", "bucket").Unique()}
}

// Annotations of LatencyRollup.
func (LatencyRollup) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of LatencyRollup.
func (LatencyRollup) Policy() ent.Policy { return tenancy.SystemWritePolicy() }
