// Package graph is the control plane's GraphQL API: gqlgen resolvers over
// the ent client. Resolvers stay short; domain packages (internal/apikeys,
// internal/workspaces, auth/accounts, internal/ledger) do the work, and
// ent privacy rules enforce tenancy below them.
package graph

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/billing"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/ent/auditevent"
	"github.com/oais/oais/ent/invitation"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/modelprice"
	"github.com/oais/oais/ent/predicate"
	"github.com/oais/oais/ent/usageevent"
	"github.com/oais/oais/ent/user"
	"github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/graph/model"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/userinput"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

// Accounts signs users in and out, proves their addresses and changes
// their passwords; auth/accounts implements it.
type Accounts interface {
	SignIn(ctx context.Context, email, password string, ip netip.Addr) (auth.Tokens, *ent.User, error)
	SignUp(ctx context.Context, email, password string, ip netip.Addr) (auth.Tokens, *ent.User, error)
	Refresh(ctx context.Context, refreshToken string, ip netip.Addr) (auth.Tokens, *ent.User, error)
	SignOut(ctx context.Context, refreshToken string, ip netip.Addr) error
	EmailVerified(ctx context.Context, userID string) (bool, error)
	VerifyEmail(ctx context.Context, token string) error
	SendVerification(ctx context.Context, userID string, ip netip.Addr) error
	RequestPasswordReset(ctx context.Context, email string, ip netip.Addr) error
	ResetPassword(ctx context.Context, token, password string, ip netip.Addr) (auth.Tokens, *ent.User, error)
	ChangePassword(ctx context.Context, userID, keepSession, current, next string, ip netip.Addr) error
	// Issue 15: second factor and the viewer's sessions.
	SignInOTP(ctx context.Context, email, password, otp string, ip netip.Addr) (auth.Tokens, *ent.User, error)
	EnrollTOTP(ctx context.Context, userID string) (secret, uri string, err error)
	ConfirmTOTP(ctx context.Context, userID, code string, ip netip.Addr) ([]string, error)
	DisableTOTP(ctx context.Context, userID, code string, ip netip.Addr) error
	Sessions(ctx context.Context, userID, current string) ([]*accounts.SessionInfo, error)
	RevokeSession(ctx context.Context, userID, id string) error
	SignOutEverywhere(ctx context.Context, userID string) (int, error)
}

var _ Accounts = (*accounts.Accounts)(nil)

// BillingLinks makes Stripe Checkout and portal links; nil without Stripe.
type BillingLinks interface {
	CheckoutURL(ctx context.Context, workspaceID, returnURL string) (string, error)
	PortalURL(ctx context.Context, workspaceID, returnURL string) (string, error)
}

// BillingReconciler compares the ledger with Stripe; billing.Reconciler
// implements it.
type BillingReconciler interface {
	Reconcile(ctx context.Context, from, to time.Time) (billing.Report, error)
}

var _ BillingReconciler = billing.Reconciler{}

// The key service revokes a removed member's keys (removeMember's revokeKeys).
var _ workspaces.Keys = (*apikeys.Service)(nil)

// Resolver is the root resolver; it holds the dependencies of every field.
type Resolver struct {
	Client   *ent.Client
	Keys     *apikeys.Service
	Accounts Accounts
	// Invites invites people by e-mail (inviteMember, acceptInvite, …).
	Invites *workspaces.Invitations
	Ledger  *ledger.Ledger
	Stripe  BillingLinks // nil: billing on the local ledger only
	// Reconciler answers billingReconciliation; nil answers an empty list.
	Reconciler BillingReconciler
	Secrets    *secretbox.Box
	// Egress decides where workspaces' own upstreams and spend-alert
	// webhooks may lead; nil allows public addresses only.
	Egress *egress.Policy
	// PublicURL is where the dashboard is published (OAIS_PUBLIC_URL):
	// billing links may only come back under it.
	PublicURL *url.URL
	Now       func() time.Time
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// ErrUnauthenticated means the request carries no valid session.
var ErrUnauthenticated = errors.New("sign in first: no valid access token in the Authorization header")

func signedIn(ctx context.Context) error {
	if v := viewer.FromContext(ctx); v == nil || v.UserID == "" {
		return ErrUnauthenticated
	}
	return nil
}

func badInput(field, msg string) error { return &userinput.Error{Field: field, Msg: msg} }

func clientIP(ctx context.Context) netip.Addr { return audit.IPFrom(ctx) }

func int64p(v *int) *int64 {
	if v == nil {
		return nil
	}
	x := int64(*v)
	return &x
}

// MaxPage bounds every connection page, so no query can ask for everything.
const MaxPage = 500

func pageSize(first, last *int) error {
	for _, n := range []*int{first, last} {
		if n != nil && (*n < 0 || *n > MaxPage) {
			return badInput("first", "page size must be between 0 and 500")
		}
	}
	return nil
}

// MaxRange bounds usage queries.
const MaxRange = 400 * 24 * time.Hour

func timeRange(from, to time.Time) error {
	switch {
	case !to.After(from):
		return badInput("to", "must be after from")
	case to.Sub(from) > MaxRange:
		return badInput("to", "a range is at most 400 days")
	}
	return nil
}

// statusPredicate turns an effective status into a query on the stored
// fields, mirroring keys.State.Effective.
func statusPredicate(s keys.Status, now time.Time) predicate.APIKey {
	notExpired := apikey.Or(apikey.ExpiresAtIsNil(), apikey.ExpiresAtGT(now))
	graceOK := apikey.Or(apikey.GraceUntilIsNil(), apikey.GraceUntilGT(now))
	switch s {
	case keys.StatusRevoked:
		return apikey.Or(apikey.StatusEQ(apikey.StatusREVOKED), apikey.GraceUntilLTE(now))
	case keys.StatusExpired:
		return apikey.And(apikey.StatusNEQ(apikey.StatusREVOKED), graceOK, apikey.ExpiresAtLTE(now))
	case keys.StatusDisabled:
		return apikey.And(apikey.StatusEQ(apikey.StatusDISABLED), graceOK, notExpired)
	case keys.StatusRateLimited:
		return apikey.And(apikey.StatusEQ(apikey.StatusACTIVE), graceOK, notExpired,
			apikey.MaxRequestsGT(0), func(s *entsqlSelector) { s.Where(sqlColumnsGTE(s, apikey.FieldRequestCount, apikey.FieldMaxRequests)) })
	default: // ACTIVE
		return apikey.And(apikey.StatusEQ(apikey.StatusACTIVE), graceOK, notExpired,
			apikey.Or(apikey.MaxRequestsEQ(0), func(s *entsqlSelector) { s.Where(sqlColumnsLT(s, apikey.FieldRequestCount, apikey.FieldMaxRequests)) }))
	}
}

func summary(s ledger.Summary) *model.UsageSummary {
	return &model.UsageSummary{Requests: int(s.Requests), PromptTokens: int(s.PromptTokens), CompletionTokens: int(s.CompletionTokens),
		TotalTokens: int(s.TotalTokens), CostMicros: int(s.CostMicros), CacheHits: int(s.CacheHits), Errors: int(s.Errors)}
}

func groups(gs []ledger.Group, err error) ([]*model.UsageGroup, error) {
	if err != nil {
		return nil, err
	}
	out := make([]*model.UsageGroup, len(gs))
	for i, g := range gs {
		out[i] = &model.UsageGroup{Key: g.Key, Label: g.Label, Requests: int(g.Requests), TotalTokens: int(g.TotalTokens), CostMicros: int(g.CostMicros),
			PromptTokens: int(g.PromptTokens), CompletionTokens: int(g.CompletionTokens), CacheHits: int(g.CacheHits), Errors: int(g.Errors),
			AvgLatencyMs: int(g.AvgLatencyMs())}
	}
	return out, nil
}

func (r *Resolver) authPayload(t auth.Tokens, u *ent.User, err error) (*model.AuthPayload, error) {
	if err != nil {
		return nil, err
	}
	return &model.AuthPayload{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, ExpiresAt: t.ExpiresAt, User: u}, nil
}

func (r *Resolver) billingLink(ctx context.Context, wsID, returnURL string, portal bool) (*string, error) {
	if err := signedIn(ctx); err != nil {
		return nil, err
	}
	role, ok := viewer.FromContext(ctx).RoleIn(wsID)
	if !ok {
		return nil, apikeys.ErrNotFound
	}
	if !role.CanManage() {
		return nil, keys.ErrForbidden
	}
	back, err := billing.ReturnURL(r.PublicURL, returnURL)
	if err != nil {
		return nil, err
	}
	if r.Stripe == nil {
		return nil, nil
	}
	var u string
	if portal {
		u, err = r.Stripe.PortalURL(ctx, wsID, back)
	} else {
		u, err = r.Stripe.CheckoutURL(ctx, wsID, back)
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// ownProfile reports whether the viewer may read u's profile beyond its
// e-mail and name: only u themself may (and the system). Other members,
// whoever invited u among them, see null.
func ownProfile(ctx context.Context, u *ent.User) bool {
	v := viewer.FromContext(ctx)
	return v != nil && (v.System || v.UserID != "" && v.UserID == u.ID)
}

// nodeType maps an id's prefix to its table, for Relay's node(id:).
func nodeType(_ context.Context, id string) (string, error) {
	switch ids.Prefix(id) {
	case ids.Workspace:
		return workspace.Table, nil
	case ids.APIKey:
		return apikey.Table, nil
	case ids.Membership:
		return membership.Table, nil
	case ids.User:
		return user.Table, nil
	case ids.AuditEvent:
		return auditevent.Table, nil
	case ids.UsageEvent:
		return usageevent.Table, nil
	case ids.ModelPrice:
		return modelprice.Table, nil
	case ids.Invitation:
		return invitation.Table, nil
	}
	return "", errUnknownNode
}

var errUnknownNode = errors.New("unknown node id")

func isUnknownNode(err error) bool { return errors.Is(err, errUnknownNode) }

// ExposureLookback is how far before a leak report KeyExposure counts use.
const ExposureLookback = 24 * time.Hour

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
