package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/oais/oais/internal/tenancy"
)

// UsageQuarantine holds the usage records the ledger could not store (a
// count out of bounds, a missing id, a value the database refuses), each
// moved aside by the batch it came in so that the rest of the batch ships.
// It is an operator's table: nothing reads it but SQL (docs/billing.md,
// "Quarantined usage"), and a fixed record can be shipped again from it.
//
// It has no tenant mixin: a quarantined record's workspace may not exist,
// and no member sees it.
type UsageQuarantine struct{ ent.Schema }

// Fields of UsageQuarantine.
func (UsageQuarantine) Fields() []ent.Field {
	return []ent.Field{
		// "uq_" and the first 128 bits of the record's SHA-256: the same
		// record quarantined twice (a batch shipped again after a crash)
		// is one row.
		field.String("id").NotEmpty().MaxLen(64).Immutable(),
		field.String("request_id").MaxLen(128).Default("").Immutable(),
		field.String("workspace_id").MaxLen(64).Default("").Immutable(),
		field.String("reason").MaxLen(1000).Immutable(),
		field.Text("record").Immutable().Comment("the record as the gateway wrote it, as JSON"),
		field.Time("quarantined_at").Default(time.Now).Immutable(),
	}
}

// Indexes of UsageQuarantine: an operator looks for a workspace's records.
func (UsageQuarantine) Indexes() []ent.Index {
	return []ent.Index{index.Fields("workspace_id", "quarantined_at")}
}

// Annotations of UsageQuarantine.
func (UsageQuarantine) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll), entsql.Annotation{Table: "usage_quarantine"}}
}

// Policy of UsageQuarantine: system only.
func (UsageQuarantine) Policy() ent.Policy { return tenancy.SystemOnlyPolicy() }
