// Package schema is the single source of truth for oais's data model. Every
// other file under ent/ is generated from it by `make generate`.
package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/tenancy"
)

// IDMixin gives a type a prefixed, time-ordered string id (see internal/ids).
type IDMixin struct {
	mixin.Schema
	Prefix string
}

// Fields of the IDMixin.
func (m IDMixin) Fields() []ent.Field {
	p := m.Prefix
	return []ent.Field{
		field.String("id").
			MaxLen(64).
			NotEmpty().
			Immutable().
			DefaultFunc(func() string { return ids.New(p) }),
	}
}

// TimeMixin records when a row was created and last changed.
type TimeMixin struct {
	mixin.Schema
	// Private leaves the times out of the generated GraphQL type: a
	// user's times tell others when the account was made and, since
	// signing in updates the row, when it last signed in. graph declares
	// them with a rule of its own (User: only its owner sees them).
	Private bool
}

// Fields of the TimeMixin.
func (m TimeMixin) Fields() []ent.Field {
	skip := []entgql.SkipMode{entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput}
	created := []schema.Annotation{entgql.OrderField("CREATED_AT")}
	if m.Private {
		skip = append(skip, entgql.SkipType, entgql.SkipWhereInput)
		created = nil // an order field must be a field of the type
	}
	return []ent.Field{
		field.Time("created_at").
			Default(time.Now).
			Immutable().
			Annotations(append(created, entgql.Skip(skip...))...),
		field.Time("updated_at").
			Default(time.Now).
			UpdateDefault(time.Now).
			Annotations(entgql.Skip(skip...)),
	}
}

// TenantMixin makes a type belong to one workspace and filters every query
// and mutation of it to the viewer's workspaces (STYLE rule 8): a resolver
// cannot forget tenancy, because the query itself cannot see other rows.
type TenantMixin struct {
	mixin.Schema
	// NoIndex leaves out the (workspace_id, id) index, for a table whose
	// own indexes already start with workspace_id and that is never listed
	// in id order: the usage ledger and its rollups, where an index of
	// unique entries costs ~150 bytes a row (BenchmarkIngest).
	NoIndex bool
}

// Fields of the TenantMixin.
func (TenantMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("workspace_id").
			Immutable().
			NotEmpty().
			Annotations(entgql.Skip(entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)),
	}
}

// Edges of the TenantMixin.
func (TenantMixin) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("workspace", Workspace.Type).
			Field("workspace_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Indexes of the TenantMixin: (workspace_id, id) serves both the tenant
// filter and the default order of every connection (ids are time-ordered),
// so a page of a large workspace is an index range scan, not a sort.
func (m TenantMixin) Indexes() []ent.Index {
	if m.NoIndex {
		return nil
	}
	return []ent.Index{index.Fields("workspace_id", "id")}
}

// Policy of the TenantMixin.
func (TenantMixin) Policy() ent.Policy { return tenancy.WorkspaceMemberPolicy() }
