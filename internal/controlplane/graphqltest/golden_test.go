package graphqltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"github.com/oais/oais/internal/ids"
)

// goldenDir holds the golden responses. They are written only when
// OAIS_UPDATE_GOLDEN=1 (STYLE rule 16), never by hand.
const goldenDir = "../testdata/golden"

var updateGolden = os.Getenv("OAIS_UPDATE_GOLDEN") == "1"

var (
	timePattern   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)
	maskedPattern = regexp.MustCompile(`^sk-oa\*{10}[0-9A-Za-z]{4}$`)
)

// normalizer replaces what changes from run to run (ids, times, secrets,
// tokens, cursors) with stable placeholders; ids are numbered per type in
// order of appearance, so references between records stay visible.
type normalizer struct{ seen map[string]string }

func (n *normalizer) value(key string, v any) any {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make(map[string]any, len(v))
		for _, k := range keys {
			out[k] = n.value(k, v[k])
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = n.value(key, x)
		}
		return out
	case string:
		switch {
		case key == "secret" && secretPattern.MatchString(v):
			return "<secret>"
		case key == "accessToken" || key == "refreshToken":
			return "<token>"
		case key == "cursor" || key == "startCursor" || key == "endCursor":
			return "<cursor>"
		case maskedPattern.MatchString(v):
			return "sk-oa**********<last4>"
		case timePattern.MatchString(v):
			return "<time>"
		}
		if m := idPattern.FindStringSubmatch(v); m != nil {
			if _, ok := n.seen[v]; !ok {
				count := 0
				for _, p := range n.seen {
					if len(p) > len(m[1]) && p[:len(m[1])+1] == m[1]+"_" {
						count++
					}
				}
				n.seen[v] = fmt.Sprintf("%s_<%d>", m[1], count+1)
			}
			return n.seen[v]
		}
	}
	return v
}

// normalize returns the indented, normalised form of a GraphQL response body.
func normalize(t *testing.T, body []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	n := &normalizer{seen: map[string]string{}}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(n.value("", v)); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// golden compares a normalised response with testdata/golden/name.json, or
// writes it there when OAIS_UPDATE_GOLDEN=1.
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	got := normalize(t, body)
	path := filepath.Join(goldenDir, name+".json")
	if updateGolden {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with OAIS_UPDATE_GOLDEN=1 to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (if the change is intended, regenerate with OAIS_UPDATE_GOLDEN=1):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestGolden pins the wire shape of representative operations, the same
// on both databases.
func TestGolden(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		w := newWorld(t, s)
		owner := w.token(asOwner)
		cases := []struct {
			name  string
			token string
			query string
			vars  map[string]any
		}{
			{name: "viewer", token: owner,
				query: `{ viewer { id email siteAdmin memberships { role workspace { id name } } } }`},
			{name: "create_api_key", token: owner,
				query: `mutation($ws: ID!) { createAPIKey(input: {workspaceID: $ws, label: "golden", maxRequests: 100, allowedModels: ["mock-gpt"], ipAllowlist: ["10.1.2.3/8"]}) {
					secret apiKey { id workspaceID label maskedKey status revokeReason expiresAt maxRequests requestCount remainingRequests cacheHits allowedModels ipAllowlist cacheEnabled createdAt lastUsedAt createdBy { email } } } }`,
				vars: map[string]any{"ws": w.wsA}},
			{name: "workspace_keys_page", token: owner,
				query: `query($id: ID!) { workspace(id: $id) { id name viewerRole rateLimits { rpm tpm monthlyTokenQuota } spendCap { monthlyCents }
					apiKeys(first: 2, orderBy: {field: LABEL, direction: ASC}) {
						totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
						edges { cursor node { id label maskedKey status createdAt expiresAt lastUsedAt requestCount maxRequests remainingRequests cacheHits revokeReason createdBy { email } } } } } }`,
				vars: map[string]any{"id": w.wsA}},
			{name: "error_not_found", token: owner,
				query: `mutation($id: ID!) { revokeAPIKey(id: $id) { id status } }`,
				vars:  map[string]any{"id": ids.New(ids.APIKey)}},
			{name: "error_not_found_foreign", token: w.token(asOutsider),
				query: `mutation($id: ID!) { revokeAPIKey(id: $id) { id status } }`,
				vars:  map[string]any{"id": w.keyOwner}},
			{name: "error_forbidden", token: w.token(asViewer),
				query: `mutation($id: ID!) { revokeAPIKey(id: $id) { id status } }`,
				vars:  map[string]any{"id": w.keyOwner}},
			{name: "error_bad_user_input", token: owner,
				query: `mutation($ws: ID!) { createAPIKey(input: {workspaceID: $ws, label: ""}) { secret } }`,
				vars:  map[string]any{"ws": w.wsA}},
			{name: "error_unauthenticated", token: "",
				query: `{ viewer { id email } }`},
			{name: "error_invalid_token", token: "not-a-jwt",
				query: `{ viewer { id email } }`},
			{name: "introspection_operations", token: "",
				query: `{ __schema { queryType { fields { name } } mutationType { fields { name } } } }`},
		}
		bodies := map[string][]byte{}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := s.post(t, c.token, c.query, c.vars)
				bodies[c.name] = normalize(t, r.Body)
				golden(t, c.name, r.Body)
			})
		}
		// A foreign key and a made-up one get the same answer, byte for byte.
		if !bytes.Equal(bodies["error_not_found"], bodies["error_not_found_foreign"]) {
			t.Errorf("a foreign key answers differently from a made-up one:\n%s\n%s", bodies["error_not_found_foreign"], bodies["error_not_found"])
		}
	})
}
