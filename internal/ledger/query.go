package ledger

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
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

// check reports whether f makes sense.
func (f Filter) check() error {
	switch {
	case f.WorkspaceID == "":
		return fmt.Errorf("%w: no workspace", ErrInvalidFilter)
	case f.From.IsZero() || f.To.IsZero():
		return fmt.Errorf("%w: from and to are both required", ErrInvalidFilter)
	case !f.From.Before(f.To):
		return fmt.Errorf("%w: from must be before to", ErrInvalidFilter)
	}
	return nil
}

// part is a piece of a filter's range and the table that answers it.
type part struct {
	from, to time.Time
	// rollup: whole UTC hours, read from the hourly rollups; otherwise
	// the raw events of a partial hour at either end of the range.
	rollup bool
}

// parts splits [From, To) into the whole hours inside it, read from the
// rollups, and the partial hours at its ends, read from raw events. The
// rollups hold exactly the sums of their hours' events (Ship writes both
// in one transaction), so the answer is the same as reading every event,
// and reading a month costs a few hundred rows per key and model instead
// of one per request.
func (f Filter) parts() []part {
	from, to := f.From.UTC(), f.To.UTC()
	lo := from.Truncate(time.Hour)
	if lo.Before(from) {
		lo = lo.Add(time.Hour)
	}
	hi := to.Truncate(time.Hour)
	if !lo.Before(hi) {
		return []part{{from: from, to: to}}
	}
	ps := make([]part, 0, 3)
	if from.Before(lo) {
		ps = append(ps, part{from: from, to: lo})
	}
	ps = append(ps, part{from: lo, to: hi, rollup: true})
	if hi.Before(to) {
		ps = append(ps, part{from: hi, to: to})
	}
	return ps
}

// table returns p's table (aliased e) and its time column.
func (p part) table() (table, timeCol string) {
	if p.rollup {
		return "usage_rollups e", "e.hour"
	}
	return "usage_events e", "e.occurred_at"
}

// summary returns the summary columns over p's table.
func (l *Ledger) summary(p part) string {
	if p.rollup {
		return l.rollupSummary
	}
	return l.eventSummary
}

// where returns the SQL condition that selects f's rows of p, and its args.
func (f Filter) whereIn(p part) (string, []any) {
	_, col := p.table()
	q := "e.workspace_id = ? AND " + col + " >= ? AND " + col + " < ?"
	args := []any{f.WorkspaceID, p.from, p.to}
	if f.KeyID != "" {
		q += " AND e.api_key_id = ?"
		args = append(args, f.KeyID)
	}
	return q, args
}

// Summary totals a set of usage events. Tokens and cost sum every event,
// as billing does: the gateway decides what a request costs, and a refused
// or failed request's event carries none (Ship stores it without).
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
	// Errors counts events with status >= 400: requests the gateway
	// refused and upstream errors and failures (each with its error code),
	// and requests whose client left before an answer.
	Errors int64
}

// add adds o to s, saturating (see Ledger.sum).
func (s *Summary) add(o Summary) {
	add := usage.SaturatingAdd
	s.Requests = add(s.Requests, o.Requests)
	s.PromptTokens = add(s.PromptTokens, o.PromptTokens)
	s.CompletionTokens = add(s.CompletionTokens, o.CompletionTokens)
	s.CachedTokens = add(s.CachedTokens, o.CachedTokens)
	s.TotalTokens = add(s.TotalTokens, o.TotalTokens)
	s.CostMicros = add(s.CostMicros, o.CostMicros)
	s.CacheHits = add(s.CacheHits, o.CacheHits)
	s.Errors = add(s.Errors, o.Errors)
}

// summaryColumns returns the columns that compute a Summary over
// usage_events e and over usage_rollups e; scanSummary reads them.
// total_cost names the cost for ORDER BY. Counts of rows cannot overflow;
// every other sum goes through sum.
func (l *Ledger) summaryColumns() (events, rollups string) {
	events = `
	COALESCE(SUM(CASE WHEN e.status < 400 THEN 1 ELSE 0 END), 0),
	` + l.sum("e.prompt_tokens") + `,
	` + l.sum("e.completion_tokens") + `,
	` + l.sum("e.cached_tokens") + `,
	` + l.sum("e.cost_micros") + ` AS total_cost,
	COALESCE(SUM(CASE WHEN e.status < 400 AND e.cache_hit THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.status >= 400 THEN 1 ELSE 0 END), 0)`
	rollups = `
	` + l.sum("e.requests") + `,
	` + l.sum("e.prompt_tokens") + `,
	` + l.sum("e.completion_tokens") + `,
	` + l.sum("e.cached_tokens") + `,
	` + l.sum("e.cost_micros") + ` AS total_cost,
	` + l.sum("e.cache_hits") + `,
	` + l.sum("e.errors")
	return events, rollups
}

// scanSummary scans the columns before summaryColumns into head, then the
// summary, then the columns after it into tail.
func scanSummary(row rowScanner, s *Summary, head []any, tail ...any) error {
	dest := append(head, &s.Requests, &s.PromptTokens, &s.CompletionTokens, &s.CachedTokens,
		&s.CostMicros, &s.CacheHits, &s.Errors)
	if err := row.Scan(append(dest, tail...)...); err != nil {
		return err
	}
	s.TotalTokens = usage.SaturatingAdd(s.PromptTokens, s.CompletionTokens)
	return nil
}

// Summary totals the events f selects.
func (l *Ledger) Summary(ctx context.Context, f Filter) (Summary, error) {
	var total Summary
	if err := f.check(); err != nil {
		return total, err
	}
	for _, p := range f.parts() {
		table, _ := p.table()
		where, args := f.whereIn(p)
		var s Summary
		err := l.queryDB(ctx, `SELECT `+l.summary(p)+` FROM `+table+` WHERE `+where, args,
			func(row rowScanner) error { return scanSummary(row, &s, nil) })
		if err != nil {
			return Summary{}, fmt.Errorf("ledger: summary: %w", err)
		}
		total.add(s)
	}
	return total, nil
}

// Group is the Summary of the events that share a model or a key.
type Group struct {
	Key   string // the model, or the key's id
	Label string // the model, or the key's label ("" if the key is gone)
	Summary
	// LatencyMsSum sums the latencies of the answered requests.
	LatencyMsSum int64
}

// AvgLatencyMs is the mean latency of g's answered requests, 0 without any.
func (g Group) AvgLatencyMs() int64 {
	if g.Requests == 0 {
		return 0
	}
	return g.LatencyMsSum / g.Requests
}

// latencySum is the answered requests' latency sum of a part's table.
func (l *Ledger) latencySum(p part) string {
	if p.rollup {
		return l.sum("e.latency_ms_sum")
	}
	return l.sum("CASE WHEN e.status < 400 THEN e.latency_ms ELSE 0 END")
}

// ByModel totals the events f selects per model, costliest first.
func (l *Ledger) ByModel(ctx context.Context, f Filter) ([]Group, error) {
	return l.groups(ctx, f, `SELECT e.model, e.model, %s FROM %s WHERE %s GROUP BY e.model`)
}

// ByKey totals the events f selects per API key, costliest first.
func (l *Ledger) ByKey(ctx context.Context, f Filter) ([]Group, error) {
	return l.groups(ctx, f, `SELECT e.api_key_id, COALESCE(k.label, ''), %s
		FROM %s LEFT JOIN api_keys k ON k.id = e.api_key_id AND k.workspace_id = e.workspace_id
		WHERE %s GROUP BY e.api_key_id, k.label`)
}

// ByChannel totals the events f selects per channel (usage.Record.Channel;
// "" for the gateway's global upstream, or a request refused before any
// channel), costliest first: cost and error rate per channel. Like ByModel
// it reads the hourly rollups (one row per key, model, channel and hour;
// channel empty where the event's is NULL) for whole hours and raw events
// only for the partial hours at the ends.
func (l *Ledger) ByChannel(ctx context.Context, f Filter) ([]Group, error) {
	return l.groups(ctx, f, `SELECT COALESCE(e.channel, ''), COALESCE(e.channel, ''), %s FROM %s WHERE %s GROUP BY e.channel`)
}

// groups runs query (columns, table, condition) on every part of f and
// merges the groups.
func (l *Ledger) groups(ctx context.Context, f Filter, query string) ([]Group, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	byKey := make(map[string]*Group)
	for _, p := range f.parts() {
		table, _ := p.table()
		where, args := f.whereIn(p)
		err := l.queryDB(ctx, fmt.Sprintf(query, l.summary(p)+", "+l.latencySum(p), table, where), args, func(row rowScanner) error {
			var g Group
			if err := scanSummary(row, &g.Summary, []any{&g.Key, &g.Label}, &g.LatencyMsSum); err != nil {
				return err
			}
			if have := byKey[g.Key]; have != nil {
				have.add(g.Summary)
				have.LatencyMsSum = usage.SaturatingAdd(have.LatencyMsSum, g.LatencyMsSum)
				return nil
			}
			byKey[g.Key] = &g
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("ledger: group usage: %w", err)
		}
	}
	var out []Group
	for _, g := range byKey {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int {
		return cmp.Or(cmp.Compare(b.CostMicros, a.CostMicros), strings.Compare(a.Key, b.Key))
	})
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
	// over answered requests, to the resolution of LatencyBuckets (the
	// upper bound of the bucket that holds them); zero when it has none.
	P50LatencyMs, P95LatencyMs int64
}

// Series totals the events f selects per bucket of width g. Every bucket
// from the one holding f.From up to f.To is present, zero when it has no
// events; a range of more than MaxBuckets buckets is refused with
// ErrTooManyBuckets.
//
// Latency percentiles come from the workspace's hourly latency histogram;
// with a KeyID they are taken from the key's raw events instead, which the
// dashboard never asks for.
func (l *Ledger) Series(ctx context.Context, f Filter, g Granularity) ([]Point, error) {
	if err := f.check(); err != nil {
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
	hists := make([]histogram, n)
	for i := range points {
		points[i].Time = start.Add(time.Duration(i) * width)
	}
	s := series{l: l, f: f, g: g, prefix: prefix, layout: layout}
	s.at = func(t time.Time) (int, error) {
		i := t.Sub(start) / width
		if t.Before(start) || i >= n || !t.Equal(points[i].Time) {
			return 0, fmt.Errorf("bucket %v outside [%v, %v)", t, start, f.To)
		}
		return int(i), nil
	}
	for _, p := range f.parts() {
		if err := s.totals(ctx, p, points); err != nil {
			return nil, fmt.Errorf("ledger: series: %w", err)
		}
		if err := s.latencies(ctx, p, hists); err != nil {
			return nil, fmt.Errorf("ledger: series: %w", err)
		}
	}
	for i := range points {
		points[i].P50LatencyMs, points[i].P95LatencyMs = hists[i].percentile(0.5), hists[i].percentile(0.95)
	}
	return points, nil
}

// series is one Series query.
type series struct {
	l      *Ledger
	f      Filter
	g      Granularity
	prefix int
	layout string
	at     func(time.Time) (int, error)
}

// bucket is the SQL expression of col's bucket.
func (s *series) bucket(col string) string {
	if s.l.pg {
		// g.String() is "hour" or "day", never user text.
		return "date_trunc('" + s.g.String() + "', " + col + " AT TIME ZONE 'UTC')"
	}
	return fmt.Sprintf("substr(%s, 1, %d)", col, s.prefix)
}

// scanBucket scans a bucket column and returns its index.
func (s *series) scanBucket(row rowScanner, tail ...any) (int, error) {
	if s.l.pg {
		var t time.Time
		if err := row.Scan(append([]any{&t}, tail...)...); err != nil {
			return 0, err
		}
		return s.at(t.UTC())
	}
	var b string
	if err := row.Scan(append([]any{&b}, tail...)...); err != nil {
		return 0, err
	}
	t, err := time.ParseInLocation(s.layout, b, time.UTC)
	if err != nil {
		return 0, fmt.Errorf("bucket %q: %w", b, err)
	}
	return s.at(t)
}

// totals adds p's summaries to points.
func (s *series) totals(ctx context.Context, p part, points []Point) error {
	table, col := p.table()
	where, args := s.f.whereIn(p)
	return s.l.queryDB(ctx, `SELECT `+s.bucket(col)+`, `+s.l.summary(p)+` FROM `+table+` WHERE `+where+` GROUP BY 1`, args,
		func(row rowScanner) error {
			var sum Summary
			i, err := s.scanBucket(row, &sum.Requests, &sum.PromptTokens, &sum.CompletionTokens, &sum.CachedTokens,
				&sum.CostMicros, &sum.CacheHits, &sum.Errors)
			if err != nil {
				return err
			}
			sum.TotalTokens = usage.SaturatingAdd(sum.PromptTokens, sum.CompletionTokens)
			points[i].Summary.add(sum)
			return nil
		})
}

// latencies adds p's answered latencies to hists: from the workspace's
// latency rollups, or from raw events (partial hours, or one key).
func (s *series) latencies(ctx context.Context, p part, hists []histogram) error {
	if p.rollup && s.f.KeyID == "" {
		return s.l.queryDB(ctx, `SELECT `+s.bucket("e.hour")+`, e.bucket, CAST(SUM(e.count) AS BIGINT) FROM latency_rollups e
			WHERE e.workspace_id = ? AND e.hour >= ? AND e.hour < ? GROUP BY 1, 2`, []any{s.f.WorkspaceID, p.from, p.to},
			func(row rowScanner) error {
				var b int
				var n int64
				i, err := s.scanBucket(row, &b, &n)
				if err != nil {
					return err
				}
				if b < 0 || b >= numBuckets {
					return fmt.Errorf("latency bucket %d out of range", b)
				}
				hists[i][b] += n
				return nil
			})
	}
	raw := p
	raw.rollup = false
	where, args := s.f.whereIn(raw)
	// Grouping by the latency itself keeps the rows bounded by the distinct
	// latencies, not the requests.
	return s.l.queryDB(ctx, `SELECT `+s.bucket("e.occurred_at")+`, e.latency_ms, COUNT(*) FROM usage_events e WHERE `+where+
		` AND e.status < 400 GROUP BY 1, 2`, args,
		func(row rowScanner) error {
			var ms, n int64
			i, err := s.scanBucket(row, &ms, &n)
			if err != nil {
				return err
			}
			hists[i].add(ms, n)
			return nil
		})
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
	ErrorCode        string // a refused or failed request's error.code
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
		COALESCE(estimate_reason, ''), COALESCE(error_code, '')
		FROM usage_events WHERE api_key_id = ? ORDER BY occurred_at DESC, id DESC LIMIT ?`,
		[]any{keyID, n},
		func(row rowScanner) error {
			var r Request
			var src string
			if err := row.Scan(&r.RequestID, &r.Time, &r.Model, &r.Endpoint, &r.Stream, &r.PromptTokens,
				&r.CompletionTokens, &r.CachedTokens, &r.CostMicros, &r.Status, &r.LatencyMs, &r.CacheHit,
				&src, &r.EstimateReason, &r.ErrorCode); err != nil {
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
// A month is whole hours, so it reads only the hourly rollups.
func (l *Ledger) MonthToDate(ctx context.Context, now time.Time) (MonthTotals, error) {
	now = now.UTC()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	mt := MonthTotals{
		From:       from,
		To:         from.AddDate(0, 1, 0),
		Workspaces: make(map[string]Totals),
		Keys:       make(map[string]Totals),
	}
	err := l.queryDB(ctx, `SELECT workspace_id, api_key_id, `+
		l.sum("prompt_tokens")+`, `+l.sum("completion_tokens")+`, `+l.sum("cost_micros")+`
		FROM usage_rollups WHERE hour >= ? AND hour < ?
		GROUP BY workspace_id, api_key_id`, []any{mt.From, mt.To},
		func(row rowScanner) error {
			var ws, key string
			var prompt, completion int64
			var t Totals
			if err := row.Scan(&ws, &key, &prompt, &completion, &t.CostMicros); err != nil {
				return err
			}
			t.Tokens = usage.SaturatingAdd(prompt, completion)
			w := mt.Workspaces[ws]
			w.Tokens = usage.SaturatingAdd(w.Tokens, t.Tokens)
			w.CostMicros = usage.SaturatingAdd(w.CostMicros, t.CostMicros)
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
