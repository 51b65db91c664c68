package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/usage"
)

// Lengths of ent/schema/usageevent.go; raise both together. ent checks them
// only on its own writes, so Ship checks them on its raw ones.
const (
	maxRequestID = 128
	maxModel     = 200
	maxEndpoint  = 100
	maxClientIP  = 64
	// maxEstimateReason bounds a free-text column ent leaves unbounded.
	maxEstimateReason = 100
	maxErrorCode      = 64
	// maxChannel is a channel's name (internal/channels.MaxName).
	maxChannel = 100
)

// eventColumns are the usage_events columns Ship writes, in the order of
// rowValues. billing_period_id stays NULL until billing claims the row.
var eventColumns = []string{
	"id", "request_id", "api_key_id", "workspace_id", "model", "endpoint", "stream",
	"prompt_tokens", "completion_tokens", "cached_tokens", "cost_micros", "status",
	"latency_ms", "cache_hit", "source", "estimate_reason", "client_ip",
	"error_code", "channel", "occurred_at", "ingested_at",
}

// columnList is eventColumns for a statement.
var columnList = strings.Join(eventColumns, ", ")

// rowValues returns r's column values in eventColumns order.
func rowValues(dst []any, r *usage.Record, now time.Time) []any {
	d := derive(r, now)
	return append(dst,
		d.id, r.RequestID, r.KeyID, r.WorkspaceID, d.model, d.endpoint, r.Stream,
		r.PromptTokens, r.CompletionTokens, r.CachedTokens, r.CostMicros, int64(r.Status),
		r.LatencyMillis, r.CacheHit, string(r.Source), nullString(d.estimateReason),
		nullString(d.clientIP), nullString(d.errorCode), nullString(d.channel), d.at, now)
}

// derived is what a stored row holds of a record other than its fields
// as they are: a new id, the time, and text cleaned and cut to its column.
type derived struct {
	id, model, endpoint, clientIP, estimateReason, errorCode, channel string
	at                                                                time.Time
}

func derive(r *usage.Record, now time.Time) derived {
	at := occurredAt(r, now)
	return derived{
		id: ids.NewAt(ids.UsageEvent, at), at: at, model: storedModel(r),
		endpoint: store.Clean(r.Endpoint, maxEndpoint), clientIP: store.Clean(r.ClientIP, maxClientIP),
		estimateReason: store.Clean(r.EstimateReason, maxEstimateReason),
		errorCode:      store.Clean(r.ErrorCode, maxErrorCode),
		channel:        storedChannel(r),
	}
}

// storedModel is r's model as the events and rollups store it. A model
// name is client input that a lenient upstream accepted: a NUL byte or
// invalid UTF-8 in it made PostgreSQL refuse the whole batch.
func storedModel(r *usage.Record) string { return store.Clean(r.Model, maxModel) }

// storedChannel is the channel that Ship stores for r, in its event and its
// rollup ("" in a rollup where the event holds NULL).
func storedChannel(r *usage.Record) string { return store.Clean(r.Channel, maxChannel) }

// occurredAt is when r happened, in UTC. A record without a time is a bug
// upstream; it is stored as happening now rather than losing its cost.
func occurredAt(r *usage.Record, now time.Time) time.Time {
	if r.Time.IsZero() {
		return now
	}
	return r.Time.UTC()
}

// answered reports whether r counts as a request: refusals and upstream
// errors (status >= 400) are stored, for error rates, but not counted.
func answered(status int) bool { return status < 400 }

// knownSource reports a Source the ledger stores.
func knownSource(s usage.Source) bool {
	switch s {
	case usage.SourceUpstream, usage.SourceEstimated, usage.SourceCache, usage.SourceNone:
		return true
	}
	return false
}

// Ship stores batch in usage_events and adds the new records to their keys'
// counters and the hourly rollups, in one transaction. It is idempotent by
// RequestID: a record already stored is skipped and counted nowhere, so a
// batch shipped twice changes nothing the second time.
//
// A refused or failed request's record (usage.Record.ErrorCode) is stored
// with no tokens and no cost, whatever it carries: refusals are never
// billed, and every sum (analytics, quotas, billing) can add every row.
//
// No record can block its batch, which would wedge the spool and with it
// every tenant's usage. A record that can never be stored is quarantined
// (usage_quarantine, quarantine.go) in the same transaction as the rest:
// one that fails validation (no request id, key or workspace, an unknown
// source, a count or cost out of its bounds), or one the database itself
// refuses (a data or constraint error), found by shipping the batch again
// in halves. Records whose key no longer exists, or belongs to another
// workspace than the record says, are logged and dropped: their workspace
// is gone. Any other error (the database unreachable, a cancelled ctx)
// fails the whole batch, which the spool retries.
//
// The key counters are updated with raw SQL that leaves updated_at alone:
// gateways poll updated_at to reload changed keys, and usage is not a
// change they need to reload for.
func (l *Ledger) Ship(ctx context.Context, batch []usage.Record) error {
	recs, bad := l.valid(batch)
	if len(recs) == 0 && len(bad) == 0 {
		return nil
	}
	added, err := l.shipOnce(ctx, recs, bad)
	if err != nil && refused(err) {
		// A record the database refuses fails its whole batch, every time.
		added, err = l.shipIsolating(ctx, recs, bad)
	}
	if err != nil {
		return store.Classify(err)
	}
	l.reportQuarantined(added)
	return nil
}

// shipOnce ships recs and quarantines bad in one transaction, with COPY
// for a large batch on PostgreSQL. It returns the newly quarantined.
func (l *Ledger) shipOnce(ctx context.Context, recs []*usage.Record, bad []quarantined) ([]quarantined, error) {
	if l.pg && l.copyMin > 0 && len(recs) >= l.copyMin {
		return l.shipCopy(ctx, recs, bad)
	}
	var added []quarantined
	err := l.inTx(ctx, func(t sqlTxn, insert insertFunc) error {
		if err := l.ship(ctx, t, recs, insert); err != nil {
			return err
		}
		var err error
		added, err = l.quarantine(ctx, t, bad)
		return err
	})
	return added, err
}

// inTx runs f in a database/sql transaction on a connection of its own, so
// that insertRows can use the driver's statement directly inside it, with
// the insert of the store's dialect for small batches.
func (l *Ledger) inTx(ctx context.Context, f func(t sqlTxn, insert insertFunc) error) error {
	conn, err := l.s.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	insert := l.insertValues
	if !l.pg {
		insert = l.insertRows
	}
	if err := f(sqlTxn{tx: tx, conn: conn}, insert); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// insertFunc inserts recs, skipping request ids already stored, and returns
// the request ids it inserted.
type insertFunc func(ctx context.Context, t txn, recs []*usage.Record, now time.Time) (map[string]struct{}, error)

// valid returns the records of batch that can be stored, without
// duplicate request ids (the first wins), and the others with the reason.
func (l *Ledger) valid(batch []usage.Record) ([]*usage.Record, []quarantined) {
	recs := make([]*usage.Record, 0, len(batch))
	seen := make(map[string]struct{}, len(batch))
	var bad []quarantined
	priced := 0
	for i := range batch {
		r := &batch[i]
		if r.IsError() && (r.PromptTokens != 0 || r.CompletionTokens != 0 || r.CachedTokens != 0 || r.CostMicros != 0) {
			priced++
			r.PromptTokens, r.CompletionTokens, r.CachedTokens, r.CostMicros = 0, 0, 0, 0
		}
		if why := check(r); why != "" {
			bad = append(bad, quarantined{rec: r, reason: why, label: quarantineInvalid})
			continue
		}
		if _, dup := seen[r.RequestID]; dup {
			continue
		}
		if r.IsError() && (r.PromptTokens != 0 || r.CompletionTokens != 0 || r.CachedTokens != 0 || r.CostMicros != 0) {
			priced++
			r.PromptTokens, r.CompletionTokens, r.CachedTokens, r.CostMicros = 0, 0, 0, 0
		}
		seen[r.RequestID] = struct{}{}
		recs = append(recs, r)
	}
	if priced > 0 {
		l.log.Warn("usage ledger: refused or failed requests' records carried usage; stored without it (an error is never billed)",
			"count", priced)
	}
	return recs, bad
}

// check returns why r can never be stored, or "".
func check(r *usage.Record) string {
	switch {
	case r.RequestID == "" || len(r.RequestID) > maxRequestID:
		return fmt.Sprintf("request_id missing or over %d bytes", maxRequestID)
	case r.KeyID == "" || r.WorkspaceID == "":
		return "key_id or workspace_id missing"
	case !cleanText(r.RequestID) || !cleanText(r.KeyID) || !cleanText(r.WorkspaceID):
		return "request_id, key_id or workspace_id is not valid UTF-8 without NUL bytes"
	case !knownSource(r.Source):
		return fmt.Sprintf("source %.20q unknown", r.Source)
	}
	for _, n := range []struct {
		field string
		v     int64
	}{{"prompt_tokens", r.PromptTokens}, {"completion_tokens", r.CompletionTokens}, {"cached_tokens", r.CachedTokens}} {
		if n.v < 0 || n.v > usage.MaxTokens {
			return fmt.Sprintf("%s %d outside [0, %d]", n.field, n.v, usage.MaxTokens)
		}
	}
	if r.CostMicros < 0 || r.CostMicros > usage.MaxCostMicros {
		return fmt.Sprintf("cost_micros %d outside [0, %d]", r.CostMicros, int64(usage.MaxCostMicros))
	}
	return ""
}

func cleanText(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// keyState is what Ship needs of an API key.
type keyState struct {
	workspaceID string
	lastUsed    sql.NullTime
	// resetAt is when its request count was last reset: requests from
	// before it are stored and billed, but not counted again.
	resetAt sql.NullTime
}

// ship runs Ship's steps in t.
func (l *Ledger) ship(ctx context.Context, t txn, recs []*usage.Record, insert insertFunc) error {
	keys, err := l.lookupKeys(ctx, t, recs)
	if err != nil {
		return err
	}
	recs = l.dropOrphans(recs, keys)
	if len(recs) == 0 {
		return nil
	}
	if l.pg {
		// Concurrent transactions that insert overlapping request ids
		// wait on each other's index entries; taking them in one order
		// (bytewise, as COLLATE "C" in insertCopy) means they never
		// deadlock. SQLite runs one writer at a time.
		slices.SortFunc(recs, func(a, b *usage.Record) int { return strings.Compare(a.RequestID, b.RequestID) })
	}
	now := time.Now().UTC()
	inserted, err := insert(ctx, t, recs, now)
	if err != nil {
		return err
	}
	if len(inserted) == 0 {
		return nil
	}
	if err := l.rollup(ctx, t, recs, inserted, now); err != nil {
		return err
	}
	return l.count(ctx, t, recs, inserted, keys, now)
}

// lookupKeys reads the keys recs name.
func (l *Ledger) lookupKeys(ctx context.Context, t txn, recs []*usage.Record) (map[string]keyState, error) {
	idSet := make(map[string]struct{})
	for _, r := range recs {
		idSet[r.KeyID] = struct{}{}
	}
	keyIDs := make([]string, 0, len(idSet))
	for id := range idSet {
		keyIDs = append(keyIDs, id)
	}
	keys := make(map[string]keyState, len(keyIDs))
	scan := func(row rowScanner) error {
		var id string
		var k keyState
		if err := row.Scan(&id, &k.workspaceID, &k.lastUsed, &k.resetAt); err != nil {
			return err
		}
		keys[id] = k
		return nil
	}
	const q = `SELECT id, workspace_id, last_used_at, requests_reset_at FROM api_keys WHERE id `
	if l.pg {
		// Locked, in id order as the counter updates below lock them: a
		// request-count reset committing meanwhile is then either seen here
		// or applied after this batch, never undone by it (read before its
		// commit, the old requests_reset_at let records from before the
		// reset be added on top of its zero). SQLite ships under BEGIN
		// IMMEDIATE, which keeps any reset out until the batch commits.
		if err := t.query(ctx, q+`= ANY($1) ORDER BY id FOR UPDATE`, []any{keyIDs}, scan); err != nil {
			return nil, fmt.Errorf("ledger: read keys: %w", err)
		}
		return keys, nil
	}
	for chunk := range slices.Chunk(keyIDs, 500) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if err := t.query(ctx, q+`IN (`+placeholders(len(chunk))+`)`, args, scan); err != nil {
			return nil, fmt.Errorf("ledger: read keys: %w", err)
		}
	}
	return keys, nil
}

// dropOrphans removes, and logs once per key, the records whose key is gone
// or belongs to another workspace. The key's workspace cannot be gone
// while the key exists (api_keys.workspace_id is a foreign key), so this
// also covers deleted workspaces.
func (l *Ledger) dropOrphans(recs []*usage.Record, keys map[string]keyState) []*usage.Record {
	type orphan struct {
		workspaceID string
		n           int
	}
	var orphans map[string]*orphan
	kept := recs[:0]
	for _, r := range recs {
		if k, ok := keys[r.KeyID]; ok && k.workspaceID == r.WorkspaceID {
			kept = append(kept, r)
			continue
		}
		if orphans == nil {
			orphans = make(map[string]*orphan)
		}
		o := orphans[r.KeyID]
		if o == nil {
			o = &orphan{workspaceID: r.WorkspaceID}
			orphans[r.KeyID] = o
		}
		o.n++
	}
	for id, o := range orphans {
		l.log.Warn("usage ledger: dropping usage records whose API key no longer exists or is not in the record's workspace",
			"key_id", id, "workspace_id", o.workspaceID, "key_workspace_id", keys[id].workspaceID, "count", o.n)
	}
	return kept
}

// insertRows inserts recs on SQLite, one row per execution of one prepared
// statement. SQLite has no network round trip to save, and the modernc
// driver binds a statement's parameters in O(params²): BenchmarkShip
// measured a 1,724-row INSERT (SQLite's 32766-variable limit) at 2k
// records/s, 32 rows at 16k to 24k and a reused one-row statement at 19k
// to 25k, with the time then spent in SQLite's B-trees. One-row statements
// also stay far below SQLITE_MAX_VARIABLE_NUMBER (32766).
//
// The statement runs on the driver's connection (inside the transaction
// Ship began on it), with one argument slice reused for every row:
// database/sql would allocate and convert ~1.2 KB of arguments per row,
// which was most of what a gateway on SQLite allocates per request beyond
// a bare proxy (docs/benchmarks.md).
func (l *Ledger) insertRows(ctx context.Context, t txn, recs []*usage.Record, now time.Time) (map[string]struct{}, error) {
	conn := t.(sqlTxn).conn
	inserted := make(map[string]struct{}, len(recs))
	err := conn.Raw(func(dc any) error {
		prep, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("driver %T cannot prepare with a context", dc)
		}
		st, err := prep.PrepareContext(ctx, "INSERT INTO usage_events ("+columnList+") VALUES ("+
			placeholders(len(eventColumns))+") ON CONFLICT DO NOTHING")
		if err != nil {
			return err
		}
		defer st.Close()
		exec, ok := st.(driver.StmtExecContext)
		if !ok {
			return fmt.Errorf("driver statement %T cannot execute with a context", st)
		}
		vals := make([]any, 0, len(eventColumns))
		args := make([]driver.NamedValue, len(eventColumns))
		// The driver watches a cancellable context with a goroutine of its
		// own per execution; a row takes microseconds, so ctx is checked
		// between rows instead.
		rowCtx := context.WithoutCancel(ctx)
		for _, r := range recs {
			if err := ctx.Err(); err != nil {
				return err
			}
			vals = rowValues(vals[:0], r, now) // every value is a driver.Value already
			for i, v := range vals {
				args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
			}
			res, err := exec.ExecContext(rowCtx, args)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				inserted[r.RequestID] = struct{}{}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: insert usage events: %w", err)
	}
	return inserted, nil
}

// insertValues inserts recs on PostgreSQL, for batches too small to be
// worth COPY, with one statement whatever their number: each column
// travels as one array parameter that unnest turns back into rows. The
// text is the same for every batch, so the driver prepares it once per
// connection (a multi-row VALUES list was a new statement for every batch
// size), and the driver encodes 20 arrays instead of 21 values per row.
func (l *Ledger) insertValues(ctx context.Context, t txn, recs []*usage.Record, now time.Time) (map[string]struct{}, error) {
	var c eventArrays
	c.grow(len(recs))
	for _, r := range recs {
		c.add(r, now)
	}
	inserted := make(map[string]struct{}, len(recs))
	err := t.query(ctx, insertArraysQuery, c.args(now), func(row rowScanner) error {
		var id string
		if err := row.Scan(&id); err != nil {
			return err
		}
		inserted[id] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: insert usage events: %w", err)
	}
	return inserted, nil
}

// insertArraysQuery is insertValues's statement: $1..$20 are the columns of
// eventColumns but the last as arrays (empty strings for NULL), $21 the
// ingestion time. ON CONFLICT DO NOTHING skips the request ids already
// stored, and RETURNING names the rows it did insert, which are the only
// ones Ship counts: the answer is exact even when two shippers race with
// the same record. Rows go in by request id, bytewise, as insertCopy's do,
// so that racing shippers take the unique index's entries in one order.
var insertArraysQuery = `INSERT INTO usage_events (` + columnList + `)
SELECT id, request_id, api_key_id, workspace_id, model, endpoint, stream,
	prompt_tokens, completion_tokens, cached_tokens, cost_micros, status,
	latency_ms, cache_hit, source, NULLIF(estimate_reason, ''), NULLIF(client_ip, ''),
	NULLIF(error_code, ''), NULLIF(channel, ''), occurred_at, $21::timestamptz
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[],
	$8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
	$14::boolean[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::timestamptz[])
	AS u(id, request_id, api_key_id, workspace_id, model, endpoint, stream,
	prompt_tokens, completion_tokens, cached_tokens, cost_micros, status,
	latency_ms, cache_hit, source, estimate_reason, client_ip, error_code, channel, occurred_at)
ORDER BY request_id COLLATE "C"
ON CONFLICT DO NOTHING RETURNING request_id`

// eventArrays holds a batch column by column, for insertArraysQuery.
type eventArrays struct {
	id, requestID, keyID, workspaceID, model, endpoint []string
	source, estimateReason, clientIP, errorCode, chans []string
	stream, cacheHit                                   []bool
	prompt, completion, cached, cost, status, latency  []int64
	occurredAt                                         []time.Time
}

func (c *eventArrays) grow(n int) {
	for _, s := range []*[]string{&c.id, &c.requestID, &c.keyID, &c.workspaceID, &c.model, &c.endpoint, &c.source, &c.estimateReason, &c.clientIP, &c.errorCode, &c.chans} {
		*s = make([]string, 0, n)
	}
	for _, s := range []*[]int64{&c.prompt, &c.completion, &c.cached, &c.cost, &c.status, &c.latency} {
		*s = make([]int64, 0, n)
	}
	c.stream, c.cacheHit = make([]bool, 0, n), make([]bool, 0, n)
	c.occurredAt = make([]time.Time, 0, n)
}

// add appends r's values, as rowValues has them.
func (c *eventArrays) add(r *usage.Record, now time.Time) {
	d := derive(r, now)
	c.id = append(c.id, d.id)
	c.requestID = append(c.requestID, r.RequestID)
	c.keyID = append(c.keyID, r.KeyID)
	c.workspaceID = append(c.workspaceID, r.WorkspaceID)
	c.model = append(c.model, d.model)
	c.endpoint = append(c.endpoint, d.endpoint)
	c.stream = append(c.stream, r.Stream)
	c.prompt = append(c.prompt, r.PromptTokens)
	c.completion = append(c.completion, r.CompletionTokens)
	c.cached = append(c.cached, r.CachedTokens)
	c.cost = append(c.cost, r.CostMicros)
	c.status = append(c.status, int64(r.Status))
	c.latency = append(c.latency, r.LatencyMillis)
	c.cacheHit = append(c.cacheHit, r.CacheHit)
	c.source = append(c.source, string(r.Source))
	c.estimateReason = append(c.estimateReason, d.estimateReason)
	c.clientIP = append(c.clientIP, d.clientIP)
	c.errorCode = append(c.errorCode, d.errorCode)
	c.chans = append(c.chans, d.channel)
	c.occurredAt = append(c.occurredAt, d.at)
}

func (c *eventArrays) args(now time.Time) []any {
	return []any{c.id, c.requestID, c.keyID, c.workspaceID, c.model, c.endpoint, c.stream,
		c.prompt, c.completion, c.cached, c.cost, c.status, c.latency, c.cacheHit,
		c.source, c.estimateReason, c.clientIP, c.errorCode, c.chans, c.occurredAt, now}
}

// keyUsage is what one batch adds to one key.
type keyUsage struct {
	requests, cacheHits int64
	cost                int64 // micro-dollars: credit_used_micros
	newest              time.Time
}

// count adds the inserted records to their keys' counters, in key order so
// that concurrent shippers lock keys in the same order and never deadlock.
func (l *Ledger) count(ctx context.Context, t txn, recs []*usage.Record, inserted map[string]struct{}, keys map[string]keyState, now time.Time) error {
	if len(inserted) == 0 {
		return nil
	}
	per := make(map[string]*keyUsage)
	for _, r := range recs {
		if _, ok := inserted[r.RequestID]; !ok {
			continue
		}
		u := per[r.KeyID]
		if u == nil {
			u = &keyUsage{}
			per[r.KeyID] = u
		}
		at := occurredAt(r, now)
		// A request from before the key's count was reset is not counted
		// in the new count (one still in a spool at the reset). Its cost
		// is: the credit quota is never reset.
		if reset := keys[r.KeyID].resetAt; answered(r.Status) && (!reset.Valid || !at.Before(reset.Time)) {
			u.requests++
			if r.CacheHit {
				u.cacheHits++
			}
		}
		u.cost += r.CostMicros // 0 for an error (valid)
		// An error is still a use of the key.
		if at.After(u.newest) {
			u.newest = at
		}
	}
	for _, id := range slices.Sorted(maps.Keys(per)) {
		u := per[id]
		var err error
		switch {
		case l.pg:
			// GREATEST ignores a NULL last_used_at.
			err = t.exec(ctx, `UPDATE api_keys SET request_count = request_count + $1, cache_hits = cache_hits + $2,
				credit_used_micros = credit_used_micros + $3, last_used_at = GREATEST(last_used_at, $4) WHERE id = $5`,
				u.requests, u.cacheHits, u.cost, u.newest, id)
		case !keys[id].lastUsed.Valid || u.newest.After(keys[id].lastUsed.Time):
			// SQLite compares its text times as text, which breaks when an
			// older row was written in another zone; the value read above
			// is parsed, and the write lock (BEGIN IMMEDIATE) is held since.
			err = t.exec(ctx, `UPDATE api_keys SET request_count = request_count + ?, cache_hits = cache_hits + ?,
				credit_used_micros = credit_used_micros + ?, last_used_at = ? WHERE id = ?`, u.requests, u.cacheHits, u.cost, u.newest, id)
		case u.requests > 0 || u.cacheHits > 0 || u.cost > 0:
			err = t.exec(ctx, `UPDATE api_keys SET request_count = request_count + ?, cache_hits = cache_hits + ?,
				credit_used_micros = credit_used_micros + ? WHERE id = ?`, u.requests, u.cacheHits, u.cost, id)
		}
		if err != nil {
			return fmt.Errorf("ledger: update key counters: %w", err)
		}
	}
	return nil
}

// placeholders returns n comma-separated question marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
