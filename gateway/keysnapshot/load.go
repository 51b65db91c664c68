package keysnapshot

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/netip"
	"strings"
	"time"

	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/internal/keys"
)

// keyColumns are the api_keys columns a Principal needs, in keyRow's order.
var keyColumns = []string{
	apikey.FieldID, apikey.FieldWorkspaceID, apikey.FieldSecretHash, apikey.FieldStatus, apikey.FieldRevokeReason,
	apikey.FieldExpiresAt, apikey.FieldGraceUntil, apikey.FieldMaxRequests, apikey.FieldRequestCount,
	apikey.FieldAllowedModels, apikey.FieldIPAllowlist, apikey.FieldRpm, apikey.FieldTpm, apikey.FieldCacheEnabled,
	apikey.FieldRequestsResetAt, apikey.FieldCreditQuotaCents, apikey.FieldCreditUsedMicros, apikey.FieldDeletedAt,
	apikey.FieldGroupID, apikey.FieldGatewayName,
}

// keyRow is one row of keyColumns. Its RawBytes are the driver's buffers,
// valid until the next row: nothing is allocated per row for them.
type keyRow struct {
	id, workspaceID, hash, status, reason sql.RawBytes
	expiresAt, graceUntil                 sql.NullTime
	maxRequests, requestCount             int64
	allowedModels, ipAllowlist            sql.RawBytes
	rpm, tpm                              sql.NullInt64
	cache                                 bool
	resetAt, deletedAt                    sql.NullTime
	creditQuota                           sql.NullInt64 // cents
	creditUsed                            int64         // micro-dollars
	groupID, gatewayName                  sql.RawBytes  // NULL: empty
}

// readKeys streams every key changed at or after since (all when zero) to
// fn, with one plain query selecting only keyColumns: loading through ent
// materialised a full *ent.APIKey per row, about a kilobyte each. It goes
// through the ent client's driver, so it works on SQLite and PostgreSQL
// alike ($1 is a positional parameter on both) and sees what ent sees.
func (s *Snapshot) readKeys(ctx context.Context, since time.Time, fn func(*keyRow)) error {
	if since.IsZero() {
		return s.queryKeys(ctx, "", nil, fn)
	}
	return s.queryKeys(ctx, " WHERE "+apikey.FieldUpdatedAt+" >= $1", since, fn)
}

// readKey reads the key of hash h, if there is one, to fn: a point read
// by the unique index on secret_hash.
func (s *Snapshot) readKey(ctx context.Context, h keys.Hash, fn func(*keyRow)) error {
	return s.queryKeys(ctx, " WHERE "+apikey.FieldSecretHash+" = $1", h.String(), fn)
}

// queryKeys streams the keys matching where (empty, or " WHERE …" with
// one parameter, arg) to fn.
func (s *Snapshot) queryKeys(ctx context.Context, where string, arg any, fn func(*keyRow)) error {
	q := "SELECT " + strings.Join(keyColumns, ", ") + " FROM " + apikey.Table + where
	var args []any
	if where != "" {
		args = append(args, arg)
	}
	rows, err := s.client.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var r keyRow
	for rows.Next() {
		if err := rows.Scan(&r.id, &r.workspaceID, &r.hash, &r.status, &r.reason, &r.expiresAt, &r.graceUntil,
			&r.maxRequests, &r.requestCount, &r.allowedModels, &r.ipAllowlist, &r.rpm, &r.tpm, &r.cache,
			&r.resetAt, &r.creditQuota, &r.creditUsed, &r.deletedAt, &r.groupID, &r.gatewayName); err != nil {
			return err
		}
		fn(&r)
	}
	return rows.Err()
}

// clone returns a copy of r that owns its bytes, valid after the next row.
func (r *keyRow) clone() keyRow {
	c := *r
	for _, b := range []*sql.RawBytes{&c.id, &c.workspaceID, &c.hash, &c.status, &c.reason, &c.allowedModels, &c.ipAllowlist, &c.groupID, &c.gatewayName} {
		*b = bytes.Clone(*b)
	}
	return c
}

// decodeKey turns a row into a key's hash and fields, the workspace
// resolved (s.mu is held). id makes the key's id string from its bytes.
// It reports false for a row that cannot be a usable key, a deleted one
// included (deleted reports which: a poll then drops the key it held).
func (s *Snapshot) decodeKey(r *keyRow, id func([]byte) string) (h keys.Hash, f keyFields, ok bool) {
	h, err := keys.ParseHashBytes(r.hash)
	if err != nil {
		s.opts.Logger.Error("key snapshot: stored hash is malformed; key skipped", "key_id", string(r.id))
		return h, f, false
	}
	if deleted(r) {
		return h, f, false
	}
	f.id = id(r.id)
	f.ws = s.workspaceLocked(r.workspaceID)
	switch string(r.status) { // string(b) in a switch does not allocate
	case string(keys.StatusActive):
		f.status = 0
	case string(keys.StatusDisabled):
		f.status = 1
	case string(keys.StatusRevoked):
		f.status = 2
	default:
		// The column is an enum of the three; anything else fails closed.
		s.opts.Logger.Error("key snapshot: unknown stored status; key disabled", "key_id", f.id, "status", string(r.status))
		f.status = 1
	}
	switch string(r.reason) {
	case string(keys.ReasonManual):
		f.reason = 1
	case string(keys.ReasonBulk):
		f.reason = 2
	case string(keys.ReasonLeaked):
		f.reason = 3
	case string(keys.ReasonRotated):
		f.reason = 4
	}
	f.rpm, f.tpm, f.cache = r.rpm.Int64, r.tpm.Int64, r.cache
	// keyMore is allocated only for the few keys that need one.
	if r.maxRequests == 0 && !r.expiresAt.Valid && !r.graceUntil.Valid && len(r.allowedModels) == 0 && len(r.ipAllowlist) == 0 &&
		!r.creditQuota.Valid && len(r.groupID) == 0 && len(r.gatewayName) == 0 {
		return h, f, true
	}
	m := &keyMore{groupID: string(r.groupID), gatewayName: string(r.gatewayName)}
	if r.maxRequests > 0 {
		// The count only matters against a limit (keys.State.Effective,
		// the gateway's request budget), so it is kept only then, and so
		// is the generation of that budget.
		m.maxRequests, m.requestCount = r.maxRequests, r.requestCount
		if r.resetAt.Valid {
			m.requestGen = r.resetAt.Time.UnixMicro()
		}
	}
	if r.creditQuota.Valid && r.creditQuota.Int64 > 0 {
		// Cents to micro-dollars: the quota is at most 2^40 cents
		// (internal/apikeys), far from overflowing.
		m.creditQuota, m.creditUsed = r.creditQuota.Int64*10_000, r.creditUsed
	}
	if r.expiresAt.Valid {
		m.expiresAt = r.expiresAt.Time
	}
	if r.graceUntil.Valid {
		m.graceUntil = r.graceUntil.Time
	}
	// As ent reads the JSON columns: empty means none.
	if len(r.allowedModels) > 0 {
		if err := json.Unmarshal(r.allowedModels, &m.allowedModels); err != nil {
			// Fail closed: a list we cannot read allows no model.
			s.opts.Logger.Error("key snapshot: allowed_models unreadable; the key allows no model", "key_id", f.id)
			m.allowedModels = []string{""}
		}
	}
	if len(r.ipAllowlist) > 0 {
		var cidrs []string
		if err := json.Unmarshal(r.ipAllowlist, &cidrs); err != nil {
			s.opts.Logger.Error("key snapshot: ip_allowlist unreadable; the key allows no address", "key_id", f.id)
			cidrs = []string{""}
		}
		for _, c := range cidrs {
			pfx, err := netip.ParsePrefix(c)
			if err != nil {
				// Fail closed: an entry we cannot read must not turn the
				// list into "any address". The zero Prefix contains no
				// address.
				pfx = netip.Prefix{}
			}
			m.ipAllowlist = append(m.ipAllowlist, pfx)
		}
	}
	f.more = m
	return h, f, true
}

// deleted reports whether r is a deleted key (deleteAPIKey): gone for the
// gateway, as a key that never existed (401 invalid_api_key).
func deleted(r *keyRow) bool { return r.deletedAt.Valid }
