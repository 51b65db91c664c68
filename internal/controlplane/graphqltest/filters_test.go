package graphqltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/ent/usageevent"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

// The where filters are an oracle as much as a feature: ent's edge
// predicates (hasXWith) are raw EXISTS subqueries that privacy rules never
// see, so a filter that reaches another table can ask yes/no questions about
// rows of another tenant (issue 15). These tests read the filters from the
// schema itself, so a new one is attacked the day it appears.

// typeRef is an introspected type reference (NON_NULL and LIST wrap a named type).
type typeRef struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	OfType *typeRef `json:"ofType"`
}

func (r typeRef) named() string {
	for r.Name == "" && r.OfType != nil {
		r = *r.OfType
	}
	return r.Name
}

func (r typeRef) isList() bool {
	for ; ; r = *r.OfType {
		if r.Kind == "LIST" {
			return true
		}
		if r.OfType == nil {
			return false
		}
	}
}

type inputValue struct {
	Name string  `json:"name"`
	Type typeRef `json:"type"`
}

type schemaField struct {
	Name string       `json:"name"`
	Type typeRef      `json:"type"`
	Args []inputValue `json:"args"`
}

type schemaType struct {
	Name        string        `json:"name"`
	Kind        string        `json:"kind"`
	Fields      []schemaField `json:"fields"`
	InputFields []inputValue  `json:"inputFields"`
}

func (t *schemaType) field(name string) *schemaField {
	for i := range t.Fields {
		if t.Fields[i].Name == name {
			return &t.Fields[i]
		}
	}
	return nil
}

func (t *schemaType) input(name string) *inputValue {
	for i := range t.InputFields {
		if t.InputFields[i].Name == name {
			return &t.InputFields[i]
		}
	}
	return nil
}

const typeRefFields = `kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }`

// introspect returns every type of the served schema by name.
func introspect(t *testing.T, s *server) (types map[string]*schemaType, queryType string) {
	t.Helper()
	r := s.post(t, "", `{ __schema { queryType { name } types { name kind
		fields { name type { `+typeRefFields+` } args { name type { `+typeRefFields+` } } }
		inputFields { name type { `+typeRefFields+` } } } } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("introspection: %s", r.Body)
	}
	var decoded struct {
		Data struct {
			Schema struct {
				QueryType struct{ Name string } `json:"queryType"`
				Types     []*schemaType         `json:"types"`
			} `json:"__schema"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &decoded); err != nil {
		t.Fatal(err)
	}
	types = map[string]*schemaType{}
	for _, ty := range decoded.Data.Schema.Types {
		types[ty.Name] = ty
	}
	return types, decoded.Data.Schema.QueryType.Name
}

// filterRoot is a field that takes a where filter: Query.workspaces,
// Workspace.apiKeys, …
type filterRoot struct {
	owner, field, arg, input string
}

func (r filterRoot) String() string { return r.owner + "." + r.field + "(" + r.arg + ")" }

// edgePredicate is a filter field that names rows of another table: a
// nested filter (hasUserWith) or an existence test (hasUser).
type edgePredicate struct {
	input, field, target string // target: the nested filter's input type; "" for an existence test
	list                 bool
}

func (e edgePredicate) String() string { return e.input + "." + e.field }

// filterGraph is every filter the schema exposes, read by introspection.
type filterGraph struct {
	types     map[string]*schemaType
	queryType string
	roots     []filterRoot
	inputs    map[string]bool // filter input types reachable from a root
	edges     []edgePredicate
	fields    map[string][]string // input type -> its predicates on the row's own columns
}

// isFilterInput tells a where filter's input type from other inputs: it
// nests itself through and/or/not, as every ent WhereInput does.
func isFilterInput(ty *schemaType) bool {
	return ty != nil && ty.Kind == "INPUT_OBJECT" && ty.input("not") != nil && ty.input("not").Type.named() == ty.Name
}

func readFilters(t *testing.T, s *server) *filterGraph {
	t.Helper()
	g := &filterGraph{inputs: map[string]bool{}, fields: map[string][]string{}}
	g.types, g.queryType = introspect(t, s)
	var queue []string
	for _, ty := range g.types {
		if ty.Kind != "OBJECT" || strings.HasPrefix(ty.Name, "__") {
			continue
		}
		for _, f := range ty.Fields {
			for _, a := range f.Args {
				if in := g.types[a.Type.named()]; isFilterInput(in) {
					g.roots = append(g.roots, filterRoot{owner: ty.Name, field: f.Name, arg: a.Name, input: in.Name})
					queue = append(queue, in.Name)
				}
			}
		}
	}
	sort.Slice(g.roots, func(i, j int) bool { return g.roots[i].String() < g.roots[j].String() })
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if g.inputs[name] {
			continue
		}
		g.inputs[name] = true
		in := g.types[name]
		node := g.types[strings.TrimSuffix(name, "WhereInput")]
		for _, f := range in.InputFields {
			target := f.Type.named()
			switch {
			case target == name && (f.Name == "and" || f.Name == "or" || f.Name == "not"):
			case g.types[target] != nil && g.types[target].Kind == "INPUT_OBJECT":
				g.edges = append(g.edges, edgePredicate{input: name, field: f.Name, target: target, list: f.Type.isList()})
				queue = append(queue, target)
			case target == "Boolean" && isEdgeName(g.types, node, f.Name):
				g.edges = append(g.edges, edgePredicate{input: name, field: f.Name})
			default:
				g.fields[name] = append(g.fields[name], f.Name)
			}
		}
	}
	return g
}

// isEdgeName reports whether a Boolean filter field is ent's existence
// test of an edge: has<Edge>, for a field of the node that returns a row.
func isEdgeName(types map[string]*schemaType, node *schemaType, name string) bool {
	if node == nil || !strings.HasPrefix(name, "has") {
		return false
	}
	for _, f := range node.Fields {
		if k := types[f.Type.named()]; k != nil && (k.Kind == "OBJECT" || k.Kind == "INTERFACE") && strings.EqualFold("has"+f.Name, name) {
			return true
		}
	}
	return false
}

// path returns the shortest chain of edge predicates from the filter type
// from to the filter type to, and whether there is one.
func (g *filterGraph) path(from, to string) ([]edgePredicate, bool) {
	prev := map[string]edgePredicate{}
	seen := map[string]bool{from: true}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var out []edgePredicate
			for cur != from {
				e := prev[cur]
				out = append([]edgePredicate{e}, out...)
				cur = e.input
			}
			return out, true
		}
		for _, e := range g.edges {
			if e.input == cur && e.target != "" && !seen[e.target] {
				seen[e.target] = true
				prev[e.target] = e
				queue = append(queue, e.target)
			}
		}
	}
	return nil, false
}

// nest wraps inner in the chain of edge predicates, outermost first.
func nest(chain []edgePredicate, inner map[string]any) map[string]any {
	v := inner
	for i := len(chain) - 1; i >= 0; i-- {
		if chain[i].list {
			v = map[string]any{chain[i].field: []any{v}}
		} else {
			v = map[string]any{chain[i].field: v}
		}
	}
	return v
}

// tenants is two tenants sharing one person: the victim's workspace has a
// name worth guessing, keys, members, audit lines and usage; the attacker
// signed up on their own (self-service) and invited an existing user, who
// is also a member of the victim's workspace, into theirs.
type tenants struct {
	attacker   *user
	attackerWS string
	secretName string
	// victim holds ids of the victim tenant's rows by GraphQL type; start
	// holds one row of each type the attacker may read, for node(id:).
	victim map[string][]string
	start  map[string]string
}

func newTenants(t *testing.T, s *server) *tenants {
	t.Helper()
	tn := &tenants{secretName: s.unique("secret-acme-"), victim: map[string][]string{}, start: map[string]string{}}
	victim := s.signUp(t, s.unique("victim")+"@acme.test")
	shared := s.signUp(t, s.unique("shared")+"@acme.test")
	victimWS := s.createWorkspace(t, victim.Token, tn.secretName)
	s.addMember(t, victim.Token, victimWS, shared, "DEVELOPER")
	victimKey, _ := s.createKey(t, victim.Token, victimWS, s.unique("acme-prod-"))
	sharedKey, _ := s.createKey(t, shared.Token, victimWS, s.unique("acme-ci-"))

	tn.attacker = s.signUp(t, s.unique("attacker")+"@evil.test")
	tn.attackerWS = s.createWorkspace(t, tn.attacker.Token, "attacker")
	s.addMember(t, tn.attacker.Token, tn.attackerWS, shared, "VIEWER")
	attackerKey, _ := s.createKey(t, tn.attacker.Token, tn.attackerWS, "mine")

	rows := func(token, ws string) (mems, audits []string) {
		d := s.must(t, token, `query($id: ID!) { workspace(id: $id) {
			memberships(first: 100) { edges { node { id } } }
			auditEvents(first: 100) { edges { node { id } } } } }`, map[string]any{"id": ws})
		return nodeIDs(t, dig(t, d, "workspace", "memberships")), nodeIDs(t, dig(t, d, "workspace", "auditEvents"))
	}
	vm, va := rows(victim.Token, victimWS)
	am, aa := rows(tn.attacker.Token, tn.attackerWS)
	tn.victim = map[string][]string{
		"Workspace":  {victimWS},
		"Membership": vm,
		"User":       {victim.ID},
		"APIKey":     {victimKey, sharedKey},
		"AuditEvent": va,
		"UsageEvent": {shipUsage(t, s, victimWS, victimKey)},
	}
	tn.start = map[string]string{
		"Workspace":  tn.attackerWS,
		"Membership": am[0],
		"User":       tn.attacker.ID,
		"APIKey":     attackerKey,
		"AuditEvent": aa[0],
		"UsageEvent": shipUsage(t, s, tn.attackerWS, attackerKey),
	}
	return tn
}

// shipUsage records one answered request of key through the ledger and
// returns its usage event's id.
func shipUsage(t *testing.T, s *server, ws, key string) string {
	t.Helper()
	reqID := ids.New("req")
	err := ledger.New(s.cp.Store).Ship(sys(t), []usage.Record{{
		RequestID: reqID, WorkspaceID: ws, KeyID: key, Model: "mock-gpt", Endpoint: "/v1/chat/completions",
		Status: 200, Source: usage.SourceUpstream, PromptTokens: 3, CompletionTokens: 2, CostMicros: 7, Time: time.Now().Add(-time.Minute),
	}})
	if err != nil {
		t.Fatalf("ship usage: %v", err)
	}
	ue, err := s.cp.Store.Ent.UsageEvent.Query().Where(usageevent.RequestID(reqID)).Only(sys(t))
	if err != nil {
		t.Fatal(err)
	}
	return ue.ID
}

// probe is one filtered read through root, as the attacker.
func (g *filterGraph) probe(t *testing.T, s *server, tn *tenants, root filterRoot, where map[string]any) (reply, bool) {
	t.Helper()
	owner := g.types[root.owner]
	out := g.types[owner.field(root.field).Type.named()]
	sel := "__typename"
	switch {
	case out.field("totalCount") != nil:
		sel = "totalCount"
	case out.field("id") != nil:
		sel = "id"
	}
	call := fmt.Sprintf("%s(%s: $w) { %s }", root.field, root.arg, sel)
	vars := map[string]any{"w": where}
	var q string
	if root.owner == g.queryType {
		q = fmt.Sprintf("query($w: %s) { %s }", root.input, call)
	} else {
		id, ok := tn.start[root.owner]
		if !ok {
			t.Errorf("%s: the attacker has no %s to reach it through node(id:): add one to newTenants", root, root.owner)
			return reply{}, false
		}
		vars["id"] = id
		q = fmt.Sprintf("query($id: ID!, $w: %s) { node(id: $id) { ... on %s { %s } } }", root.input, root.owner, call)
	}
	return s.post(t, tn.attacker.Token, q, vars), true
}

// TestFiltersCannotReachOtherTenants reads every where filter from the
// served schema and attacks each predicate that names rows of another
// table: asked about a real row of another tenant and about a made-up one,
// the filter must answer the same, byte for byte. A filter field the test
// cannot classify fails it, so a new edge predicate is attacked, or
// refused, the day it appears.
func TestFiltersCannotReachOtherTenants(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		tn := newTenants(t, s)
		g := readFilters(t, s)

		t.Run("the schema's filters are found", func(t *testing.T) {
			// Not vacuous: the filters the dashboard and the matrix use are there.
			var roots []string
			for _, r := range g.roots {
				roots = append(roots, r.String())
			}
			for _, want := range []string{"Query.workspaces(where)", "Workspace.apiKeys(where)", "Workspace.auditEvents(where)",
				"Workspace.memberships(where)", "Workspace.usageEvents(where)"} {
				if !slices.Contains(roots, want) {
					t.Errorf("no filter at %s; found %v", want, roots)
				}
			}
			for _, f := range []string{"action", "actorEmailContainsFold"} { // web/src/pages/AuditPage.tsx
				if !slices.Contains(g.fields["AuditEventWhereInput"], f) {
					t.Errorf("AuditEventWhereInput lost %s, which the dashboard filters by", f)
				}
			}
		})

		t.Run("the reported attack", func(t *testing.T) {
			q := `query($p: String!) { workspaces(where: {hasMembershipsWith: [{hasUserWith: [{hasMembershipsWith: [{hasWorkspaceWith: [{nameHasPrefix: $p}]}]}]}]}) { totalCount } }`
			real := s.post(t, tn.attacker.Token, q, map[string]any{"p": tn.secretName})
			fake := s.post(t, tn.attacker.Token, q, map[string]any{"p": "secret-umbrella-"})
			if !bytes.Equal(real.Body, fake.Body) {
				t.Errorf("the other tenant's workspace name answers differently from a made-up one:\nreal: %s\nmade-up: %s", real.Body, fake.Body)
			}
		})

		t.Run("every edge predicate", func(t *testing.T) {
			for _, e := range g.edges {
				t.Run(e.String(), func(t *testing.T) {
					if e.target == "" {
						t.Fatalf("%s tests whether a row of another table exists, a subquery no privacy rule filters: "+
							"leave it out of the schema (ent/entc.go), or teach this test an oracle for it", e)
					}
					attackEdge(t, s, tn, g, e)
				})
			}
		})
		t.Logf("FIGURE %d filter roots, %d filter types, %d edge predicates", len(g.roots), len(g.inputs), len(g.edges))
	})
}

// attackEdge asks, from every root that reaches e, whether e leads to each
// row of the victim's of e's target type, and to a made-up row instead.
func attackEdge(t *testing.T, s *server, tn *tenants, g *filterGraph, e edgePredicate) {
	t.Helper()
	if g.types[e.target].input("id") == nil {
		t.Fatalf("%s: %s has no id predicate to probe with; teach this test another", e, e.target)
	}
	node := strings.TrimSuffix(e.target, "WhereInput")
	victims := tn.victim[node]
	if len(victims) == 0 {
		t.Fatalf("%s: the victim has no %s to ask about: add one to newTenants", e, node)
	}
	probes := 0
	for _, root := range g.roots {
		chain, ok := g.path(root.input, e.input)
		if !ok {
			continue
		}
		chain = append(chain, e)
		for _, id := range victims {
			fakeID, _ := ghost(id)
			real, ok := g.probe(t, s, tn, root, nest(chain, map[string]any{"id": id}))
			if !ok {
				continue
			}
			fake, _ := g.probe(t, s, tn, root, nest(chain, map[string]any{"id": fakeID}))
			probes++
			if len(real.Errors) > 0 {
				t.Errorf("%s from %s: the probe failed, so it proves nothing: %s", e, root, real.Body)
				continue
			}
			if !bytes.Equal(real.Body, fake.Body) {
				t.Errorf("%s from %s (%v) tells another tenant's %s %s from a made-up one:\nreal:    %s\nmade-up: %s",
					e, root, chain, node, id, real.Body, fake.Body)
			}
		}
	}
	if probes == 0 {
		t.Errorf("%s: no filter root reaches it, so it was not attacked", e)
	}
}
