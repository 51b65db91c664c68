package graph

// gqlgen resolves the paths in gqlgen.yml from the working directory, so it
// runs from the module root.
//go:generate sh -c "cd .. && go run -mod=mod github.com/99designs/gqlgen generate --config gqlgen.yml"
//go:generate go run ./schemaexport schema.graphql
