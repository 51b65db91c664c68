package ledger

import (
	"context"
	"time"
)

// Exposure is what a key did in a time range: for a leaked key, its use
// since the exposure.
type Exposure struct {
	Requests   int64
	CostMicros int64
	IPs        []string // most requests first, at most MaxExposureRows
	Models     []string // most requests first, at most MaxExposureRows
}

// MaxExposureRows bounds the addresses and models an Exposure lists.
const MaxExposureRows = 50

// KeyExposure returns the use of key keyID of workspace wsID from since
// until now. Callers check the viewer may see the key.
func (l *Ledger) KeyExposure(ctx context.Context, wsID, keyID string, since time.Time) (Exposure, error) {
	var x Exposure
	where := "e.workspace_id = ? AND e.api_key_id = ? AND e.occurred_at >= ?"
	args := []any{wsID, keyID, since.UTC()}
	err := l.queryDB(ctx, `SELECT COALESCE(SUM(CASE WHEN e.status < 400 THEN 1 ELSE 0 END), 0), `+l.sum("e.cost_micros")+`
		FROM usage_events e WHERE `+where, args, func(r rowScanner) error { return r.Scan(&x.Requests, &x.CostMicros) })
	if err != nil {
		return x, err
	}
	top := func(col string, dst *[]string) error {
		return l.queryDB(ctx, `SELECT `+col+`, COUNT(*) AS n FROM usage_events e WHERE `+where+` AND `+col+` IS NOT NULL AND `+col+` <> ''
			GROUP BY `+col+` ORDER BY n DESC, `+col+` LIMIT 50`, args, func(r rowScanner) error {
			var v string
			var n int64
			if err := r.Scan(&v, &n); err != nil {
				return err
			}
			*dst = append(*dst, v)
			return nil
		})
	}
	if err := top("e.client_ip", &x.IPs); err != nil {
		return x, err
	}
	return x, top("e.model", &x.Models)
}
