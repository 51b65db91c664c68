package audit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/auditevent"
	"github.com/oais/oais/ent/privacy"
	"github.com/oais/oais/ent/usageevent"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/viewer"
)

// AuthFailed: gateways refused a known key (revoked, expired, disabled, a
// disallowed address, an inactive or suspended workspace, bound to another
// gateway). One line per key and minute, with the count and the codes,
// never the secret: written by RecordAuthFailures from the ledger's error
// rows, so a client hammering a dead key costs one line a minute.
const AuthFailed = "key.auth_failed"

// AuthFailureCodes are the gateway's error codes (CONTRACT §3) that count
// as a failed authentication of a known key.
var AuthFailureCodes = []string{"invalid_api_key", "api_key_revoked", "api_key_expired", "api_key_disabled",
	"ip_not_allowed", "workspace_inactive", "workspace_suspended"}

// AuthFailureLookback is how many whole minutes each RecordAuthFailures
// run looks back: a control plane that was down for less still writes the
// lines of the minutes it missed. Error rows that reach the ledger later
// than a minute after their minute ended (a gateway's spool offline) are
// not counted in a line already written.
const AuthFailureLookback = 10 * time.Minute

// RecordAuthFailures writes the AuthFailed lines of the whole minutes of
// the last AuthFailureLookback before the minute that ended at now, and
// returns how many it wrote. Each line's id is derived from its workspace,
// key and minute, so every control plane may run it: a line is stored once.
// It reads usage_events by primary key range (ids are time-ordered by when
// the request happened), one minute at a time.
func RecordAuthFailures(ctx context.Context, c *ent.Client, now time.Time) (int, error) {
	sys := viewer.SystemContext(ctx)
	end := now.UTC().Truncate(time.Minute).Add(-time.Minute)
	written := 0
	for m := end.Add(-AuthFailureLookback); m.Before(end); m = m.Add(time.Minute) {
		var rows []struct {
			WorkspaceID string `json:"workspace_id"`
			APIKeyID    string `json:"api_key_id"`
			ErrorCode   string `json:"error_code"`
			Count       int    `json:"count"`
		}
		err := c.UsageEvent.Query().
			Where(usageevent.IDGTE(ids.Floor(ids.UsageEvent, m)), usageevent.IDLT(ids.Floor(ids.UsageEvent, m.Add(time.Minute))),
				usageevent.ErrorCodeIn(AuthFailureCodes...), usageevent.APIKeyIDNEQ("")).
			GroupBy(usageevent.FieldWorkspaceID, usageevent.FieldAPIKeyID, usageevent.FieldErrorCode).
			Aggregate(ent.Count()).Scan(sys, &rows)
		if err != nil {
			return written, fmt.Errorf("audit: read failed authentications of %s: %w", m.Format(time.RFC3339), err)
		}
		type keyMinute struct{ ws, key string }
		counts := map[keyMinute]map[string]int{}
		var order []keyMinute
		for _, r := range rows {
			k := keyMinute{r.WorkspaceID, r.APIKeyID}
			if counts[k] == nil {
				counts[k] = map[string]int{}
				order = append(order, k)
			}
			counts[k][r.ErrorCode] += r.Count
		}
		for _, k := range order {
			total, codes := 0, make([]string, 0, len(counts[k]))
			for _, code := range slices.Sorted(maps.Keys(counts[k])) {
				total += counts[k][code]
				codes = append(codes, fmt.Sprintf("%s:%d", code, counts[k][code]))
			}
			id := ids.Derived(ids.AuditEvent, m, strings.Join([]string{AuthFailed, k.ws, k.key, m.Format(time.RFC3339)}, "|"))
			allow := privacy.DecisionContext(sys, privacy.Allow)
			if seen, err := c.AuditEvent.Query().Where(auditevent.ID(id)).Exist(allow); err != nil {
				return written, fmt.Errorf("audit: look up failed authentications of key %s: %w", k.key, err)
			} else if seen {
				continue
			}
			err := c.AuditEvent.Create().SetID(id).SetAction(AuthFailed).SetWorkspaceID(k.ws).
				SetTargetType("api_key").SetTargetID(k.key).
				SetDetails(map[string]string{"count": fmt.Sprint(total), "codes": strings.Join(codes, ","), "minute": m.Format(time.RFC3339)}).
				Exec(allow)
			if ent.IsConstraintError(err) {
				continue // another control plane wrote it first
			}
			if err != nil {
				return written, fmt.Errorf("audit: record failed authentications of key %s: %w", k.key, err)
			}
			written++
		}
	}
	return written, nil
}
