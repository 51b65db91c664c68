package graph

import (
	"context"
	"regexp"
	"slices"

	"github.com/99designs/gqlgen/graphql"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/ent/invitation"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/servicetoken"
	"github.com/oais/oais/graph/model"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/viewer"
)

// PersonalFields are the root fields only a signed-in person may use, never
// a service token: a token acts in its one workspace and cannot change the
// account of the person who made it, nor make more credentials.
var PersonalFields = []string{
	"sessions", "revokeSession", "signOutEverywhere", "signOut",
	"enrollTOTP", "confirmTOTP", "disableTOTP", "setWorkspaceRequireMFA",
	"changePassword", "sendVerificationEmail", "acceptInvite", "createWorkspace",
	"createServiceToken", "revokeServiceToken",
}

// Principals is the gqlgen extension that applies the principal's limits
// to every root field before its resolver runs: a service token is refused
// the PersonalFields (FORBIDDEN), and a field naming a workspace that
// requires a second factor the viewer lacks answers MFA_REQUIRED. (Tenancy
// already hides such a workspace, since the viewer's Roles leave it out;
// this only tells the user why.)
type Principals struct {
	// Client looks up which workspace a named record belongs to; without it
	// only workspace ids are recognised.
	Client *ent.Client
}

var (
	_ graphql.HandlerExtension = Principals{}
	_ graphql.FieldInterceptor = Principals{}
)

// ExtensionName names the extension for gqlgen.
func (Principals) ExtensionName() string { return "Principals" }

// Validate accepts any schema.
func (Principals) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptField checks root fields.
func (p Principals) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	v := viewer.FromContext(ctx)
	if fc == nil || v == nil || (fc.Object != "Query" && fc.Object != "Mutation") {
		return next(ctx)
	}
	if v.ServiceTokenID != "" && slices.Contains(PersonalFields, fc.Field.Name) {
		return nil, accounts.ErrPersonOnly
	}
	if len(v.MFAPending) > 0 {
		oc := graphql.GetOperationContext(ctx)
		var vars map[string]any
		if oc != nil {
			vars = oc.Variables
		}
		for _, id := range argIDs(fc.Field.ArgumentMap(vars), nil) {
			if v.MFAPendingIn(p.workspaceOf(ctx, id)) {
				return nil, accounts.ErrMFARequired
			}
		}
	}
	return next(ctx)
}

var idShape = regexp.MustCompile(`^[a-z]+_[0-9A-HJKMNP-TV-Z]{26}$`)

// argIDs collects every string shaped like a record id in a field's
// arguments, input objects and lists included.
func argIDs(v any, out []string) []string {
	switch v := v.(type) {
	case map[string]any:
		for _, x := range v {
			out = argIDs(x, out)
		}
	case []any:
		for _, x := range v {
			out = argIDs(x, out)
		}
	case string:
		if idShape.MatchString(v) {
			out = append(out, v)
		}
	}
	return out
}

// workspaceOf returns the workspace of the record id names ("" if unknown),
// read as the system: the caller only compares it with the viewer's own
// MFA-pending workspaces and answers nothing else about it.
func (p Principals) workspaceOf(ctx context.Context, id string) string {
	if ids.Prefix(id) == ids.Workspace {
		return id
	}
	if p.Client == nil {
		return ""
	}
	sys := viewer.SystemContext(ctx)
	var ws string
	var err error
	switch ids.Prefix(id) {
	case ids.APIKey:
		ws, err = p.Client.APIKey.Query().Where(apikey.ID(id)).Select(apikey.FieldWorkspaceID).String(sys)
	case ids.Membership:
		ws, err = p.Client.Membership.Query().Where(membership.ID(id)).Select(membership.FieldWorkspaceID).String(sys)
	case ids.Invitation:
		ws, err = p.Client.Invitation.Query().Where(invitation.ID(id)).Select(invitation.FieldWorkspaceID).String(sys)
	case ids.ServiceToken:
		ws, err = p.Client.ServiceToken.Query().Where(servicetoken.ID(id)).Select(servicetoken.FieldWorkspaceID).String(sys)
	}
	if err != nil {
		return ""
	}
	return ws
}

// SessionCookies is the gqlgen extension that, for a browser that asked for
// the cookie (auth.SessionModeHeader), moves the refresh token of every
// AuthPayload a mutation answers into the HttpOnly refresh cookie and
// leaves refreshToken empty: script in the page never holds it.
type SessionCookies struct{}

var (
	_ graphql.HandlerExtension = SessionCookies{}
	_ graphql.FieldInterceptor = SessionCookies{}
)

// ExtensionName names the extension for gqlgen.
func (SessionCookies) ExtensionName() string { return "SessionCookies" }

// Validate accepts any schema.
func (SessionCookies) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptField moves the refresh token of a mutation's AuthPayload.
func (SessionCookies) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if err != nil {
		return res, err
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Object == "Mutation" {
		if p, ok := res.(*model.AuthPayload); ok && p != nil && auth.KeepRefreshInCookie(ctx, p.RefreshToken) {
			p.RefreshToken = ""
		}
	}
	return res, nil
}
