package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/oais/oais/internal/usage"
)

// Filter selects the usage events of one workspace, or of one of its keys,
// that occurred in [From, To).
type Filter struct {
	WorkspaceID string
	// KeyID, when set, narrows the filter to one key of the workspace; a
	// key of another workspace matches nothing.
	KeyID    string
	From, To time.Time // To is exclusive
}

// where returns the filter's SQL condition on usage_events e, and its args.
func (f Filter) where() (string, []any, error) {
	switch {
	case f.WorkspaceID == "":
		return "", nil, fmt.Errorf("%w: no workspace", ErrInvalidFilter)
	case f.From.IsZero() || f.To.IsZero():
		return "", nil, fmt.Errorf("%w: from and to are both required", ErrInvalidFilter)
	case !f.From.Before(f.To):
		return "", nil, fmt.Errorf("%w: from must be before to", ErrInvalidFilter)
	}
	q := "e.workspace_id = ? AND e.occurred_at >= ? AND e.occurred_at < ?"
	args := []any{f.WorkspaceID, f.From.UTC(), f.To.UTC()}
	if f.KeyID != "" {
		q += " AND e.api_key_id = ?"
		args = append(args, f.KeyID)
	}
	return q, args, nil
}

// Summary totals a set of usage events. Tokens and cost sum every event,
// as billing does: the gateway decides what a request costs, and a refusal
// carries none.
type Summary struct {
	// Requests counts answered requests (status < 400), by the upstream or
	// the cache; refusals and upstream errors are not requests.
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	TotalTokens      int64 // prompt plus completion
	CostMicros       int64
	// CacheHits counts answered requests served from the response cache.
	CacheHits int64
	// Errors counts events with status >= 400.
	Errors int64
}

// summaryColumns computes a Summary over usage_events e; scanSummary reads
// it. total_cost names the cost for ORDER BY.
const summaryColumns = `
	COALESCE(SUM(CASE WHEN e.status < 400 THEN 1 ELSE 0 END), 0),
	CAST(COALESCE(SUM(e.prompt_tokens), 0) AS BIGINT),
	CAST(COALESCE(SUM(e.completion_tokens), 0) AS BIGINT),
	CAST(COALESCE(SUM(e.cached_tokens), 0) AS BIGINT),
	CAST(COALESCE(SUM(e.cost_micros), 0) AS BIGINT) AS total_cost,
	COALESCE(SUM(CASE WHEN e.status < 400 AND e.cache_hit THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.status >= 400 THEN 1 ELSE 0 END), 0)`

// scanSummary scans the columns before summaryColumns into head, then the
// summary, then the columns after it into tail.
func scanSummary(row rowScanner, s *Summary, head []any, tail ...any) error {
	dest := append(head, &s.Requests, &s.PromptTokens, &s.CompletionTokens, &s.CachedTokens,
		&s.CostMicros, &s.CacheHits, &s.Errors)
	if err := row.Scan(append(dest, tail...)...); err != nil {
		return err
	}
	s.TotalTokens = s.PromptTokens + s.CompletionTokens
	return nil
}

// Summary totals the events f selects.
func (l *Ledger) Summary(ctx context.Context, f Filter) (Summary, error) {
	var s Summary
	where, args, err := f.where()
	if err != nil {
		return s, err
	}
	err = l.queryDB(ctx, `SELECT `+summaryColumns+` FROM usage_events e WHERE `+where, args,
		func(row rowScanner) error { return scanSummary(row, &s, nil) })
	if err != nil {
		return Summary{}, fmt.Errorf("ledger: summary: %w", err)
	}
	return s, nil
}

// Group is the Summary of the events that share a model or a key.
type Group struct {
	Key   string // the model, or the key's id
	Label string // the model, or the key's label ("" if the key is gone)
	Summary
}

// ByModel totals the events f selects per model, costliest first.
func (l *Ledger) ByModel(ctx context.Context, f Filter) ([]Group, error) {
	return l.groups(ctx, f, `SELECT e.model, e.model, `+summaryColumns+` FROM usage_events e WHERE %s
		GROUP BY e.model ORDER BY total_cost DESC, e.model`)
}

// ByKey totals the events f selects per API key, costliest first.
func (l *Ledger) ByKey(ctx context.Context, f Filter) ([]Group, error) {
	return l.groups(ctx, f, `SELECT e.api_key_id, COALESCE(k.label, ''), `+summaryColumns+`
		FROM usage_events e LEFT JOIN api_keys k ON k.id = e.api_key_id AND k.workspace_id = e.workspace_id
		WHERE %s GROUP BY e.api_key_id, k.label ORDER BY total_cost DESC, e.api_key_id`)
}

func (l *Ledger) groups(ctx context.Context, f Filter, query string) ([]Group, error) {
	where, args, err := f.where()
	if err != nil {
		return nil, err
	}
	var out []Group
	err = l.queryDB(ctx, fmt.Sprintf(query, where), args, func(row rowScanner) error {
		var g Group
		if err := scanSummary(row, &g.Summary, []any{&g.Key, &g.Label}); err != nil {
			return err
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: group usage: %w", err)
	}
	return out, nil
}

// Granularity is the width of a Series bucket. Buckets start on UTC hours
// or days.
type Granularity int

// Granularities of Series.
const (
	Hour Granularity = iota + 1
	Day
)

func (g Granularity) String() string {
	switch g {
	case Hour:
		return "hour"
	case Day:
		return "day"
	}
	return fmt.Sprintf("Granularity(%d)", int(g))
}

// width returns the bucket width, and the length and layout of the prefix
// of SQLite's text times that names a bucket.
func (g Granularity) width() (d time.Duration, prefix int, layout string, ok bool) {
	switch g {
	case Hour:
		return time.Hour, len("2006-01-02 15"), "2006-01-02 15", true
	case Day:
		return 24 * time.Hour, len("2006-01-02"), "2006-01-02", true
	}
	return 0, 0, "", false
}

// Point is one bucket of a Series.
type Point struct {
	Time time.Time // the bucket's start, UTC
	Summary
	// P50LatencyMs and P95LatencyMs are the bucket's latency percentiles
	// over answered requests (percentile_disc: a latency that occurred);
	// zero when it has none.
	P50LatencyMs, P95LatencyMs int64
}

// Series totals the events f selects per bucket of width g. Every bucket
// from the one holding f.From up to f.To is present, zero when it has no
// events; a range of more than MaxBuckets buckets is refused with
// ErrTooManyBuckets.
func (l *Ledger) Series(ctx context.Context, f Filter, g Granularity) ([]Point, error) {
	where, args, err := f.where()
	if err != nil {
		return nil, err
	}
	width, prefix, layout, ok := g.width()
	if !ok {
		return nil, fmt.Errorf("%w: unknown granularity %v", ErrInvalidFilter, g)
	}
	start := f.From.UTC().Truncate(width) // UTC has no leap offsets: hours and days truncate to their boundaries
	span := f.To.Sub(start)               // saturates rather than overflows on absurd ranges
	n := span / width
	if span%width != 0 {
		n++
	}
	if n > MaxBuckets {
		return nil, fmt.Errorf("%w: %d %ss (at most %d)", ErrTooManyBuckets, n, g, MaxBuckets)
	}
	points := make([]Point, n)
	for i := range points {
		points[i].Time = start.Add(time.Duration(i) * width)
	}
	at := func(t time.Time) (*Point, error) {
		i := t.Sub(start) / width
		if t.Before(start) || i >= n || !t.Equal(points[i].Time) {
			return nil, fmt.Errorf("ledger: series: bucket %v outside [%v, %v)", t, start, f.To)
		}
		return &points[i], nil
	}
	if l.pg {
		err = l.seriesPostgres(ctx, where, args, g, at)
	} else {
		err = l.seriesSQLite(ctx, where, args, prefix, layout, at)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: series: %w", err)
	}
	return points, nil
}

func (l *Ledger) seriesPostgres(ctx context.Context, where string, args []any, g Granularity, at func(time.Time) (*Point, error)) error {
	// g.String() is "hour" or "day", never user text.
	bucket := "date_trunc('" + g.String() + "', e.occurred_at AT TIME ZONE 'UTC')"
	q := `SELECT ` + bucket + `, ` + summaryColumns + `,
		percentile_disc(0.5) WITHIN GROUP (ORDER BY e.latency_ms) FILTER (WHERE e.status < 400),
		percentile_disc(0.95) WITHIN GROUP (ORDER BY e.latency_ms) FILTER (WHERE e.status < 400)
		FROM usage_events e WHERE ` + where + ` GROUP BY 1`
	return l.queryDB(ctx, q, args, func(row rowScanner) error {
		var (
			t        time.Time
			s        Summary
			p50, p95 sql.NullInt64
		)
		if err := scanSummary(row, &s, []any{&t}, &p50, &p95); err != nil {
			return err
		}
		p, err := at(t.UTC())
		if err != nil {
			return err
		}
		p.Summary, p.P50LatencyMs, p.P95LatencyMs = s, p50.Int64, p95.Int64
		return nil
	})
}

// seriesSQLite groups by the prefix of the text time, then reads the
// answered latencies in order to take the percentiles, which SQLite lacks,
// holding one bucket's latencies at a time.
func (l *Ledger) seriesSQLite(ctx context.Context, where string, args []any, prefix int, layout string, at func(time.Time) (*Point, error)) error {
	bucket := fmt.Sprintf("substr(e.occurred_at, 1, %d)", prefix)
	parse := func(b string) (*Point, error) {
		t, err := time.ParseInLocation(layout, b, time.UTC)
		if err != nil {
			return nil, fmt.Errorf("bucket %q: %w", b, err)
		}
		return at(t)
	}
	err := l.queryDB(ctx, `SELECT `+bucket+`, `+summaryColumns+` FROM usage_events e WHERE `+where+` GROUP BY 1`, args,
		func(row rowScanner) error {
			var (
				b string
				s Summary
			)
			if err := scanSummary(row, &s, []any{&b}); err != nil {
				return err
			}
			p, err := parse(b)
			if err != nil {
				return err
			}
			p.Summary = s
			return nil
		})
	if err != nil {
		return err
	}
	var (
		cur       *Point
		curBucket string
		lat       []int64
	)
	flush := func() {
		if cur != nil {
			cur.P50LatencyMs, cur.P95LatencyMs = percentileDisc(lat, 0.5), percentileDisc(lat, 0.95)
		}
		lat = lat[:0]
	}
	err = l.queryDB(ctx, `SELECT `+bucket+`, e.latency_ms FROM usage_events e WHERE `+where+
		` AND e.status < 400 ORDER BY 1, 2`, args,
		func(row rowScanner) error {
			var (
				b string
				v int64
			)
			if err := row.Scan(&b, &v); err != nil {
				return err
			}
			if cur == nil || b != curBucket {
				flush()
				p, err := parse(b)
				if err != nil {
					return err
				}
				cur, curBucket = p, b
			}
			lat = append(lat, v)
			return nil
		})
	if err != nil {
		return err
	}
	flush()
	return nil
}

// percentileDisc is PostgreSQL's percentile_disc over sorted: the first
// value whose position reaches fraction p, computed in float64 as
// PostgreSQL does so that both databases agree.
func percentileDisc(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(k, 1), len(sorted))-1]
}

// Request is one stored usage event, as RecentRequests lists it.
type Request struct {
	RequestID        string
	Time             time.Time // when the answer ended, UTC
	Model            string
	Endpoint         string
	Stream           bool
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	CostMicros       int64
	Status           int
	LatencyMs        int64
	CacheHit         bool
	Source           usage.Source
	EstimateReason   string
}

// RecentRequests returns the newest n events of key keyID, newest first.
// n above MaxRecent is lowered to it; n below 1 is ErrInvalidFilter.
func (l *Ledger) RecentRequests(ctx context.Context, keyID string, n int) ([]Request, error) {
	if keyID == "" || n < 1 {
		return nil, fmt.Errorf("%w: recent requests need a key and n >= 1", ErrInvalidFilter)
	}
	n = min(n, MaxRecent)
	out := make([]Request, 0, min(n, 64))
	err := l.queryDB(ctx, `SELECT request_id, occurred_at, model, endpoint, stream, prompt_tokens,
		completion_tokens, cached_tokens, cost_micros, status, latency_ms, cache_hit, source,
		COALESCE(estimate_reason, '')
		FROM usage_events WHERE api_key_id = ? ORDER BY occurred_at DESC, id DESC LIMIT ?`,
		[]any{keyID, n},
		func(row rowScanner) error {
			var r Request
			var src string
			if err := row.Scan(&r.RequestID, &r.Time, &r.Model, &r.Endpoint, &r.Stream, &r.PromptTokens,
				&r.CompletionTokens, &r.CachedTokens, &r.CostMicros, &r.Status, &r.LatencyMs, &r.CacheHit,
				&src, &r.EstimateReason); err != nil {
				return err
			}
			r.Time, r.Source = r.Time.UTC(), usage.Source(src)
			out = append(out, r)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("ledger: recent requests: %w", err)
	}
	return out, nil
}

// Totals is the usage that quotas and spend caps count.
type Totals struct {
	Tokens     int64 // prompt plus completion
	CostMicros int64
}

// MonthTotals is the usage of one calendar month (UTC), per workspace and
// per key. Workspaces and keys without usage are absent.
type MonthTotals struct {
	From, To   time.Time // the month: [From, To)
	Workspaces map[string]Totals
	Keys       map[string]Totals
}

// MonthToDate returns the usage of the calendar month (UTC) that holds
// now. The gateway seeds its quota and spend counters from it at start.
func (l *Ledger) MonthToDate(ctx context.Context, now time.Time) (MonthTotals, error) {
	now = now.UTC()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	mt := MonthTotals{
		From:       from,
		To:         from.AddDate(0, 1, 0),
		Workspaces: make(map[string]Totals),
		Keys:       make(map[string]Totals),
	}
	err := l.queryDB(ctx, `SELECT workspace_id, api_key_id,
		CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT),
		CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT)
		FROM usage_events WHERE occurred_at >= ? AND occurred_at < ?
		GROUP BY workspace_id, api_key_id`, []any{mt.From, mt.To},
		func(row rowScanner) error {
			var ws, key string
			var t Totals
			if err := row.Scan(&ws, &key, &t.Tokens, &t.CostMicros); err != nil {
				return err
			}
			w := mt.Workspaces[ws]
			w.Tokens += t.Tokens
			w.CostMicros += t.CostMicros
			mt.Workspaces[ws] = w
			// A key's events all carry its workspace (Ship checks), so a
			// key appears in one row.
			mt.Keys[key] = t
			return nil
		})
	if err != nil {
		return MonthTotals{}, fmt.Errorf("ledger: month to date: %w", err)
	}
	return mt, nil
}
