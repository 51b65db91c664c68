package workspaces

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/auth/mail"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/invitation"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/privacy"
	"github.com/oais/oais/ent/user"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// Limits of invitations.
const (
	// DefaultInvitationTTL is how long an invitation's link works; a resend
	// starts it again.
	DefaultInvitationTTL = 7 * 24 * time.Hour
	// MaxPendingInvitations bounds a workspace's live invitations. Each
	// one mails a stranger, so self-service accounts must not turn the
	// control plane into a spam relay.
	MaxPendingInvitations = 100
	// ResendInterval is the least time between two mails of one invitation.
	ResendInterval = time.Minute
	// DefaultMailsPerHour bounds the invitations and resends one user sends
	// in an hour, across workspaces (per control-plane replica): revoking
	// and inviting again must not make an unlimited mailer either.
	DefaultMailsPerHour = 30
	// maxListedInvitations bounds Workspace.invitations (expired ones pile up).
	maxListedInvitations = 500
)

// Statuses of an invitation (graph's InvitationStatus).
const (
	InvitationPending  = "PENDING"
	InvitationExpired  = "EXPIRED"
	InvitationAccepted = "ACCEPTED"
	InvitationRevoked  = "REVOKED"
)

// Errors of invitations.
var (
	// ErrInvitationInvalid means a token names no invitation that can still
	// be accepted: unknown, expired, revoked or used. One error for all, so
	// a link tells its holder nothing more.
	ErrInvitationInvalid = errors.New("workspaces: the invitation is unknown, expired, revoked or already used")
	// ErrInvitationForOther means the signed-in user's address is not the
	// invited one.
	ErrInvitationForOther = errors.New("workspaces: the invitation was sent to another e-mail address")
	// ErrInvitationClosed means an accepted or revoked invitation cannot be
	// resent (or an accepted one revoked).
	ErrInvitationClosed = errors.New("workspaces: the invitation was already accepted or revoked")
	// ErrTooManyInvitations means the workspace has MaxPendingInvitations
	// live invitations.
	ErrTooManyInvitations = fmt.Errorf("workspaces: a workspace has at most %d pending invitations", MaxPendingInvitations)
)

// ThrottledError refuses an invitation mail for now: a resend within
// ResendInterval of the last one, or past the sender's hourly budget.
type ThrottledError struct {
	RetryAfter time.Duration
	Why        string
}

// Error says why and how long to wait.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("workspaces: %s; try again in %v", e.Why, e.RetryAfter.Round(time.Second))
}

// RetryAfterSeconds is RetryAfter in whole seconds, at least 1.
func (e *ThrottledError) RetryAfterSeconds() int {
	return max(1, int((e.RetryAfter+time.Second-1)/time.Second))
}

// InvitationMail mails invitations; *mail.Sender is one.
type InvitationMail interface {
	Invitation(to string, inv mail.Invitation)
}

// Invitations invites people into workspaces by e-mail. Like the rest of
// the package it runs in the caller's transaction under ent privacy rules;
// mail goes out only once that transaction commits.
type Invitations struct {
	Mail InvitationMail
	// TTL is how long a link works; DefaultInvitationTTL if zero.
	TTL time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// MailsPerHour is each sender's hourly budget of invitation mails;
	// DefaultMailsPerHour if zero. Set it before the first use.
	MailsPerHour int

	once     sync.Once
	throttle *auth.Throttle // MailsPerHour per sender
}

// budget spends one of the viewer's hourly mails, or says how long to wait.
func (s *Invitations) budget(ctx context.Context) error {
	s.once.Do(func() {
		// Keyed by the sender alone: the address table is made too large
		// to matter, so changing address buys nothing.
		if s.MailsPerHour <= 0 {
			s.MailsPerHour = DefaultMailsPerHour
		}
		s.throttle, _ = auth.NewThrottle(auth.ThrottleConfig{AccountFailures: s.MailsPerHour, IPFailures: 1 << 20, Window: time.Hour, Now: s.Now})
	})
	v := viewer.FromContext(ctx)
	if v == nil || v.UserID == "" {
		return nil // the system
	}
	var nobody netip.Addr
	if ok, wait := s.throttle.Take(ctx, v.UserID, nobody); !ok {
		return &ThrottledError{RetryAfter: wait, Why: fmt.Sprintf("at most %d invitation mails an hour", s.MailsPerHour)}
	}
	return nil
}

func (s *Invitations) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Invitations) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultInvitationTTL
}

// InvitationStatus is inv's status at now.
func InvitationStatus(inv *ent.Invitation, now time.Time) string {
	switch {
	case inv.AcceptedAt != nil:
		return InvitationAccepted
	case inv.RevokedAt != nil:
		return InvitationRevoked
	case !now.Before(inv.ExpiresAt):
		return InvitationExpired
	}
	return InvitationPending
}

// Invite mails email an invitation to wsID with role. Owners and admins
// invite; only owners invite owners. Whether the address has an account
// changes nothing in the answer or the mail: nobody is added until they
// accept. A pending invitation of the same address is revoked.
func (s *Invitations) Invite(ctx context.Context, c *ent.Client, wsID, email string, role membership.Role) (*ent.Invitation, error) {
	if err := manager(ctx, wsID); err != nil {
		return nil, err
	}
	if err := membership.RoleValidator(role); err != nil {
		return nil, &InputError{Field: "role", Msg: "must be OWNER, ADMIN, DEVELOPER or VIEWER"}
	}
	// Only an owner makes owners, as in ChangeRole: otherwise an admin could
	// invite a second account of theirs as owner and take the workspace over.
	if role == membership.RoleOWNER && !isOwner(ctx, wsID) {
		return nil, ErrForbidden
	}
	email, err := accounts.NormalizeEmail(email)
	if err != nil {
		return nil, &InputError{Field: "email", Msg: "not a valid e-mail address"}
	}
	now := s.now()
	// Only this workspace's members are told apart (the inviter can list
	// them anyway); every other address, with an account or without, gets
	// the same answer.
	member, err := c.Membership.Query().
		Where(membership.WorkspaceID(wsID), membership.HasUserWith(user.Email(email))).
		Exist(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return nil, store.Classify(err)
	}
	if member {
		return nil, ErrAlready
	}
	live := c.Invitation.Query().Where(invitation.WorkspaceID(wsID), invitation.AcceptedAtIsNil(), invitation.RevokedAtIsNil(), invitation.ExpiresAtGT(now))
	if n, err := live.Count(ctx); err != nil {
		return nil, store.Classify(err)
	} else if n >= MaxPendingInvitations {
		return nil, ErrTooManyInvitations
	}
	if err := s.budget(ctx); err != nil {
		return nil, err
	}
	if _, err := c.Invitation.Update().
		Where(invitation.WorkspaceID(wsID), invitation.Email(email), invitation.AcceptedAtIsNil(), invitation.RevokedAtIsNil()).
		SetRevokedAt(now).Save(ctx); err != nil {
		return nil, store.Classify(err)
	}
	token, hash, err := mail.NewToken()
	if err != nil {
		return nil, err
	}
	ws, err := c.Workspace.Get(ctx, wsID)
	if err != nil {
		return nil, store.Classify(err)
	}
	v := viewer.FromContext(ctx)
	inv, err := c.Invitation.Create().
		SetWorkspaceID(wsID).SetEmail(email).SetRole(invitation.Role(role)).
		SetTokenHash(hash).SetInviterID(v.UserID).
		SetExpiresAt(now.Add(s.ttl())).SetSentAt(now).
		Save(ctx)
	if err != nil {
		return nil, store.Classify(err)
	}
	if err := audit.Record(ctx, c, audit.Event{WorkspaceID: wsID, Action: audit.MemberInvited, TargetType: "invitation", TargetID: inv.ID,
		Details: map[string]string{"email": email, "role": string(role)}}); err != nil {
		return nil, err
	}
	s.mailAfterCommit(ctx, inv, ws.Name, v.Email, token)
	return inv, nil
}

// mailAfterCommit mails inv's link once ctx's transaction commits (now,
// without one): a mail must not announce a change that was rolled back.
func (s *Invitations) mailAfterCommit(ctx context.Context, inv *ent.Invitation, wsName, inviter, token string) {
	if inviter == "" {
		inviter = "An administrator"
	}
	send := func() {
		s.Mail.Invitation(inv.Email, mail.Invitation{
			Workspace: wsName, Inviter: inviter, Role: string(inv.Role), Token: token, Expires: inv.ExpiresAt,
		})
	}
	tx := ent.TxFromContext(ctx)
	if tx == nil {
		send()
		return
	}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if err := next.Commit(ctx, tx); err != nil {
				return err
			}
			send()
			return nil
		})
	})
}

// Resend mails a pending or expired invitation again with a new link (the
// old one stops working), valid for the whole TTL again.
func (s *Invitations) Resend(ctx context.Context, c *ent.Client, id string) (*ent.Invitation, error) {
	inv, err := c.Invitation.Get(ctx, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	if err := manager(ctx, inv.WorkspaceID); err != nil {
		return nil, err
	}
	if inv.AcceptedAt != nil || inv.RevokedAt != nil {
		return nil, ErrInvitationClosed
	}
	now := s.now()
	if wait := inv.SentAt.Add(ResendInterval).Sub(now); wait > 0 {
		return nil, &ThrottledError{RetryAfter: wait, Why: "the invitation was mailed moments ago"}
	}
	if err := s.budget(ctx); err != nil {
		return nil, err
	}
	token, hash, err := mail.NewToken()
	if err != nil {
		return nil, err
	}
	// Conditional, so a concurrent accept or revoke wins over the resend.
	n, err := c.Invitation.Update().
		Where(invitation.ID(inv.ID), invitation.AcceptedAtIsNil(), invitation.RevokedAtIsNil()).
		SetTokenHash(hash).SetExpiresAt(now.Add(s.ttl())).SetSentAt(now).
		Save(ctx)
	if err != nil {
		return nil, store.Classify(err)
	}
	if n == 0 {
		return nil, ErrInvitationClosed
	}
	if inv, err = c.Invitation.Get(ctx, id); err != nil {
		return nil, store.Classify(err)
	}
	ws, err := c.Workspace.Get(ctx, inv.WorkspaceID)
	if err != nil {
		return nil, store.Classify(err)
	}
	if err := audit.Record(ctx, c, audit.Event{WorkspaceID: inv.WorkspaceID, Action: audit.InviteResent, TargetType: "invitation", TargetID: inv.ID,
		Details: map[string]string{"email": inv.Email}}); err != nil {
		return nil, err
	}
	s.mailAfterCommit(ctx, inv, ws.Name, viewer.FromContext(ctx).Email, token)
	return inv, nil
}

// Revoke withdraws an invitation: its link stops working. Revoking a
// revoked one changes nothing; an accepted one is a membership now
// (remove the member instead).
func (s *Invitations) Revoke(ctx context.Context, c *ent.Client, id string) (*ent.Invitation, error) {
	inv, err := c.Invitation.Get(ctx, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	if err := manager(ctx, inv.WorkspaceID); err != nil {
		return nil, err
	}
	switch {
	case inv.RevokedAt != nil:
		return inv, nil
	case inv.AcceptedAt != nil:
		return nil, ErrInvitationClosed
	}
	n, err := c.Invitation.Update().
		Where(invitation.ID(inv.ID), invitation.AcceptedAtIsNil(), invitation.RevokedAtIsNil()).
		SetRevokedAt(s.now()).Save(ctx)
	if err != nil {
		return nil, store.Classify(err)
	}
	if n == 0 {
		return nil, ErrInvitationClosed
	}
	if inv, err = c.Invitation.Get(ctx, id); err != nil {
		return nil, store.Classify(err)
	}
	return inv, audit.Record(ctx, c, audit.Event{WorkspaceID: inv.WorkspaceID, Action: audit.InviteRevoked, TargetType: "invitation", TargetID: inv.ID,
		Details: map[string]string{"email": inv.Email}})
}

// Pending lists wsID's invitations that are neither accepted nor revoked,
// newest first. The privacy rule shows them to owners and admins only.
func (s *Invitations) Pending(ctx context.Context, c *ent.Client, wsID string) ([]*ent.Invitation, error) {
	invs, err := c.Invitation.Query().
		Where(invitation.WorkspaceID(wsID), invitation.AcceptedAtIsNil(), invitation.RevokedAtIsNil()).
		Order(ent.Desc(invitation.FieldCreatedAt), ent.Desc(invitation.FieldID)).
		Limit(maxListedInvitations).
		All(ctx)
	return invs, store.Classify(err)
}

// Accept makes the signed-in viewer a member with the role of the
// invitation whose token this is. The viewer's address must be the invited
// one (ErrInvitationForOther) and verified (accounts.ErrEmailNotVerified):
// holding the address's account is not enough, reading its mail is. The
// token is spent by one conditional update, so of two accepts one wins.
func (s *Invitations) Accept(ctx context.Context, c *ent.Client, token string) (*ent.Membership, error) {
	v := viewer.FromContext(ctx)
	if v == nil || v.UserID == "" {
		return nil, ErrNoViewer
	}
	hash, ok := mail.TokenHash(token)
	if !ok {
		return nil, ErrInvitationInvalid
	}
	// The viewer is no member yet: the invitation, the user and the new
	// membership are read and written with the system's authority.
	sys := viewer.SystemContext(ctx)
	now := s.now()
	inv, err := c.Invitation.Query().Where(invitation.TokenHash(hash)).Only(sys)
	switch {
	case ent.IsNotFound(err):
		return nil, ErrInvitationInvalid
	case err != nil:
		return nil, store.Classify(err)
	case InvitationStatus(inv, now) != InvitationPending:
		return nil, ErrInvitationInvalid
	}
	u, err := c.User.Get(sys, v.UserID)
	if err != nil {
		return nil, store.Classify(err)
	}
	if e, err := accounts.NormalizeEmail(u.Email); err != nil || e != inv.Email {
		return nil, ErrInvitationForOther
	}
	if u.EmailVerifiedAt == nil {
		return nil, accounts.ErrEmailNotVerified
	}
	n, err := c.Invitation.Update().
		Where(invitation.ID(inv.ID), invitation.AcceptedAtIsNil(), invitation.RevokedAtIsNil(), invitation.ExpiresAtGT(now)).
		SetAcceptedAt(now).SetAcceptedByID(u.ID).
		Save(sys)
	if err != nil {
		return nil, store.Classify(err)
	}
	if n == 0 {
		return nil, ErrInvitationInvalid
	}
	m, err := c.Membership.Create().SetWorkspaceID(inv.WorkspaceID).SetUserID(u.ID).SetRole(membership.Role(inv.Role)).Save(sys)
	if errors.Is(store.Classify(err), store.ErrConflict) {
		return nil, ErrAlready
	} else if err != nil {
		return nil, store.Classify(err)
	}
	// Later reads in this request (the answer's workspace) see the membership.
	if v.Roles == nil {
		v.Roles = map[string]viewer.Role{}
	}
	v.Roles[inv.WorkspaceID] = viewer.Role(inv.Role)
	return m, audit.Record(ctx, c, audit.Event{WorkspaceID: inv.WorkspaceID, Action: audit.MemberJoined, TargetType: "membership", TargetID: m.ID,
		Details: map[string]string{"invitation_id": inv.ID, "role": string(inv.Role)}})
}
