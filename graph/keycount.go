package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/oais/oais/ent"
)

// emptyKeyWhere reports whether where filters nothing (absent, or {}).
// An invalid where is not empty: Paginate reports its error.
func emptyKeyWhere(where *ent.APIKeyWhereInput) bool {
	if where == nil {
		return true
	}
	_, err := where.P()
	return err == ent.ErrEmptyAPIKeyWhereInput
}

// withEdgesOnly returns ctx with the current field's selection reduced to
// its edges, for a connection whose totalCount the resolver knows already.
//
// entgql's generated Paginate runs a COUNT of every matching row whenever
// totalCount or pageInfo is selected, although it computes pageInfo from
// the page itself (it fetches first+1 rows): on a workspace of 100,000 keys
// the COUNT took 6 ms of a 7 ms page (BenchmarkKeysPage). Seeing only edges,
// Paginate fetches the page, cursors and hasNextPage/hasPreviousPage without
// counting; the caller then sets TotalCount. The response itself is still
// shaped by the original selection: only Paginate sees the reduced one.
//
// ok is false, and ctx unchanged, when edges are not selected (Paginate
// would then skip the page and answer with the count alone). Like Paginate,
// it finds edges by their response name, fragments included.
func withEdgesOnly(ctx context.Context) (_ context.Context, ok bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return ctx, false
	}
	for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, nil) {
		if f.Alias != "edges" {
			continue
		}
		// gqlgen caches CollectFields by the address and length of the
		// selection set, for the whole operation. The set below lives in
		// the same allocation as the field it holds, which that cache keeps
		// (its entry refers to the field), so its address cannot be reused
		// by another selection set while the operation runs.
		one := &edgesOnly{field: *f.Field}
		one.field.SelectionSet = f.Selections // every occurrence's, merged
		one.set[0] = &one.field
		reduced := *fc // a copy: the original still shapes the response
		reduced.Field.Selections = one.set[:]
		ctx = graphql.WithFieldContext(ctx, &reduced)
		reduced.Parent = fc.Parent // WithFieldContext made fc the parent: keep the path
		return ctx, true
	}
	return ctx, false
}

// edgesOnly is a selection set of one field, allocated with that field.
type edgesOnly struct {
	field ast.Field
	set   [1]ast.Selection
}
