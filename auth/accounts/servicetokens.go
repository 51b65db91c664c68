package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/servicetoken"
	"github.com/oais/oais/ent/user"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/userinput"
	"github.com/oais/oais/internal/viewer"
)

// Audit actions of service tokens.
const (
	AuditServiceTokenCreated = "service_token.created"
	AuditServiceTokenRevoked = "service_token.revoked"
)

// maxServiceTokenName is the service_tokens.name column limit; raise both together.
const maxServiceTokenName = 100

// serviceTokenTouch is how stale a token's last_used_at may get before a
// request writes it again: at most one write a minute per token.
const serviceTokenTouch = time.Minute

var (
	// ErrRoleTooHigh means a service token was asked for a role above its
	// creator's in the workspace.
	ErrRoleTooHigh = errors.New("accounts: a service token's role cannot be higher than yours")
	// ErrPersonOnly means a service token (or no one) tried what only a
	// signed-in person may: mint or revoke tokens, manage sessions or MFA.
	ErrPersonOnly = errors.New("accounts: only a signed-in person may do this, not a service token")
)

// ServiceTokenParams describe a new service token.
type ServiceTokenParams struct {
	WorkspaceID string
	Name        string
	Role        viewer.Role
	ExpiresAt   *time.Time
}

// CreateServiceToken mints a service token in the viewer's workspace and
// returns the whole token (shown once) with its row. c is the request's
// client (its transaction); the privacy rules check the role again below.
func CreateServiceToken(ctx context.Context, c *ent.Client, p ServiceTokenParams, now time.Time) (string, *ent.ServiceToken, error) {
	v := viewer.FromContext(ctx)
	if !v.Person() {
		return "", nil, ErrPersonOnly
	}
	name := strings.TrimSpace(p.Name)
	switch {
	case name == "":
		return "", nil, &userinput.Error{Field: "name", Msg: "name the token after what uses it, e.g. \"terraform\""}
	case len(name) > maxServiceTokenName:
		return "", nil, &userinput.Error{Field: "name", Msg: fmt.Sprintf("at most %d characters", maxServiceTokenName)}
	case !p.Role.Valid():
		return "", nil, &userinput.Error{Field: "role", Msg: "one of OWNER, ADMIN, DEVELOPER, VIEWER"}
	case p.ExpiresAt != nil && !p.ExpiresAt.After(now):
		return "", nil, &userinput.Error{Field: "expiresAt", Msg: "must be in the future"}
	}
	mine, member := v.RoleIn(p.WorkspaceID)
	if !member {
		return "", nil, store.ErrNotFound
	}
	if !p.Role.AtMost(mine) {
		return "", nil, ErrRoleTooHigh
	}
	token, hash, err := auth.NewServiceToken()
	if err != nil {
		return "", nil, err
	}
	st, err := c.ServiceToken.Create().
		SetWorkspaceID(p.WorkspaceID).SetName(name).SetRole(servicetoken.Role(p.Role)).
		SetTokenHash(hash).SetCreatedByID(v.UserID).SetNillableExpiresAt(p.ExpiresAt).
		Save(ctx)
	if err != nil {
		return "", nil, err
	}
	details := map[string]string{"name": name, "role": string(p.Role)}
	if p.ExpiresAt != nil {
		details["expires_at"] = p.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if err := audit.Record(ctx, c, audit.Event{
		WorkspaceID: p.WorkspaceID, Action: AuditServiceTokenCreated, TargetType: "service_token", TargetID: st.ID, Details: details,
	}); err != nil {
		return "", nil, err
	}
	return token, st, nil
}

// RevokeServiceToken revokes token id at once (idempotent). Owners and
// admins revoke any token of their workspace, others their own; any other
// id is not found.
func RevokeServiceToken(ctx context.Context, c *ent.Client, id string, now time.Time) (*ent.ServiceToken, error) {
	if !viewer.FromContext(ctx).Person() {
		return nil, ErrPersonOnly
	}
	st, err := c.ServiceToken.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.RevokedAt != nil {
		return st, nil
	}
	if st, err = c.ServiceToken.UpdateOne(st).SetRevokedAt(now).Save(ctx); err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, c, audit.Event{
		WorkspaceID: st.WorkspaceID, Action: AuditServiceTokenRevoked, TargetType: "service_token", TargetID: st.ID,
		Details: map[string]string{"name": st.Name},
	}); err != nil {
		return nil, err
	}
	return st, nil
}

// ServicePrincipal returns the viewer of a service token: its creator,
// acting in the token's one workspace with the lower of the token's role
// and the creator's role there now. A malformed, unknown, revoked or
// expired token, or one whose creator is disabled or no longer a member,
// gives auth.ErrUnknownPrincipal.
func (p *PrincipalLoader) ServicePrincipal(ctx context.Context, token string) (*viewer.Viewer, error) {
	hash, err := auth.HashServiceToken(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", auth.ErrUnknownPrincipal, err)
	}
	sys := viewer.SystemContext(ctx)
	now := p.now()
	st, err := p.client.ServiceToken.Query().Where(servicetoken.TokenHash(hash)).Only(sys)
	switch {
	case ent.IsNotFound(err):
		return nil, fmt.Errorf("%w: unknown service token", auth.ErrUnknownPrincipal)
	case err != nil:
		return nil, fmt.Errorf("accounts: load service token: %w", store.Classify(err))
	case st.RevokedAt != nil:
		return nil, fmt.Errorf("%w: service token revoked", auth.ErrUnknownPrincipal)
	case st.ExpiresAt != nil && !now.Before(*st.ExpiresAt):
		return nil, fmt.Errorf("%w: service token expired", auth.ErrUnknownPrincipal)
	}
	u, err := p.client.User.Query().Where(user.ID(st.CreatedByID)).
		WithMemberships(func(q *ent.MembershipQuery) { q.Where(membership.WorkspaceID(st.WorkspaceID)) }).
		Only(sys)
	switch {
	case ent.IsNotFound(err):
		return nil, fmt.Errorf("%w: the service token's creator is gone", auth.ErrUnknownPrincipal)
	case err != nil:
		return nil, fmt.Errorf("accounts: load service token creator: %w", store.Classify(err))
	case u.Disabled:
		return nil, fmt.Errorf("%w: the service token's creator is disabled", auth.ErrUnknownPrincipal)
	case len(u.Edges.Memberships) == 0:
		return nil, fmt.Errorf("%w: the service token's creator left its workspace", auth.ErrUnknownPrincipal)
	}
	role := viewer.Role(st.Role).Lower(viewer.Role(u.Edges.Memberships[0].Role))
	v := &viewer.Viewer{
		UserID: u.ID, Email: u.Email, ServiceTokenID: st.ID, MFAEnabled: u.TotpEnabledAt != nil,
		Roles: map[string]viewer.Role{st.WorkspaceID: role},
	}
	if err := p.gateMFA(sys, v); err != nil {
		return nil, err
	}
	if st.LastUsedAt == nil || now.Sub(*st.LastUsedAt) >= serviceTokenTouch {
		// Best effort: a token that works must not fail for its bookkeeping.
		_ = p.client.ServiceToken.UpdateOneID(st.ID).SetLastUsedAt(now).Exec(sys)
	}
	return v, nil
}
