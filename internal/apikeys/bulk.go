package apikeys

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/store"
)

// MaxBulkRevoke bounds revokeAPIKeys: one page of the dashboard's key list
// is at most 100 rows, and the audit line names every id.
const MaxBulkRevoke = 100

// RevokeMany revokes the chosen keys (BULK) and returns how many it revoked;
// keys already revoked are skipped. It is all or nothing: an id the viewer
// cannot see answers ErrNotFound and one they may not revoke keys.ErrForbidden,
// and the caller's transaction then leaves every key as it was. One audit
// line per workspace names the count and the ids, so a bulk action reads as
// one action in the log.
func (s *Service) RevokeMany(ctx context.Context, c *ent.Client, ids []string) (int, error) {
	uniq := slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(uniq) == 0 || len(uniq) > MaxBulkRevoke {
		return 0, bad("ids", "give 1 to %d key ids", MaxBulkRevoke)
	}
	found, err := c.APIKey.Query().Where(apikey.IDIn(uniq...)).Order(ent.Asc(apikey.FieldID)).All(ctx)
	if err != nil {
		return 0, store.Classify(err)
	}
	if len(found) != len(uniq) {
		return 0, ErrNotFound
	}
	revoked := map[string][]string{}
	var order []string
	for _, k := range found {
		st := State(k)
		if err := keys.Transition(&st, keys.StatusRevoked, actor(ctx, k)); err != nil {
			return 0, err
		}
		if k.Status == apikey.StatusREVOKED {
			continue
		}
		if _, err := s.revoke(ctx, c, k, keys.ReasonBulk); err != nil {
			return 0, err
		}
		if _, seen := revoked[k.WorkspaceID]; !seen {
			order = append(order, k.WorkspaceID)
		}
		revoked[k.WorkspaceID] = append(revoked[k.WorkspaceID], k.ID)
	}
	n := 0
	for _, ws := range order {
		ids := revoked[ws]
		n += len(ids)
		if err := audit.Record(ctx, c, audit.Event{WorkspaceID: ws, Action: audit.KeyRevokedBulk, TargetType: "workspace", TargetID: ws,
			Details: map[string]string{"count": fmt.Sprint(len(ids)), "ids": strings.Join(ids, ",")}}); err != nil {
			return 0, err
		}
	}
	return n, nil
}
