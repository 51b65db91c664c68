package graphqltest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/gateway/run"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/controlplane/restapi"
)

// restReply is one answer of the REST face.
type restReply struct {
	Status int
	Body   map[string]any
	Raw    []byte
}

func (r restReply) code() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// rest sends one REST request; body is JSON-encoded unless it is a string
// (sent as is). The answer is checked against the OpenAPI document.
func (s *server) rest(t testing.TB, token, method, path string, body any) restReply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := restReply{Status: resp.StatusCode, Raw: raw}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		t.Fatalf("%s %s: status %d, not a JSON object: %s", method, path, resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	var anyBody any
	_ = json.Unmarshal(raw, &anyBody)
	collectSecrets(s.secrets, "response", anyBody)
	checkAgainstDocument(t, method, path, resp.StatusCode, anyBody)
	return r
}

// wantREST sends a request that must answer status (and, for an error,
// code), and returns the answer.
func (s *server) wantREST(t testing.TB, status int, code, token, method, path string, body any) restReply {
	t.Helper()
	r := s.rest(t, token, method, path, body)
	if r.Status != status || r.code() != code {
		t.Fatalf("%s %s: got %d %s, want %d %s: %s", method, path, r.Status, r.code(), status, code, r.Raw)
	}
	if code != "" {
		if msg, _ := dig(t, r.Body, "error", "message").(string); msg == "" {
			t.Fatalf("%s %s: error without a message: %s", method, path, r.Raw)
		}
	}
	return r
}

// openAPI is the served document, decoded once per test binary.
var openAPI map[string]any

// checkAgainstDocument validates an answer field by field against the
// schema the OpenAPI document gives for its operation and status: the
// document and the handlers must agree.
func checkAgainstDocument(t testing.TB, method, path string, status int, body any) {
	t.Helper()
	if openAPI == nil {
		if err := json.Unmarshal(restapi.OpenAPIDocument(), &openAPI); err != nil {
			t.Fatal(err)
		}
	}
	p, _, _ := strings.Cut(path, "?")
	tmpl := p
	if strings.HasPrefix(p, "/api/v1/keys/") {
		tmpl = "/api/v1/keys/{id}"
	}
	ops, _ := openAPI["paths"].(map[string]any)[tmpl].(map[string]any)
	op, _ := ops[strings.ToLower(method)].(map[string]any)
	if op == nil && status == http.StatusNotFound {
		// An unknown endpoint: the error shape still holds.
		if err := validate(map[string]any{"$ref": "#/components/schemas/Error"}, body, "$"); err != nil {
			t.Errorf("%s %s: %v", method, path, err)
		}
		return
	}
	if op == nil {
		t.Errorf("%s %s (%s): not in the OpenAPI document", method, path, tmpl)
		return
	}
	resp, _ := op["responses"].(map[string]any)[fmt.Sprint(status)].(map[string]any)
	if resp == nil {
		t.Errorf("%s %s: status %d is not documented", method, tmpl, status)
		return
	}
	schema := dig(t, resp, "content", "application/json", "schema")
	if err := validate(schema, body, "$"); err != nil {
		t.Errorf("%s %s %d: the answer does not match the document: %v", method, tmpl, status, err)
	}
}

// validate checks v against the subset of JSON Schema the document uses:
// $ref, type (or a list of types), required, properties,
// additionalProperties false, items and enum.
func validate(schema any, v any, at string) error {
	s, _ := schema.(map[string]any)
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		return validate(openAPI["components"].(map[string]any)["schemas"].(map[string]any)[name], v, at)
	}
	var types []string
	switch ty := s["type"].(type) {
	case string:
		types = []string{ty}
	case []any:
		for _, x := range ty {
			types = append(types, x.(string))
		}
	}
	got := "null"
	switch x := v.(type) {
	case string:
		got = "string"
	case bool:
		got = "boolean"
	case float64:
		got = "number"
		if x == float64(int64(x)) {
			got = "integer"
		}
	case []any:
		got = "array"
	case map[string]any:
		got = "object"
	}
	if len(types) > 0 && !slices.Contains(types, got) && !(got == "integer" && slices.Contains(types, "number")) {
		return fmt.Errorf("%s: a JSON %s, the document says %v", at, got, types)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := x[r.(string)]; !ok {
				return fmt.Errorf("%s: required %q missing", at, r)
			}
		}
		for k, xv := range x {
			ps, ok := props[k]
			if !ok {
				if s["additionalProperties"] == false {
					return fmt.Errorf("%s: %q is not in the document", at, k)
				}
				continue
			}
			if err := validate(ps, xv, at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, xv := range x {
			if err := validate(s["items"], xv, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestRESTKeys drives every endpoint of /api/v1 the way a CI script would,
// and attacks its tenancy, authentication and input checks.
func TestRESTKeys(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("rest-owner")+"@a.test")
		ws := s.createWorkspace(t, owner.Token, "A")
		other := s.signUp(t, s.unique("rest-other")+"@b.test")
		otherWS := s.createWorkspace(t, other.Token, "B")
		otherKey, _ := s.createKey(t, other.Token, otherWS, "theirs")
		keysOf := func(ws string) string { return "/api/v1/keys?workspace_id=" + ws }

		t.Run("document", func(t *testing.T) {
			r := s.rest(t, "", "GET", restapi.OpenAPIPath, nil)
			if r.Status != 200 || r.Body["openapi"] != "3.1.0" {
				t.Fatalf("openapi.json: %d %s", r.Status, r.Raw)
			}
			s.wantREST(t, 404, "NOT_FOUND", owner.Token, "GET", "/api/v1/nothing-here", nil)
		})

		var id, secret string
		t.Run("create", func(t *testing.T) {
			r := s.wantREST(t, 201, "", owner.Token, "POST", keysOf(ws), map[string]any{
				"label": "ci-deploy", "duration_hours": 24, "max_requests": 100, "allowed_models": []string{"gpt-4o-mini"},
				"ip_allowlist": []string{"10.0.0.1"}, "rpm": 60, "credit_quota_cents": 500,
			})
			secret, id = str(t, r.Body, "secret"), str(t, r.Body, "key", "id")
			if !strings.HasPrefix(secret, "sk-oais-") || str(t, r.Body, "key", "status") != "ACTIVE" {
				t.Fatalf("created: %s", r.Raw)
			}
			if got := dig(t, r.Body, "key", "ip_allowlist"); fmt.Sprint(got) != "[10.0.0.1/32]" {
				t.Fatalf("ip_allowlist %v, want the normalised CIDR", got)
			}
			exp, err := time.Parse(time.RFC3339, str(t, r.Body, "key", "expires_at"))
			if err != nil || exp.Before(time.Now().Add(23*time.Hour)) || exp.After(time.Now().Add(25*time.Hour)) {
				t.Fatalf("expires_at %v, want about 24 h from now", exp)
			}
			// The secret is in that answer only.
			got := s.wantREST(t, 200, "", owner.Token, "GET", "/api/v1/keys/"+id, nil)
			if bytes.Contains(got.Raw, []byte(secret)) || str(t, got.Body, "masked_key") == "" {
				t.Fatalf("GET shows the secret or no mask: %s", got.Raw)
			}
		})

		t.Run("list pages with cursors", func(t *testing.T) {
			for i := range 4 {
				s.wantREST(t, 201, "", owner.Token, "POST", keysOf(ws), map[string]any{"label": fmt.Sprintf("page-%d", i)})
			}
			var seen []string
			after := ""
			for page := 0; ; page++ {
				r := s.wantREST(t, 200, "", owner.Token, "GET", keysOf(ws)+"&limit=2"+after, nil)
				for _, k := range list(t, r.Body, "data") {
					seen = append(seen, str(t, k, "id"))
				}
				if r.Body["has_more"] != true {
					if r.Body["next_cursor"] != nil {
						t.Fatalf("last page has a cursor: %s", r.Raw)
					}
					break
				}
				after = "&after=" + str(t, r.Body, "next_cursor")
				if page > 5 {
					t.Fatal("paging does not end")
				}
			}
			if len(seen) != 5 || !slices.IsSorted(seen) || !contains(seen, id) {
				t.Fatalf("pages gave %v, want the 5 keys once each, in order", seen)
			}
			if contains(seen, otherKey) {
				t.Fatal("another workspace's key is listed")
			}
		})

		t.Run("cross-tenant is 404", func(t *testing.T) {
			for _, c := range []struct{ method, path string }{
				{"GET", "/api/v1/keys/" + otherKey},
				{"PATCH", "/api/v1/keys/" + otherKey},
				{"DELETE", "/api/v1/keys/" + otherKey},
				{"GET", keysOf(otherWS)},
				{"POST", keysOf(otherWS)},
				{"GET", "/api/v1/keys/key_01JAAAAAAAAAAAAAAAAAAAAAAA"},
			} {
				var body any
				switch c.method {
				case "PATCH":
					body = map[string]any{"label": "mine now", "status": "REVOKED"}
				case "POST":
					body = map[string]any{"label": "mine now"}
				}
				r := s.wantREST(t, 404, "NOT_FOUND", owner.Token, c.method, c.path, body)
				if bytes.Contains(r.Raw, []byte("theirs")) || bytes.Contains(r.Raw, []byte(otherWS)) {
					t.Fatalf("%s %s: the 404 tells about the other workspace: %s", c.method, c.path, r.Raw)
				}
			}
			// Nothing changed there.
			k := s.key(t, other.Token, otherKey)
			if k["label"] != "theirs" || k["status"] != "ACTIVE" {
				t.Fatalf("the other workspace's key changed: %v", k)
			}
		})

		t.Run("no or bad token is 401", func(t *testing.T) {
			for _, token := range []string{"", "not-a-jwt", owner.Token + "x", "oais_st_nothing"} {
				for _, c := range []struct{ method, path string }{
					{"GET", keysOf(ws)}, {"POST", keysOf(ws)}, {"GET", "/api/v1/keys/" + id},
					{"PATCH", "/api/v1/keys/" + id}, {"DELETE", "/api/v1/keys/" + id},
				} {
					s.wantREST(t, 401, "UNAUTHENTICATED", token, c.method, c.path, map[string]any{"label": "x"})
				}
			}
		})

		t.Run("bad input is 400 with what to do", func(t *testing.T) {
			for _, c := range []struct {
				name, method, path string
				body               any
				field, says        string
			}{
				{"no workspace", "GET", "/api/v1/keys", nil, "workspace_id", "workspace_id is required"},
				{"bad limit", "GET", keysOf(ws) + "&limit=100000", nil, "limit", "from 1 to 500"},
				{"bad cursor", "GET", keysOf(ws) + "&after=zzz", nil, "after", "next_cursor"},
				{"no body", "POST", keysOf(ws), "", "body", "JSON object"},
				{"not JSON", "POST", keysOf(ws), "{label", "body", "not valid JSON"},
				{"no label", "POST", keysOf(ws), map[string]any{"label": " "}, "label", "label is required"},
				{"unknown field", "POST", keysOf(ws), map[string]any{"label": "x", "lable": "y"}, "lable", "unknown field"},
				{"wrong type", "POST", keysOf(ws), map[string]any{"label": "x", "rpm": "sixty"}, "rpm", "whole number"},
				{"both expiries", "POST", keysOf(ws), map[string]any{"label": "x", "duration_hours": 2, "expires_at": "2099-01-01T00:00:00Z"}, "duration_hours", "not both"},
				{"past expiry", "PATCH", "/api/v1/keys/" + id, map[string]any{"expires_at": "2001-01-01T00:00:00Z"}, "expires_at", "future"},
				{"bad time", "PATCH", "/api/v1/keys/" + id, map[string]any{"expires_at": "tomorrow"}, "", "RFC 3339"},
				{"bad CIDR", "PATCH", "/api/v1/keys/" + id, map[string]any{"ip_allowlist": []string{"10.0.0.0/33"}}, "ip_allowlist", "CIDR"},
				{"negative", "PATCH", "/api/v1/keys/" + id, map[string]any{"max_requests": -1}, "max_requests", "0 (unlimited)"},
				{"null label", "PATCH", "/api/v1/keys/" + id, map[string]any{"label": nil}, "label", "cannot be null"},
				{"bad status", "PATCH", "/api/v1/keys/" + id, map[string]any{"status": "EXPIRED"}, "status", "expired key stays expired"},
				{"unknown patch field", "PATCH", "/api/v1/keys/" + id, map[string]any{"secret": "x"}, "secret", "unknown field"},
			} {
				t.Run(c.name, func(t *testing.T) {
					r := s.wantREST(t, 400, "BAD_USER_INPUT", owner.Token, c.method, c.path, c.body)
					if f, _ := dig(t, r.Body, "error").(map[string]any)["field"].(string); c.field != "" && f != c.field {
						t.Errorf("field %q, want %q", f, c.field)
					}
					if !strings.Contains(str(t, r.Body, "error", "message"), c.says) {
						t.Errorf("message %q does not say %q", str(t, r.Body, "error", "message"), c.says)
					}
				})
			}
			big := `{"label":"` + strings.Repeat("x", restapi.MaxBody) + `"}`
			s.wantREST(t, 413, "BAD_USER_INPUT", owner.Token, "POST", keysOf(ws), big)
			s.wantREST(t, 413, "BAD_USER_INPUT", owner.Token, "PATCH", "/api/v1/keys/"+id, big)
		})

		t.Run("patch, revoke and re-activate", func(t *testing.T) {
			r := s.wantREST(t, 200, "", owner.Token, "PATCH", "/api/v1/keys/"+id, map[string]any{
				"label": "ci-deploy-2", "rpm": nil, "allowed_models": nil, "ip_allowlist": nil, "credit_quota_cents": 900, "cache_enabled": true})
			if str(t, r.Body, "label") != "ci-deploy-2" || r.Body["rpm"] != nil || len(list(t, r.Body, "allowed_models")) != 0 ||
				r.Body["credit_quota_cents"] != float64(900) || r.Body["cache_enabled"] != true {
				t.Fatalf("patched: %s", r.Raw)
			}
			for _, step := range []struct{ set, want string }{
				{"DISABLED", "DISABLED"}, {"ACTIVE", "ACTIVE"}, {"REVOKED", "REVOKED"}, {"ACTIVE", "ACTIVE"},
			} {
				r := s.wantREST(t, 200, "", owner.Token, "PATCH", "/api/v1/keys/"+id, map[string]any{"status": step.set})
				if got := str(t, r.Body, "status"); got != step.want {
					t.Fatalf("status %s: got %s", step.set, got)
				}
				// GraphQL sees the same key.
				if got := s.key(t, owner.Token, id)["status"]; got != step.want {
					t.Fatalf("GraphQL says %v after PATCH %s", got, step.set)
				}
			}
			r = s.wantREST(t, 200, "", owner.Token, "PATCH", "/api/v1/keys/"+id, map[string]any{"expires_at": nil})
			if r.Body["expires_at"] != nil {
				t.Fatalf("expires_at: null did not clear it: %s", r.Raw)
			}
			// The audit log has GraphQL's lines for each change, naming the owner.
			got := s.auditActions(t, owner.Token, ws)
			for _, action := range []string{"key.created", "key.updated", "key.disabled", "key.enabled", "key.revoked", "key.reactivated"} {
				if !contains(got[action], id) {
					t.Errorf("no %s audit line for the key: %v", action, got)
				}
			}
		})

		t.Run("expired stays expired", func(t *testing.T) {
			r := s.wantREST(t, 201, "", owner.Token, "POST", keysOf(ws), map[string]any{"label": "short-lived", "duration_hours": 1})
			exp := str(t, r.Body, "key", "id")
			s.cp.Store.Ent.APIKey.UpdateOneID(exp).SetExpiresAt(time.Now().Add(-time.Minute)).ExecX(sys(t))
			if got := str(t, s.wantREST(t, 200, "", owner.Token, "GET", "/api/v1/keys/"+exp, nil).Body, "status"); got != "EXPIRED" {
				t.Fatalf("status %s, want EXPIRED", got)
			}
			s.wantREST(t, 409, "KEY_EXPIRED", owner.Token, "PATCH", "/api/v1/keys/"+exp, map[string]any{"status": "ACTIVE"})
			s.wantREST(t, 409, "KEY_EXPIRED", owner.Token, "PATCH", "/api/v1/keys/"+exp, map[string]any{"expires_at": nil})
			// GraphQL answers the same code.
			s.wantCode(t, "KEY_EXPIRED", owner.Token, `mutation($id: ID!) { updateAPIKey(id: $id, input: {status: ACTIVE}) { id } }`, map[string]any{"id": exp})
		})

		t.Run("roles and service tokens", func(t *testing.T) {
			dev := s.signUp(t, s.unique("rest-dev")+"@a.test")
			s.addMember(t, owner.Token, ws, dev, "VIEWER")
			s.wantREST(t, 200, "", dev.Token, "GET", "/api/v1/keys/"+id, nil)
			s.wantREST(t, 403, "FORBIDDEN", dev.Token, "POST", keysOf(ws), map[string]any{"label": "nope"})
			s.wantREST(t, 403, "FORBIDDEN", dev.Token, "DELETE", "/api/v1/keys/"+id, nil)

			_, tok := s.serviceToken(t, owner.Token, ws, "ADMIN")
			r := s.wantREST(t, 201, "", tok, "POST", keysOf(ws), map[string]any{"label": "from-a-token"})
			s.wantREST(t, 200, "", tok, "GET", "/api/v1/keys/"+str(t, r.Body, "key", "id"), nil)
			// A token acts in its one workspace only, even one its creator owns.
			mine := s.createWorkspace(t, owner.Token, "A2")
			s.wantREST(t, 404, "NOT_FOUND", tok, "GET", keysOf(mine), nil)
		})

		t.Run("a workspace requiring MFA answers MFA_REQUIRED, as GraphQL does", func(t *testing.T) {
			boss := s.signUp(t, s.unique("rest-mfa-owner")+"@a.test")
			strict := s.createWorkspace(t, boss.Token, "strict")
			member := s.signUp(t, s.unique("rest-mfa-member")+"@a.test")
			s.addMember(t, boss.Token, strict, member, "DEVELOPER")
			r := s.wantREST(t, 201, "", member.Token, "POST", keysOf(strict), map[string]any{"label": "before"})
			keyID := str(t, r.Body, "key", "id")
			s.enrol(t, boss)
			s.must(t, boss.Token, `mutation($id: ID!) { setWorkspaceRequireMFA(workspaceID: $id, required: true) { id } }`, map[string]any{"id": strict})
			member = s.signIn(t, member.Email, member.Password)
			s.wantREST(t, 403, "MFA_REQUIRED", member.Token, "GET", keysOf(strict), nil)
			s.wantREST(t, 403, "MFA_REQUIRED", member.Token, "POST", keysOf(strict), map[string]any{"label": "x"})
			s.wantREST(t, 403, "MFA_REQUIRED", member.Token, "GET", "/api/v1/keys/"+keyID, nil)
			s.wantREST(t, 403, "MFA_REQUIRED", member.Token, "PATCH", "/api/v1/keys/"+keyID, map[string]any{"status": "REVOKED"})
			s.wantREST(t, 403, "MFA_REQUIRED", member.Token, "DELETE", "/api/v1/keys/"+keyID, nil)
			s.enrol(t, member)
			s.wantREST(t, 200, "", member.Token, "GET", "/api/v1/keys/"+keyID, nil)
		})

		t.Run("inactive workspace and key limit", func(t *testing.T) {
			ws2 := s.createWorkspace(t, owner.Token, "C")
			s.must(t, owner.Token, `mutation($ws: ID!) { setWorkspaceActive(workspaceID: $ws, active: false) { id } }`, map[string]any{"ws": ws2})
			r := s.wantREST(t, 409, "WORKSPACE_INACTIVE", owner.Token, "POST", keysOf(ws2), map[string]any{"label": "x"})
			if str(t, r.Body, "error", "message") != "Cannot generate tokens for inactive workspace" {
				t.Fatalf("message: %s", r.Raw)
			}
			ws3 := s.createWorkspace(t, owner.Token, "D")
			s.cp.Store.Ent.Workspace.UpdateOneID(ws3).SetMaxKeys(1).ExecX(sys(t))
			s.wantREST(t, 201, "", owner.Token, "POST", keysOf(ws3), map[string]any{"label": "one"})
			s.wantREST(t, 409, "KEY_LIMIT_REACHED", owner.Token, "POST", keysOf(ws3), map[string]any{"label": "two"})
		})

		t.Run("delete, then the gateway answers 401", func(t *testing.T) {
			gw := openGatewayOn(t, dbURL)
			chat := func() (int, string) { return gw.chat(t, secret) }
			eventually(t, 30*time.Second, "the key serves", func() bool { st, _ := chat(); return st == 200 })
			r := s.wantREST(t, 200, "", owner.Token, "DELETE", "/api/v1/keys/"+id, nil)
			if r.Body["id"] != id || r.Body["deleted"] != true {
				t.Fatalf("delete: %s", r.Raw)
			}
			eventually(t, 30*time.Second, "the gateway refuses the deleted key", func() bool {
				st, code := chat()
				return st == 401 && code == "invalid_api_key"
			})
			s.wantREST(t, 404, "NOT_FOUND", owner.Token, "GET", "/api/v1/keys/"+id, nil)
			s.wantREST(t, 404, "NOT_FOUND", owner.Token, "DELETE", "/api/v1/keys/"+id, nil)
			if contains(s.auditActions(t, owner.Token, ws)["key.deleted"], id) == false {
				t.Fatal("no key.deleted audit line")
			}
		})
	})
}

// restGateway is a gateway on the control plane's database.
type restGateway struct{ url string }

// openGatewayOn starts a gateway (built-in mock upstream) on dbURL.
func openGatewayOn(t *testing.T, dbURL string) restGateway {
	t.Helper()
	cfg, err := run.Load(config.Map(map[string]string{
		"OAIS_DATABASE_URL":  dbURL,
		"OAIS_SPOOL_DIR":     t.TempDir(),
		"OAIS_GATEWAY_ADDR":  "127.0.0.1:0",
		"OAIS_SECRETS_KEY":   harnessSecretsKey,
		"OAIS_DRAIN_TIMEOUT": "1s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g, err := run.Open(ctx, cfg, config.Logger(io.Discard, "text", "error"))
	if err != nil {
		t.Fatalf("open gateway: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Serve, as the binary does: it also follows key changes.
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		<-done
		_ = g.Close()
	})
	return restGateway{url: "http://" + ln.Addr().String()}
}

// chat sends one chat completion with secret and returns the status and
// the OpenAI error code, if any.
func (g restGateway) chat(t *testing.T, secret string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", g.url+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error.Code
}
