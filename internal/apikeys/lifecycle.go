package apikeys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// ErrWorkspaceInactive refuses to make a key (createAPIKey, rotateAPIKey) in
// a workspace its owner deactivated (setWorkspaceActive).
var ErrWorkspaceInactive = errors.New("apikeys: cannot generate tokens for inactive workspace")

// Bounds of the lifecycle inputs.
const (
	// MaxDurationHours bounds durationHours: ten years.
	MaxDurationHours = 10 * 365 * 24
	// MaxCreditQuotaCents bounds a key's credit quota (about $11 billion):
	// in micro-dollars it stays far from overflowing the budget counters.
	MaxCreditQuotaCents = int64(1) << 40
)

// expiry returns when a new key expires: at expiresAt, or durationHours
// from now; never when both are nil. Both at once is an error.
func (s *Service) expiry(expiresAt *time.Time, durationHours *int64) (*time.Time, error) {
	if durationHours == nil {
		return expiresAt, nil
	}
	if expiresAt != nil {
		return nil, bad("durationHours", "give either durationHours or expiresAt, not both")
	}
	h := *durationHours
	if h < 1 || h > MaxDurationHours {
		return nil, bad("durationHours", "must be a whole number of hours from 1 to %d", MaxDurationHours)
	}
	at := s.now().Add(time.Duration(h) * time.Hour)
	return &at, nil
}

// cleanCreditQuota checks a credit quota in cents and returns what is
// stored: nil for none (nil or 0), else the quota.
func cleanCreditQuota(cents *int64) (*int64, error) {
	switch {
	case cents == nil || *cents == 0:
		return nil, nil
	case *cents < 0 || *cents > MaxCreditQuotaCents:
		return nil, bad("creditQuotaCents", "must be 0 (unlimited) or a positive number of cents up to %d", MaxCreditQuotaCents)
	}
	return cents, nil
}

// Delete deletes key id for good and returns its id. Its row stays (soft
// delete), so that its usage rows, the bill and the audit log still name
// it, but no list, query or gateway sees it any more: every gateway then
// answers 401 invalid_api_key, as for a key that never existed. A key not
// revoked yet is revoked with it, so that a gateway that does not know
// deleted_at (an older version in a rolling upgrade) refuses it too. Who
// may revoke a key may delete it. The audit line keeps its label and mask.
func (s *Service) Delete(ctx context.Context, c *ent.Client, id string) (string, error) {
	k, err := c.APIKey.Get(ctx, id)
	if err != nil {
		return "", store.Classify(err)
	}
	if !actor(ctx, k).CanManage() {
		return "", keys.ErrForbidden
	}
	now := s.now()
	u := c.APIKey.Update().Where(apikey.ID(k.ID), apikey.DeletedAtIsNil()).SetDeletedAt(now)
	v := viewer.FromContext(ctx)
	if v != nil && v.UserID != "" {
		u.SetDeletedBy(v.UserID)
	}
	if k.Status != apikey.StatusREVOKED {
		u.SetStatus(apikey.StatusREVOKED).SetRevokeReason(apikey.RevokeReasonMANUAL).SetRevokedAt(now)
		if v != nil && v.UserID != "" {
			u.SetRevokedBy(v.UserID)
		}
	}
	n, err := u.Save(ctx)
	if err != nil {
		return "", store.Classify(err)
	}
	if n == 0 {
		// Deleted meanwhile by another request: as if it never was.
		return "", ErrNotFound
	}
	// The key leaves the workspace's listed count in the same transaction
	// (see countKeys in ent/schema/apikey.go for why plain SQL).
	if _, err := c.ExecContext(ctx, `UPDATE workspaces SET api_key_count = api_key_count - 1 WHERE id = $1 AND api_key_count > 0`, k.WorkspaceID); err != nil {
		return "", store.Classify(err)
	}
	return k.ID, audit.Record(ctx, c, audit.Event{WorkspaceID: k.WorkspaceID, Action: audit.KeyDeleted, TargetType: "api_key", TargetID: k.ID,
		Details: map[string]string{"label": k.Label, "masked_key": k.MaskedKey, "status": string(Status(k, now))}})
}

// ResetRequests sets key id's request count (and its cache hits) back to
// 0, so that a key that reached its maxRequests (RATE_LIMITED) serves
// again, and returns the key. requests_reset_at moves to now: the ledger
// counts only requests from then on, and every gateway starts the key's
// request budget afresh under a new name (gateway/limits.go), since the
// shared budget counters never go down. Whoever may edit the key may
// reset it.
func (s *Service) ResetRequests(ctx context.Context, c *ent.Client, id string) (*ent.APIKey, error) {
	k, err := c.APIKey.Get(ctx, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	if !actor(ctx, k).CanManage() {
		return nil, keys.ErrForbidden
	}
	// Microseconds: what PostgreSQL keeps, so that every reader (gateways,
	// the ledger) derives the same budget name from it.
	now := s.now().UTC().Truncate(time.Microsecond)
	was, hits := k.RequestCount, k.CacheHits
	k, err = c.APIKey.UpdateOne(k).SetRequestCount(0).SetCacheHits(0).SetRequestsResetAt(now).Save(ctx)
	if err != nil {
		return nil, store.Classify(err)
	}
	return k, audit.Record(ctx, c, audit.Event{WorkspaceID: k.WorkspaceID, Action: audit.KeyRequestsReset, TargetType: "api_key", TargetID: k.ID,
		Details: map[string]string{"request_count_was": fmt.Sprint(was), "cache_hits_was": fmt.Sprint(hits), "max_requests": fmt.Sprint(k.MaxRequests)}})
}
