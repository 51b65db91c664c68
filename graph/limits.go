package graph

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Bounds on a single GraphQL operation, so no query is too deep or too
// expensive for one request (complexity is limited separately by gqlgen's
// FixedComplexityLimit; aliases count toward it).
const (
	MaxDepth      = 12
	MaxComplexity = 2000
	// MaxRootFields bounds aliases of root fields (e.g. 100 × signIn in one request).
	MaxRootFields = 20
	// MaxCost bounds the objects one operation may return, counting a
	// connection's page size (first/last, MaxPage when absent) as a
	// multiplier for everything selected inside it.
	MaxCost = 2_000_000
)

// Bounds on one where filter (any argument of a *WhereInput type): every
// level and condition is SQL the database must plan, and SQLite refuses an
// expression tree deeper than 1000 with an error.
const (
	// MaxWhereDepth bounds nested filter objects: the filter is level 1,
	// each and/or/not inside it one more.
	MaxWhereDepth = 6
	// MaxWhereTerms bounds the conditions of one filter, all levels
	// together (each field set in each object counts one).
	MaxWhereTerms = 200
	// MaxWhereList bounds the items of one list (idIn, or, …).
	MaxWhereList = 100
)

// Limits rejects operations deeper than MaxDepth or with more than
// MaxRootFields root fields, and mutations that mix sign-in operations with
// others (sign-in runs outside the per-mutation transaction).
type Limits struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Limits{}

// ExtensionName names the extension.
func (Limits) ExtensionName() string { return "OaisLimits" }

// Validate does nothing.
func (Limits) Validate(graphql.ExecutableSchema) error { return nil }

// reportLeakedKey runs outside the request's transaction too: it commits the
// revocation even when it answers NOT_FOUND (a stranger holding the secret).
var authFields = map[string]bool{"signIn": true, "signUp": true, "refreshSession": true, "signOut": true, "reportLeakedKey": true}

// AuthFields are the mutations that run outside the per-request transaction.
func AuthFields() []string {
	return []string{"signIn", "signUp", "refreshSession", "signOut", "reportLeakedKey",
		"verifyEmail", "sendVerificationEmail", "requestPasswordReset", "resetPassword", "changePassword",
		"revokeSession", "signOutEverywhere", "enrollTOTP", "confirmTOTP", "disableTOTP"}
}

// ownTxFields run outside the per-request transaction when they are the
// operation's only root field, and open their own once their slow part is
// done: setWorkspaceUpstream and setBillingAlertWebhook resolve a DNS name
// first (internal/workspaces, billing/spendalerts). With other fields they
// run inside it, as every mutation does.
var ownTxFields = []string{"setWorkspaceUpstream", "setBillingAlertWebhook", "createChannel", "updateChannel"}

// SkipTx is entgql.Transactioner's SkipTxFunc: the auth fields, and an
// ownTxFields field alone.
func SkipTx(op *ast.OperationDefinition) bool {
	if entgql.SkipIfHasFields(AuthFields()...)(op) {
		return true
	}
	if len(op.SelectionSet) != 1 {
		return false
	}
	f, ok := op.SelectionSet[0].(*ast.Field)
	return ok && slices.Contains(ownTxFields, f.Name)
}

// MutateOperationContext checks the operation before it runs.
func (Limits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Operation
	if op == nil {
		return nil
	}
	if n := countFields(op.SelectionSet); n > MaxRootFields {
		return gqlerror.Errorf("operation has %d root fields; at most %d are allowed", n, MaxRootFields)
	}
	if d := depth(op.SelectionSet, 0); d > MaxDepth {
		return gqlerror.Errorf("operation is %d levels deep; at most %d are allowed", d, MaxDepth)
	}
	if c := cost(op.SelectionSet, 1, oc.Variables, 0); c > MaxCost {
		return gqlerror.Errorf("operation is too complex: it could return about %d objects; at most %d are allowed (ask for smaller pages)", c, MaxCost)
	}
	if err := checkFilters(op.SelectionSet, oc.Variables, 0); err != nil {
		return err
	}
	if op.Operation == ast.Mutation {
		// Root fields inside fragments count too; an auth field there must be
		// refused, because entgql.SkipIfHasFields sees only plain root fields
		// and would run it inside the transaction.
		var auth, other int
		inFragment := false
		var walk func(ss ast.SelectionSet, top bool)
		walk = func(ss ast.SelectionSet, top bool) {
			for _, s := range ss {
				switch s := s.(type) {
				case *ast.Field:
					if authFields[s.Name] {
						auth++
						inFragment = inFragment || !top
					} else if s.Name != "__typename" {
						other++
					}
				case *ast.InlineFragment:
					walk(s.SelectionSet, false)
				case *ast.FragmentSpread:
					if s.Definition != nil {
						walk(s.Definition.SelectionSet, false)
					}
				}
			}
		}
		walk(op.SelectionSet, true)
		if auth > 0 && (other > 0 || auth > 1 || inFragment) {
			return gqlerror.Errorf("send sign-in mutations (%s) alone, one per request", fmt.Sprint(AuthFields()))
		}
	}
	return nil
}

func countFields(ss ast.SelectionSet) int {
	n := 0
	for _, s := range ss {
		switch s := s.(type) {
		case *ast.Field:
			n++
		case *ast.InlineFragment:
			n += countFields(s.SelectionSet)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				n += countFields(s.Definition.SelectionSet)
			}
		}
	}
	return n
}

func depth(ss ast.SelectionSet, d int) int {
	if d > MaxDepth+1 {
		return d // deep enough to refuse; stop walking (fragment cycles are rejected by validation)
	}
	best := d
	for _, s := range ss {
		var sub ast.SelectionSet
		next := d
		switch s := s.(type) {
		case *ast.Field:
			sub, next = s.SelectionSet, d+1
		case *ast.InlineFragment:
			sub = s.SelectionSet
		case *ast.FragmentSpread:
			if s.Definition != nil {
				sub = s.Definition.SelectionSet
			}
		}
		if x := depth(sub, next); x > best {
			best = x
		}
	}
	return best
}

// cost estimates how many objects an operation can return: every field
// costs its multiplier, and a field with first/last multiplies what is
// below it by that page size (MaxPage when a list field omits it).
func cost(ss ast.SelectionSet, mult int64, vars map[string]any, d int) int64 {
	if d > MaxDepth+1 || mult > MaxCost*10 {
		return mult // already refused; stop early
	}
	var total int64
	for _, s := range ss {
		switch s := s.(type) {
		case *ast.Field:
			total += mult
			next := mult
			if n, ok := pageArg(s, vars); ok {
				next = mult * max(n, 1)
			}
			total += cost(s.SelectionSet, next, vars, d+1)
		case *ast.InlineFragment:
			total += cost(s.SelectionSet, mult, vars, d)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				total += cost(s.Definition.SelectionSet, mult, vars, d)
			}
		}
		if total > MaxCost*10 {
			return total
		}
	}
	return total
}

// pageArg returns a connection field's page size: its first or last
// argument, or MaxPage for a connection asked without one.
func pageArg(f *ast.Field, vars map[string]any) (int64, bool) {
	isConn := f.Definition != nil && f.Definition.Type != nil && len(f.Definition.Type.Name()) > len("Connection") &&
		f.Definition.Type.Name()[len(f.Definition.Type.Name())-len("Connection"):] == "Connection"
	for _, name := range []string{"first", "last"} {
		a := f.Arguments.ForName(name)
		if a == nil || a.Value == nil {
			continue
		}
		v, err := a.Value.Value(vars)
		if err != nil || v == nil {
			continue
		}
		switch n := v.(type) {
		case int64:
			return n, true
		case int:
			return int64(n), true
		case float64:
			return int64(n), true
		}
	}
	if isConn {
		return MaxPage, true
	}
	return 0, false
}

// checkFilters refuses an operation whose where filters exceed
// MaxWhereDepth, MaxWhereTerms or MaxWhereList, wherever they are (inline
// or in variables, in fragments too), naming the argument as a
// BAD_USER_INPUT field.
func checkFilters(ss ast.SelectionSet, vars map[string]any, d int) *gqlerror.Error {
	if d > MaxDepth+1 {
		return nil // refused by depth already
	}
	for _, s := range ss {
		var err *gqlerror.Error
		switch s := s.(type) {
		case *ast.Field:
			for _, a := range s.Arguments {
				if err = checkFilter(s, a, vars); err != nil {
					return err
				}
			}
			err = checkFilters(s.SelectionSet, vars, d+1)
		case *ast.InlineFragment:
			err = checkFilters(s.SelectionSet, vars, d)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				err = checkFilters(s.Definition.SelectionSet, vars, d)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func checkFilter(f *ast.Field, a *ast.Argument, vars map[string]any) *gqlerror.Error {
	if f.Definition == nil || a.Value == nil {
		return nil
	}
	def := f.Definition.Arguments.ForName(a.Name)
	if def == nil || def.Type == nil || !strings.HasSuffix(def.Type.Name(), "WhereInput") {
		return nil
	}
	v, err := a.Value.Value(vars)
	if err != nil {
		return nil // the validator reports it
	}
	var m filterSize
	m.measure(v, "", 1)
	bad := func(format string, args ...any) *gqlerror.Error {
		return &gqlerror.Error{Message: fmt.Sprintf(format, args...), Extensions: map[string]any{"code": CodeBadInput, "field": a.Name}}
	}
	switch {
	case m.depth > MaxWhereDepth:
		return bad("%s is nested more than %d levels deep (and/or/not); at most %d are allowed", a.Name, MaxWhereDepth, MaxWhereDepth)
	case m.longest > MaxWhereList:
		return bad("%s lists %d items in %s; at most %d are allowed", a.Name, m.longest, m.longestIn, MaxWhereList)
	case m.terms > MaxWhereTerms:
		return bad("%s has %d conditions; at most %d are allowed", a.Name, m.terms, MaxWhereTerms)
	}
	return nil
}

// filterSize is the shape of one where filter.
type filterSize struct {
	depth, terms, longest int
	longestIn             string
}

// measure walks v, a filter value at nesting level depth under key. It
// stops descending past MaxWhereDepth, so a hostile filter costs no more
// to refuse than an allowed one costs to read.
func (m *filterSize) measure(v any, key string, depth int) {
	switch v := v.(type) {
	case map[string]any:
		m.depth = max(m.depth, depth)
		if depth > MaxWhereDepth {
			return
		}
		for k, x := range v {
			m.terms++
			m.measure(x, k, depth+1)
		}
	case []any:
		if len(v) > m.longest {
			m.longest, m.longestIn = len(v), key
		}
		if len(v) > MaxWhereList {
			return
		}
		for _, x := range v {
			// A list's objects sit at the level of the list's field.
			m.measure(x, key, depth)
		}
	}
}
