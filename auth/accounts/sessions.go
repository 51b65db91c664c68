package accounts

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/session"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// maxListedSessions bounds the viewer's session list; sessions beyond it
// (the least recently used) still work and still end with
// SignOutEverywhere.
const maxListedSessions = 200

// SessionInfo is one live session as its user sees it (GraphQL Session).
type SessionInfo struct {
	ID         string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	UserAgent  string
	IP         *string
	Method     string
	// Current is the session of the request's own access token.
	Current bool
}

// Sessions lists userID's live sessions, most recently used first;
// current is the request's own session id.
func (a *Accounts) Sessions(ctx context.Context, userID, current string) ([]*SessionInfo, error) {
	if !viewer.FromContext(ctx).Person() {
		return nil, ErrPersonOnly
	}
	now := a.opts.Now()
	q := a.client.Session.Query().
		Where(session.UserID(userID), session.RevokedAtIsNil(), session.ExpiresAtGT(now))
	if idle := a.opts.IdleTimeout; idle > 0 {
		cut := now.Add(-idle)
		q.Where(session.Or(session.LastUsedAtGT(cut), session.And(session.LastUsedAtIsNil(), session.CreatedAtGT(cut))))
	}
	rows, err := q.Order(ent.Desc(session.FieldLastUsedAt), ent.Desc(session.FieldCreatedAt)).
		Limit(maxListedSessions).All(viewer.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("accounts: list sessions: %w", store.Classify(err))
	}
	out := make([]*SessionInfo, len(rows))
	for i, r := range rows {
		s := &SessionInfo{ID: r.ID, CreatedAt: r.CreatedAt, LastUsedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
			UserAgent: r.UserAgent, Method: r.Method, Current: r.ID == current}
		if r.LastUsedAt != nil {
			s.LastUsedAt = *r.LastUsedAt
		}
		if r.IP != "" {
			ip := r.IP
			s.IP = &ip
		}
		out[i] = s
	}
	return out, nil
}

// RevokeSession ends userID's session id; another user's session, or an
// unknown id, wraps auth.ErrSessionNotFound.
func (a *Accounts) RevokeSession(ctx context.Context, userID, id string) error {
	if !viewer.FromContext(ctx).Person() {
		return ErrPersonOnly
	}
	if err := a.sessions.RevokeSession(ctx, userID, id); err != nil {
		return err
	}
	a.auditBestEffort(ctx, audit.Event{Action: audit.SignOut, ActorID: userID, TargetType: "session", TargetID: id,
		Details: map[string]string{"by": "revoke_session"}})
	return nil
}

// SignOutEverywhere ends every live session of userID and returns how many.
func (a *Accounts) SignOutEverywhere(ctx context.Context, userID string) (int, error) {
	if !viewer.FromContext(ctx).Person() {
		return 0, ErrPersonOnly
	}
	n, err := a.client.Session.Update().
		Where(session.UserID(userID), session.RevokedAtIsNil()).
		SetRevokedAt(a.opts.Now()).
		Save(viewer.SystemContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("accounts: sign out everywhere: %w", store.Classify(err))
	}
	a.auditBestEffort(ctx, audit.Event{Action: audit.SignOut, ActorID: userID, TargetType: "user", TargetID: userID,
		Details: map[string]string{"by": "sign_out_everywhere", "sessions": strconv.Itoa(n)}})
	return n, nil
}
