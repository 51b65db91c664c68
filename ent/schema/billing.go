package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/tenancy"
)

func workspaceEdgeOptional() ent.Edge {
	return edge.To("workspace", Workspace.Type).Field("workspace_id").Unique().Immutable().
		Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput))
}

// BillingAccount links a workspace to its Stripe customer and holds its
// payment standing.
type BillingAccount struct{ ent.Schema }

// Mixin of BillingAccount.
func (BillingAccount) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.BillingAcct}, TimeMixin{}, TenantMixin{}}
}

// Fields of BillingAccount.
func (BillingAccount) Fields() []ent.Field {
	return []ent.Field{
		field.String("stripe_customer_id").Optional().Nillable(),
		field.String("stripe_subscription_id").Optional().Nillable(),
		field.Enum("standing").Values("ACTIVE", "PAST_DUE", "SUSPENDED").Default("ACTIVE"),
		field.Time("past_due_since").Optional().Nillable(),
		field.String("standing_reason").Optional(),
		field.Time("suspend_at").Optional().Nillable().Comment("when a past-due workspace is suspended unless it pays"),
		field.Time("standing_event_at").Optional().Nillable().Comment("time of the Stripe event that set the standing; older events are ignored"),
		field.String("alert_webhook_url").Optional().MaxLen(2000),
		field.Int("last_alert_percent").Default(0),
		field.String("last_alert_month").Optional(),
	}
}

// Indexes of BillingAccount.
func (BillingAccount) Indexes() []ent.Index {
	return []ent.Index{index.Fields("workspace_id").Unique().StorageKey("billingaccount_workspace_unique"), index.Fields("stripe_customer_id").Unique()}
}

// Annotations of BillingAccount.
func (BillingAccount) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of BillingAccount.
func (BillingAccount) Policy() ent.Policy { return tenancy.ManagedPolicy() }

// BillingPeriod is one workspace's metered cost for one billing interval,
// sent to Stripe as one meter event whose identifier makes a resend a no-op.
type BillingPeriod struct{ ent.Schema }

// Mixin of BillingPeriod.
func (BillingPeriod) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{Prefix: ids.BillingPeriod}, TenantMixin{}}
}

// Fields of BillingPeriod.
func (BillingPeriod) Fields() []ent.Field {
	return []ent.Field{
		field.Time("interval_start").Immutable(),
		field.Time("interval_end").Immutable(),
		field.Int64("cost_micros").Immutable(),
		field.Int64("tokens").Default(0).Immutable(),
		field.String("identifier").Unique().Immutable().Comment("the meter event identifier of generation 0"),
		field.Int("generation").Default(0).NonNegative().
			Comment("times the period got a new identifier because Stripe had not counted it and may have forgotten the old one"),
		field.Time("attempted_at").Optional().Nillable().
			Comment("first attempt of this generation, written before the request left; a plain resend is safe for 23 h after it"),
		field.Time("event_at").Optional().Nillable().
			Comment("the meter event timestamp of this generation, fixed at its first attempt"),
		field.Time("sent_at").Optional().Nillable(),
		field.String("review_reason").Default("").MaxLen(2000).
			Comment("not empty: held for an operator, not sent (controlplane billing resolve)"),
		field.Int("attempts").Default(0),
		field.String("last_error").Optional(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// Indexes of BillingPeriod.
func (BillingPeriod) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("workspace_id", "interval_start").Unique(),
		index.Fields("sent_at"),
		// Reconciliation reads a window by stamp: event_at when attempted,
		// else interval_end (event_at IS NULL).
		index.Fields("event_at", "interval_end"),
	}
}

// Annotations of BillingPeriod.
func (BillingPeriod) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of BillingPeriod.
func (BillingPeriod) Policy() ent.Policy { return tenancy.SystemWritePolicy() }

// StripeEvent remembers each processed webhook event id, so a redelivered
// event changes nothing.
type StripeEvent struct{ ent.Schema }

// Fields of StripeEvent.
func (StripeEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().MaxLen(255).Immutable(),
		field.String("type").Immutable(),
		field.Time("received_at").Default(time.Now).Immutable(),
	}
}

// Annotations of StripeEvent.
func (StripeEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of StripeEvent: system only.
func (StripeEvent) Policy() ent.Policy { return tenancy.SystemOnlyPolicy() }
