//go:build ignore

// entc.go generates ent's code, the GraphQL schema of the ent types
// (graph/ent.graphql) and its gqlgen glue. Run through `make generate`.
package main

import (
	"log"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithConfigPath("../gqlgen.yml"),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("../graph/ent.graphql"),
		entgql.WithWhereInputs(true),
		entgql.WithNodeDescriptor(false),
		entgql.WithSchemaHook(noEdgeFilters),
	)
	if err != nil {
		log.Fatalf("entgql extension: %v", err)
	}
	err = entc.Generate("./schema", &gen.Config{
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureUpsert,
			gen.FeatureLock,
			gen.FeatureExecQuery,
			gen.FeatureIntercept,
			gen.FeatureVersionedMigration,
		},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("ent codegen: %v", err)
	}
}

// noEdgeFilters leaves ent's edge predicates (has<Edge> and has<Edge>With)
// out of every where filter of the GraphQL schema. They are EXISTS
// subqueries over another table, and ent's privacy rules filter the rows a
// query returns, never its predicates (ent/ent#2957): through them a filter
// could ask yes/no questions about another tenant's rows (issue 15). A
// filter keeps the predicates on its own row's columns, which the rules do
// cover. Done here rather than per edge, because entgql.SkipWhereInput on
// an edge would also drop the where argument of its connection field; and
// so that a new edge is left out without anyone remembering to.
// graphqltest.TestFiltersCannotReachOtherTenants attacks whatever remains.
//
// The generated Go WhereInput structs keep their HasX fields: gqlgen cannot
// set them, but never decode untrusted input into those structs elsewhere.
func noEdgeFilters(_ *gen.Graph, s *ast.Schema) error {
	for name, def := range s.Types {
		if def.Kind != ast.InputObject || !strings.HasSuffix(name, "WhereInput") {
			continue
		}
		edges := map[string]bool{}
		for _, f := range def.Fields {
			// and/or/not nest the filter itself; any other nested filter is
			// an edge's, even one back to the same type (rotated_from).
			logical := f.Name == "and" || f.Name == "or" || f.Name == "not"
			if !logical && strings.HasSuffix(f.Type.Name(), "WhereInput") {
				edges[f.Name] = true
				edges[strings.TrimSuffix(f.Name, "With")] = true
			}
		}
		kept := def.Fields[:0]
		for _, f := range def.Fields {
			if !edges[f.Name] {
				kept = append(kept, f)
			}
		}
		def.Fields = kept
	}
	return nil
}
