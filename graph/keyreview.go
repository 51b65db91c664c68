package graph

import (
	"fmt"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/ent/predicate"
	"github.com/oais/oais/graph/model"
	"github.com/oais/oais/internal/keys"
)

// Bounds of issue 16's lists: workspaceIDs of Query.apiKeys (a user belongs
// to at most workspaces.MaxWorkspaces), the request log's default page.
const (
	maxWorkspaceFilter    = 100
	defaultRequestLogPage = 50
)

// maxReviewDays bounds the day counts of APIKeyReviewFilter (ten years).
const maxReviewDays = 3650

// keyListFilters applies the filters Workspace.apiKeys and Query.apiKeys
// share (effective status, search, review) to q.
func keyListFilters(q *ent.APIKeyQuery, status *keys.Status, search *string, review *model.APIKeyReviewFilter, now time.Time) (*ent.APIKeyQuery, error) {
	if status != nil {
		q = q.Where(statusPredicate(*status, now))
	}
	if search != nil && *search != "" {
		s := *search
		if len(s) > 100 {
			return nil, badInput("search", "at most 100 characters")
		}
		q = q.Where(apikey.Or(apikey.ID(s), apikey.LabelContainsFold(s), apikey.MaskedKeyHasSuffix(s)))
	}
	ps, err := reviewPredicates(review, now)
	if err != nil {
		return nil, err
	}
	return q.Where(ps...), nil
}

// emptyReview reports whether review filters nothing.
func emptyReview(r *model.APIKeyReviewFilter) bool {
	return r == nil || (r.UnusedDays == nil && r.ExpiringWithinDays == nil && r.NearLimitPercent == nil)
}

// reviewPredicates turns the review filters into predicates on api_keys.
// "Unused for N days" counts never-used keys too, however new: a key nobody
// has called is what the review is for. "Near a limit" compares in integers
// (request_count * 100 >= max_requests * pct, and credit_used_micros >=
// credit_quota_cents * 100 * pct, a cent being 10,000 micro-dollars).
func reviewPredicates(r *model.APIKeyReviewFilter, now time.Time) ([]predicate.APIKey, error) {
	if r == nil {
		return nil, nil
	}
	var ps []predicate.APIKey
	if d := r.UnusedDays; d != nil {
		if *d < 1 || *d > maxReviewDays {
			return nil, badInput("review.unusedDays", fmt.Sprintf("must be between 1 and %d days", maxReviewDays))
		}
		cutoff := now.Add(-time.Duration(*d) * 24 * time.Hour)
		ps = append(ps, apikey.Or(apikey.LastUsedAtIsNil(), apikey.LastUsedAtLT(cutoff)))
	}
	if d := r.ExpiringWithinDays; d != nil {
		if *d < 1 || *d > maxReviewDays {
			return nil, badInput("review.expiringWithinDays", fmt.Sprintf("must be between 1 and %d days", maxReviewDays))
		}
		ps = append(ps, apikey.ExpiresAtGT(now), apikey.ExpiresAtLTE(now.Add(time.Duration(*d)*24*time.Hour)))
	}
	if p := r.NearLimitPercent; p != nil {
		if *p < 1 || *p > 100 {
			return nil, badInput("review.nearLimitPercent", "must be between 1 and 100")
		}
		pct := int64(*p) // validated: safe to write into the SQL
		requests := apikey.And(apikey.MaxRequestsGT(0), func(s *sql.Selector) {
			s.Where(sql.ExprP(fmt.Sprintf("%s * 100 >= %s * %d", s.C(apikey.FieldRequestCount), s.C(apikey.FieldMaxRequests), pct)))
		})
		credit := apikey.And(apikey.CreditQuotaCentsNotNil(), func(s *sql.Selector) {
			s.Where(sql.ExprP(fmt.Sprintf("%s >= %s * %d", s.C(apikey.FieldCreditUsedMicros), s.C(apikey.FieldCreditQuotaCents), 100*pct)))
		})
		ps = append(ps, apikey.Or(requests, credit))
	}
	return ps, nil
}
