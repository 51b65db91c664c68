// Package workspaces manages tenants: creation, limits, spend caps and
// members. Like internal/apikeys it runs inside the caller's transaction,
// under ent privacy rules, and audits every change.
package workspaces

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/privacy"
	"github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/userinput"
	"github.com/oais/oais/internal/viewer"
)

// Errors of the workspace domain.
var (
	ErrNotFound    = store.ErrNotFound
	ErrForbidden   = errors.New("workspaces: your role does not allow this")
	ErrLastOwner   = errors.New("workspaces: the last owner cannot leave or be demoted; make another member an owner first")
	ErrAlready     = errors.New("workspaces: already a member of this workspace")
	ErrNoViewer    = errors.New("workspaces: sign in first")
	MaxNameLen     = 100
	MaxLimitValue  = int64(1) << 40
	MaxWorkspaces  = 100 // per user, to bound abuse of self-service creation
	errTooManyWs   = errors.New("workspaces: you already belong to the maximum number of workspaces")
	slugDisallowed = regexp.MustCompile(`[^a-z0-9]+`)
)

// InputError is bad input from the user, with the field it concerns.
type InputError = userinput.Error

func slugify(name string) string {
	s := strings.Trim(slugDisallowed.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(s) > 40 {
		s = s[:40]
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	if s == "" {
		s = "ws"
	}
	return s + "-" + hex.EncodeToString(b)
}

func manager(ctx context.Context, wsID string) error {
	r, ok := viewer.FromContext(ctx).RoleIn(wsID)
	if !ok {
		if v := viewer.FromContext(ctx); v != nil && v.System {
			return nil
		}
		return ErrNotFound
	}
	if !r.CanManage() {
		return ErrForbidden
	}
	return nil
}

// Create makes a workspace with the viewer as its owner.
func Create(ctx context.Context, c *ent.Client, name string) (*ent.Workspace, error) {
	v := viewer.FromContext(ctx)
	if v == nil || v.UserID == "" {
		return nil, ErrNoViewer
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxNameLen {
		return nil, &InputError{Field: "name", Msg: fmt.Sprintf("a name of 1 to %d characters is required", MaxNameLen)}
	}
	if len(v.Roles) >= MaxWorkspaces {
		return nil, errTooManyWs
	}
	ws, err := c.Workspace.Create().SetName(name).SetSlug(slugify(name)).Save(ctx)
	if err != nil {
		return nil, store.Classify(err)
	}
	// The viewer is not yet a member of the new workspace, so the owner
	// membership and billing account are written with the system's authority.
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	if err := c.Membership.Create().SetWorkspaceID(ws.ID).SetUserID(v.UserID).SetRole(membership.RoleOWNER).Exec(sys); err != nil {
		return nil, store.Classify(err)
	}
	if err := c.BillingAccount.Create().SetWorkspaceID(ws.ID).Exec(sys); err != nil {
		return nil, store.Classify(err)
	}
	// Later reads in this request see the new workspace.
	if v.Roles == nil {
		v.Roles = map[string]viewer.Role{}
	}
	v.Roles[ws.ID] = viewer.RoleOwner
	return ws, audit.Record(ctx, c, audit.Event{WorkspaceID: ws.ID, Action: audit.WorkspaceCreated, TargetType: "workspace", TargetID: ws.ID,
		Details: map[string]string{"name": name}})
}

func checkLimit(field string, v *int) (*int64, error) {
	if v == nil {
		return nil, nil
	}
	if *v < 0 || int64(*v) > MaxLimitValue {
		return nil, &InputError{Field: field, Msg: "must be 0 (unlimited) or a positive number"}
	}
	x := int64(*v)
	return &x, nil
}

// SetLimits changes a workspace's RPM, TPM and monthly token quota; nil
// leaves a value as it is, 0 means unlimited.
func SetLimits(ctx context.Context, c *ent.Client, wsID string, rpm, tpm, quota *int) (*ent.Workspace, error) {
	if err := manager(ctx, wsID); err != nil {
		return nil, err
	}
	r, err := checkLimit("rpm", rpm)
	if err != nil {
		return nil, err
	}
	t, err := checkLimit("tpm", tpm)
	if err != nil {
		return nil, err
	}
	q, err := checkLimit("monthlyTokenQuota", quota)
	if err != nil {
		return nil, err
	}
	u := c.Workspace.UpdateOneID(wsID)
	details := map[string]string{}
	if r != nil {
		u.SetRpm(*r)
		details["rpm"] = fmt.Sprint(*r)
	}
	if t != nil {
		u.SetTpm(*t)
		details["tpm"] = fmt.Sprint(*t)
	}
	if q != nil {
		u.SetMonthlyTokenQuota(*q)
		details["monthly_token_quota"] = fmt.Sprint(*q)
	}
	ws, err := u.Save(ctx)
	if err != nil {
		return nil, store.Classify(err)
	}
	return ws, audit.Record(ctx, c, audit.Event{WorkspaceID: wsID, Action: audit.LimitsChanged, TargetType: "workspace", TargetID: wsID, Details: details})
}

// SetSpendCap sets the monthly spend cap in cents; nil removes it.
func SetSpendCap(ctx context.Context, c *ent.Client, wsID string, cents *int) (*ent.Workspace, error) {
	if err := manager(ctx, wsID); err != nil {
		return nil, err
	}
	u := c.Workspace.UpdateOneID(wsID)
	detail := "none"
	if cents == nil {
		u.ClearSpendCapCents()
	} else {
		if *cents < 0 || int64(*cents) > MaxLimitValue {
			return nil, &InputError{Field: "monthlyCents", Msg: "must be a positive number of cents, or null for no cap"}
		}
		u.SetSpendCapCents(int64(*cents))
		detail = fmt.Sprint(*cents)
	}
	ws, err := u.Save(ctx)
	if err != nil {
		return nil, store.Classify(err)
	}
	return ws, audit.Record(ctx, c, audit.Event{WorkspaceID: wsID, Action: audit.SpendCapChanged, TargetType: "workspace", TargetID: wsID,
		Details: map[string]string{"monthly_cents": detail}})
}

func owners(ctx context.Context, c *ent.Client, wsID string) (int, error) {
	return c.Membership.Query().Where(membership.WorkspaceID(wsID), membership.RoleEQ(membership.RoleOWNER)).Count(ctx)
}

// lockedMember reads membership id with its workspace locked until c's
// transaction ends, so that changes to the workspace's members run one
// after another: two owners demoting or removing each other at once both
// counted two owners and both went through, leaving none (issue 15). The
// second now waits for the first, then reads the membership and counts
// the owners afresh (each statement of a PostgreSQL READ COMMITTED
// transaction sees what committed before it). SQLite has no row locks and
// needs none: internal/store begins its transactions IMMEDIATE, taking
// the database's write lock up front. Outside a transaction the lock ends
// with its statement; callers run inside the request's (entgql.Transactioner).
func lockedMember(ctx context.Context, c *ent.Client, id string) (*ent.Membership, error) {
	m, err := c.Membership.Get(ctx, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	if _, err := c.Workspace.Query().Where(workspace.ID(m.WorkspaceID), forUpdate).IDs(ctx); err != nil {
		return nil, store.Classify(err)
	}
	m, err = c.Membership.Get(ctx, id)
	return m, store.Classify(err)
}

// forUpdate locks the rows a query selects, on PostgreSQL.
func forUpdate(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate()
	}
}

// ChangeRole changes a member's role; the last owner keeps theirs.
func ChangeRole(ctx context.Context, c *ent.Client, membershipID string, role membership.Role) (*ent.Membership, error) {
	m, err := lockedMember(ctx, c, membershipID)
	if err != nil {
		return nil, err
	}
	if err := manager(ctx, m.WorkspaceID); err != nil {
		return nil, err
	}
	if err := membership.RoleValidator(role); err != nil {
		return nil, &InputError{Field: "role", Msg: "must be OWNER, ADMIN, DEVELOPER or VIEWER"}
	}
	// Only an owner makes or unmakes owners.
	if (role == membership.RoleOWNER || m.Role == membership.RoleOWNER) && !isOwner(ctx, m.WorkspaceID) {
		return nil, ErrForbidden
	}
	if m.Role == membership.RoleOWNER && role != membership.RoleOWNER {
		n, err := owners(ctx, c, m.WorkspaceID)
		if err != nil {
			return nil, store.Classify(err)
		}
		if n <= 1 {
			return nil, ErrLastOwner
		}
	}
	old := m.Role
	if m, err = c.Membership.UpdateOne(m).SetRole(role).Save(ctx); err != nil {
		return nil, store.Classify(err)
	}
	return m, audit.Record(ctx, c, audit.Event{WorkspaceID: m.WorkspaceID, Action: audit.MemberRoleChanged, TargetType: "membership", TargetID: m.ID,
		Details: map[string]string{"from": string(old), "to": string(role)}})
}

func isOwner(ctx context.Context, wsID string) bool {
	v := viewer.FromContext(ctx)
	if v != nil && v.System {
		return true
	}
	r, _ := v.RoleIn(wsID)
	return r == viewer.RoleOwner
}

// Keys is what Remove needs of internal/apikeys.
type Keys interface {
	// RevokeCreatedBy revokes the live keys userID created in workspaceID
	// and returns how many.
	RevokeCreatedBy(ctx context.Context, c *ent.Client, workspaceID, userID string) (int, error)
}

// Remove takes a member out of a workspace. Members may remove themselves;
// managers remove others; the last owner cannot go. With revokeKeys, the
// API keys the member created in the workspace are revoked with them;
// without, they keep working. The audit line says how many were revoked,
// or kept.
func Remove(ctx context.Context, c *ent.Client, keys Keys, membershipID string, revokeKeys bool) error {
	m, err := lockedMember(ctx, c, membershipID)
	if err != nil {
		return err
	}
	self := viewer.FromContext(ctx).UserID == m.UserID
	if !self {
		if err := manager(ctx, m.WorkspaceID); err != nil {
			return err
		}
		if m.Role == membership.RoleOWNER && !isOwner(ctx, m.WorkspaceID) {
			return ErrForbidden
		}
	}
	if m.Role == membership.RoleOWNER {
		n, err := owners(ctx, c, m.WorkspaceID)
		if err != nil {
			return store.Classify(err)
		}
		if n <= 1 {
			return ErrLastOwner
		}
	}
	ctxDel := ctx
	if self {
		// A member leaving needs no managing role, to go or to revoke
		// the keys they made.
		ctxDel = privacy.DecisionContext(ctx, privacy.Allow)
	}
	details := map[string]string{"user_id": m.UserID}
	if revokeKeys {
		n, err := keys.RevokeCreatedBy(ctxDel, c, m.WorkspaceID, m.UserID)
		if err != nil {
			return err
		}
		details["keys_revoked"] = fmt.Sprint(n)
	} else {
		n, err := c.APIKey.Query().
			Where(apikey.WorkspaceID(m.WorkspaceID), apikey.CreatedByID(m.UserID), apikey.StatusNEQ(apikey.StatusREVOKED)).
			Count(ctx)
		if err != nil {
			return store.Classify(err)
		}
		details["keys_kept"] = fmt.Sprint(n)
	}
	if err := c.Membership.DeleteOne(m).Exec(ctxDel); err != nil {
		return store.Classify(err)
	}
	return audit.Record(ctx, c, audit.Event{WorkspaceID: m.WorkspaceID, Action: audit.MemberRemoved, TargetType: "membership", TargetID: m.ID,
		Details: details})
}
