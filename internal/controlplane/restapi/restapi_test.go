package restapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/oais/oais/graph"
)

// TestOpenAPIDocumentMatchesRoutes: every route the mux serves is in the
// document, and every operation of the document is a route.
func TestOpenAPIDocumentMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPIDocument(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	var inDoc, inMux []string
	for path, ops := range doc.Paths {
		for method := range ops {
			inDoc = append(inDoc, strings.ToUpper(method)+" "+path)
		}
	}
	for _, r := range Routes {
		inMux = append(inMux, r.Method+" "+r.Path)
	}
	slices.Sort(inDoc)
	slices.Sort(inMux)
	if !slices.Equal(inDoc, inMux) {
		t.Fatalf("document and routes differ:\ndocument: %v\nroutes:   %v", inDoc, inMux)
	}

	// Registered on a real mux, each route is served by its handler, not
	// the JSON 404 of unknown paths (nor a 405).
	mux := http.NewServeMux()
	(&API{}).Register(mux, func(h http.Handler) http.Handler { return h })
	for _, r := range Routes {
		path := strings.ReplaceAll(r.Path, "{id}", "key_01JAAAAAAAAAAAAAAAAAAAAAAA")
		_, pattern := mux.Handler(httptest.NewRequest(r.Method, path, nil))
		if pattern != r.Method+" "+r.Path {
			t.Errorf("%s %s reaches %q", r.Method, path, pattern)
		}
	}
}

func TestHTTPStatus(t *testing.T) {
	for _, c := range []struct {
		code string
		want int
	}{
		{graph.CodeBadInput, 400},
		{graph.CodeUnauthenticated, 401},
		{graph.CodeForbidden, 403},
		{graph.CodeMFARequired, 403},
		{graph.CodeNotFound, 404},
		{graph.CodeConflict, 409},
		{graph.CodeKeyLimit, 409},
		{graph.CodeKeyExpired, 409},
		{graph.CodeWorkspaceInactive, 409},
		{graph.CodeThrottled, 429},
		{graph.CodeInternal, 500},
		{graph.CodeUnavailable, 503},
		{"SOME_NEW_CODE", 400},
	} {
		t.Run(c.code, func(t *testing.T) {
			if got := HTTPStatus(c.code); got != c.want {
				t.Fatalf("HTTPStatus(%s) = %d, want %d", c.code, got, c.want)
			}
		})
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{"": "", "label": "label", "expiresAt": "expires_at",
		"creditQuotaCents": "credit_quota_cents", "ipAllowlist": "ip_allowlist"} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}
