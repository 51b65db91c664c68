package ledger

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/usage"
)

// LatencyBuckets are the inclusive upper bounds, in milliseconds, of the
// latency histogram that hourly rollups keep per workspace (a 1-1.2-1.5-2-
// 2.5-3-4-5-6-8 series: each bound is at most 25 % above the one before).
// Latency percentiles are read from it, so they are reported as the upper
// bound of the bucket that holds them: "p95 ≤ 1,200 ms". The last bucket is
// open; a percentile that falls in it is reported as the bound before it.
// Append only: rows store bucket indexes.
var LatencyBuckets = []int64{
	1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80,
	100, 120, 150, 200, 250, 300, 400, 500, 600, 800,
	1000, 1200, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000,
	10000, 12000, 15000, 20000, 25000, 30000, 40000, 50000, 60000, 80000,
	100000, 120000, 150000, 200000, 300000, 600000, math.MaxInt64,
}

// latencyBucket returns the index of the bucket that holds ms.
func latencyBucket(ms int64) int {
	return sort.Search(len(LatencyBuckets)-1, func(i int) bool { return LatencyBuckets[i] >= ms })
}

// numBuckets is len(LatencyBuckets), as a constant for histogram.
const numBuckets = 54

func init() {
	if len(LatencyBuckets) != numBuckets {
		panic("ledger: numBuckets must be len(LatencyBuckets)")
	}
}

// histogram counts answered requests per latency bucket.
type histogram [numBuckets]int64

// add counts n requests of latency ms.
func (h *histogram) add(ms, n int64) { h[latencyBucket(ms)] += n }

// percentile is the upper bound of the bucket that holds the value of rank
// ceil(p × n), as percentile_disc ranks: 0 for an empty histogram.
func (h *histogram) percentile(p float64) int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(p*float64(n))), 1)
	var cum int64
	for i, c := range h {
		cum += c
		if cum >= rank {
			if i == len(h)-1 {
				return LatencyBuckets[i-1]
			}
			return LatencyBuckets[i]
		}
	}
	return LatencyBuckets[len(LatencyBuckets)-2]
}

// rollupKey names one usage_rollups row.
type rollupKey struct {
	ws      string
	hour    time.Time
	key     string
	model   string
	channel string
}

// rollupRow is what a batch adds to one usage_rollups row.
type rollupRow struct {
	requests, errors, cacheHits          int64
	prompt, completion, cached, cost, ms int64
}

// histKey names one latency_rollups row.
type histKey struct {
	ws     string
	hour   time.Time
	bucket int
}

// rollupColumns are the usage_rollups counters, in rollupRow order.
var rollupColumns = []string{"requests", "errors", "cache_hits", "prompt_tokens", "completion_tokens",
	"cached_tokens", "cost_micros", "latency_ms_sum"}

// rollupsPerStatement bounds a multi-row upsert: 14 values a row stays far
// below both databases' bind-variable limits, and the statement text small.
const rollupsPerStatement = 100

// rollup adds the inserted records to the hourly rollups, in t. Rows are
// upserted in index order so that concurrent shippers lock them in one
// order and never deadlock.
func (l *Ledger) rollup(ctx context.Context, t txn, recs []*usage.Record, inserted map[string]struct{}, now time.Time) error {
	rows := make(map[rollupKey]*rollupRow)
	hist := make(map[histKey]int64)
	for _, r := range recs {
		if _, ok := inserted[r.RequestID]; !ok {
			continue
		}
		hour := occurredAt(r, now).Truncate(time.Hour)
		k := rollupKey{ws: r.WorkspaceID, hour: hour, key: r.KeyID, model: storedModel(r), channel: storedChannel(r)}
		v := rows[k]
		if v == nil {
			v = &rollupRow{}
			rows[k] = v
		}
		addRecord(v, r)
		if answered(r.Status) {
			hist[histKey{ws: r.WorkspaceID, hour: hour, bucket: latencyBucket(r.LatencyMillis)}]++
		}
	}
	if err := l.upsertRollups(ctx, t, rows); err != nil {
		return fmt.Errorf("ledger: update usage rollups: %w", err)
	}
	if err := l.upsertHistogram(ctx, t, hist); err != nil {
		return fmt.Errorf("ledger: update latency rollups: %w", err)
	}
	return nil
}

// addRecord adds r to v with Summary's rules, saturating (Ship bounds
// every record, so a batch cannot reach the limit; a row can, over time).
func addRecord(v *rollupRow, r *usage.Record) {
	add := usage.SaturatingAdd
	if answered(r.Status) {
		v.requests++
		if r.CacheHit {
			v.cacheHits++
		}
		v.ms = add(v.ms, r.LatencyMillis)
	} else {
		v.errors++
	}
	v.prompt = add(v.prompt, r.PromptTokens)
	v.completion = add(v.completion, r.CompletionTokens)
	v.cached = add(v.cached, r.CachedTokens)
	v.cost = add(v.cost, r.CostMicros)
}

func (l *Ledger) upsertRollups(ctx context.Context, t txn, rows map[rollupKey]*rollupRow) error {
	keys := make([]rollupKey, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b rollupKey) int {
		return cmp.Or(strings.Compare(a.ws, b.ws), a.hour.Compare(b.hour), strings.Compare(a.key, b.key), strings.Compare(a.model, b.model), strings.Compare(a.channel, b.channel))
	})
	// A row's counters saturate at int64's limit instead of failing the
	// upsert (PostgreSQL: "bigint out of range"), which failed the batch,
	// and every batch after it, for every tenant.
	add := "MIN(usage_rollups.%[1]s + excluded.%[1]s, 9223372036854775807)" // SQLite: an overflowing + is a REAL
	if l.pg {
		add = "LEAST(usage_rollups.%[1]s::numeric + excluded.%[1]s, 9223372036854775807)::bigint"
	}
	var set strings.Builder
	for i, c := range rollupColumns {
		if i > 0 {
			set.WriteString(", ")
		}
		fmt.Fprintf(&set, "%[1]s = "+add, c)
	}
	cols := "id, workspace_id, hour, api_key_id, model, channel, " + strings.Join(rollupColumns, ", ")
	row := "(" + placeholders(6+len(rollupColumns)) + ")"
	for chunk := range slices.Chunk(keys, rollupsPerStatement) {
		args := make([]any, 0, len(chunk)*(6+len(rollupColumns)))
		for _, k := range chunk {
			v := rows[k]
			args = append(args, ids.NewAt(ids.UsageRollup, k.hour), k.ws, k.hour, k.key, k.model, k.channel,
				v.requests, v.errors, v.cacheHits, v.prompt, v.completion, v.cached, v.cost, v.ms)
		}
		q := "INSERT INTO usage_rollups (" + cols + ") VALUES " + strings.TrimSuffix(strings.Repeat(row+",", len(chunk)), ",") +
			" ON CONFLICT (workspace_id, hour, api_key_id, model, channel) DO UPDATE SET " + set.String()
		if err := t.exec(ctx, l.rebind(q), args...); err != nil {
			return err
		}
	}
	return nil
}

func (l *Ledger) upsertHistogram(ctx context.Context, t txn, hist map[histKey]int64) error {
	keys := make([]histKey, 0, len(hist))
	for k := range hist {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b histKey) int {
		return cmp.Or(strings.Compare(a.ws, b.ws), a.hour.Compare(b.hour), cmp.Compare(a.bucket, b.bucket))
	})
	for chunk := range slices.Chunk(keys, rollupsPerStatement) {
		args := make([]any, 0, len(chunk)*5)
		for _, k := range chunk {
			args = append(args, ids.NewAt(ids.LatencyRollup, k.hour), k.ws, k.hour, k.bucket, hist[k])
		}
		q := "INSERT INTO latency_rollups (id, workspace_id, hour, bucket, count) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?,?,?,?,?),", len(chunk)), ",") +
			" ON CONFLICT (workspace_id, hour, bucket) DO UPDATE SET count = latency_rollups.count + excluded.count"
		if err := t.exec(ctx, l.rebind(q), args...); err != nil {
			return err
		}
	}
	return nil
}
