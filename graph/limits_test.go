package graph

import (
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// TestSkipTx: which mutations run outside the per-request transaction.
// setWorkspaceUpstream does only when alone (it opens its own after a DNS
// look-up); combined with anything else it runs inside, as every mutation.
func TestSkipTx(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		skip        bool
	}{
		{"sign-in", `mutation { signIn(email: "a", password: "b") { accessToken } }`, true},
		{"upstream alone", `mutation { setWorkspaceUpstream(workspaceID: "w", input: {baseURL: "u"}) { id } }`, true},
		{"upstream with another field", `mutation { setWorkspaceUpstream(workspaceID: "w", input: {baseURL: "u"}) { id } revokeAPIKey(id: "k") { id } }`, false},
		{"upstream in a fragment", `mutation { ... on Mutation { setWorkspaceUpstream(workspaceID: "w", input: {baseURL: "u"}) { id } } }`, false},
		{"another mutation", `mutation { revokeAPIKey(id: "k") { id } }`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := parser.ParseQuery(&ast.Source{Input: tc.query})
			if err != nil {
				t.Fatal(err)
			}
			if got := SkipTx(doc.Operations[0]); got != tc.skip {
				t.Fatalf("SkipTx = %v, want %v", got, tc.skip)
			}
		})
	}
}
