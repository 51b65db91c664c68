// Package audit appends to the audit log: every sign-in (and failed one),
// key creation, revocation, rotation, limit change, member change and billing
// event, with actor, workspace, target, address and time. The log is
// append-only; ent's policy refuses updates and deletes.
package audit

import (
	"context"
	"net/netip"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/privacy"
	"github.com/oais/oais/internal/viewer"
)

// Actions recorded in the log. Dashboards filter on these strings: add, never rename.
const (
	SignIn            = "auth.sign_in"
	SignInFailed      = "auth.sign_in_failed"
	SignUp            = "auth.sign_up"
	SignOut           = "auth.sign_out"
	SessionReuse      = "auth.refresh_reused"
	WorkspaceCreated  = "workspace.created"
	LimitsChanged     = "workspace.limits_changed"
	SpendCapChanged   = "workspace.spend_cap_changed"
	WorkspaceSuspend  = "workspace.suspended"
	WorkspaceResume   = "workspace.reactivated"
	MemberInvited     = "member.invited"
	MemberRoleChanged = "member.role_changed"
	MemberRemoved     = "member.removed"
	MemberJoined      = "member.joined" // accepted an invitation
	InviteResent      = "invitation.resent"
	InviteRevoked     = "invitation.revoked"
	EmailVerified     = "auth.email_verified"
	PasswordReset     = "auth.password_reset"
	PasswordChanged   = "auth.password_changed"
	// AccountSuperseded: a verified SSO identity arrived for an address
	// held by an unverified password account, which was disabled.
	AccountSuperseded = "auth.account_superseded"
	KeyCreated        = "key.created"
	KeyUpdated        = "key.updated"
	KeyDisabled       = "key.disabled"
	KeyEnabled        = "key.enabled"
	KeyRevoked        = "key.revoked"
	KeyRevokedAll     = "key.revoked_all"
	KeyReactivated    = "key.reactivated"
	KeyRotated        = "key.rotated"
	KeyLeaked         = "key.leaked"
	KeyGraceEnded     = "key.grace_ended"
	SpendAlert        = "billing.spend_alert"
	BillingEvent      = "billing.event"
	// MeterError: Stripe refused metered usage as invalid
	// (billing.meter.error_report_triggered); no workspace, so site admins read it.
	MeterError = "billing.meter_error"
)

// Actions of issue 16's key lifecycle and workspace switch.
const (
	KeyDeleted       = "key.deleted"
	KeyRequestsReset = "key.requests_reset"
	// WorkspaceDeactivated and WorkspaceActivated: its owner switched the
	// workspace off or on (setWorkspaceActive), apart from billing's
	// suspension (workspace.suspended, workspace.reactivated).
	WorkspaceDeactivated = "workspace.deactivated"
	WorkspaceActivated   = "workspace.activated"
	// KeyLimitChanged: a site admin set the workspace's key limit
	// (setWorkspaceKeyLimit); details from and to.
	KeyLimitChanged = "workspace.key_limit_changed"
	// KeyRevokedBulk: revokeAPIKeys revoked several chosen keys at once; one
	// line per workspace, details count and ids.
	KeyRevokedBulk = "key.revoked_bulk"
)

// Event is one line of the log.
type Event struct {
	WorkspaceID string // empty for events of no workspace (a failed sign-in)
	Action      string
	TargetType  string
	TargetID    string
	ActorID     string // defaults to the viewer in ctx
	ActorEmail  string
	IP          netip.Addr
	Details     map[string]string // never secrets
}

type ipKey struct{}

// WithIP returns ctx carrying the client address that actions in it come from.
func WithIP(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, ipKey{}, ip)
}

// IPFrom returns the client address in ctx, if any.
func IPFrom(ctx context.Context) netip.Addr {
	ip, _ := ctx.Value(ipKey{}).(netip.Addr)
	return ip
}

// Record appends e using client c (pass a transaction's client to make the
// line part of the change it describes). The write itself runs with the
// system's authority: members may not write the log, only cause lines in it.
func Record(ctx context.Context, c *ent.Client, e Event) error {
	if v := viewer.FromContext(ctx); v != nil && !v.System {
		if e.ActorID == "" {
			e.ActorID = v.UserID
		}
		if e.ActorEmail == "" {
			e.ActorEmail = v.Email
		}
		if v.ServiceTokenID != "" {
			// The actor is the token's creator; say that a token acted.
			d := make(map[string]string, len(e.Details)+1)
			for k, x := range e.Details {
				d[k] = x
			}
			d["service_token"] = v.ServiceTokenID
			e.Details = d
		}
	}
	if !e.IP.IsValid() {
		e.IP = IPFrom(ctx)
	}
	q := c.AuditEvent.Create().
		SetAction(e.Action).
		SetActorID(e.ActorID).
		SetActorEmail(e.ActorEmail).
		SetTargetType(e.TargetType).
		SetTargetID(e.TargetID)
	if e.WorkspaceID != "" {
		q.SetWorkspaceID(e.WorkspaceID)
	}
	if e.IP.IsValid() {
		q.SetIP(e.IP.String())
	}
	if len(e.Details) > 0 {
		q.SetDetails(e.Details)
	}
	return q.Exec(privacy.DecisionContext(ctx, privacy.Allow))
}
