package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/usage"
	"github.com/oais/oais/internal/viewer"
)

// BenchmarkIngest measures the ledger at scale on PostgreSQL: usage records
// shipped through Ship in batches of 10,000, as gateways' spools ship them
// under load, into a month partition, then the reads the product makes over
// that month. One op is one record, so
//
//	go test ./internal/ledger -run '^$' -bench Ingest -benchtime 10000000x -timeout 60m
//
// ingests ten million (docs/billing.md quotes a run) and reports records/s,
// the on-disk size of the raw events (all partitions: table, indexes, TOAST)
// and of the rollups, and the time of MonthToDate (every gateway start and
// the alert worker each minute), a month's daily Series and a month's
// ByKey (dashboard charts).
//
// The traffic: 200 keys in 20 workspaces, 4 models, one record every 242 ms
// (10 M records fill 28 days: ~4 requests/s around the clock), in time
// order as spools ship them, so a batch spans ~40 minutes.
func BenchmarkIngest(b *testing.B) {
	const batch = 10000
	s := storetest.Postgres(b)
	l := ledger.New(s)
	ctx := viewer.SystemContext(context.Background())
	type wk struct{ ws, key string }
	var keys []wk
	for w := range 20 {
		ws, err := s.Ent.Workspace.Create().SetName(fmt.Sprint("bench", w)).SetSlug(fmt.Sprintf("bench-%d", w)).Save(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for k := range 10 {
			key, err := s.Ent.APIKey.Create().SetWorkspaceID(ws.ID).SetLabel("k").
				SetSecretHash(fmt.Sprintf("h-%d-%d", w, k)).SetMaskedKey("sk-…k").Save(ctx)
			if err != nil {
				b.Fatal(err)
			}
			keys = append(keys, wk{ws.ID, key.ID})
		}
	}
	models := []string{"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "text-embedding-3-small"}
	month := time.Date(2031, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := l.EnsurePartitions(ctx, month); err != nil {
		b.Fatal(err)
	}
	// The same density whatever b.N: ten million records fill 28 days.
	step := 28 * 24 * time.Hour / 10_000_000
	recs := make([]usage.Record, batch)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		b.StopTimer()
		for j := range n {
			i := done + j
			k := keys[(i*7919)%len(keys)]
			recs[j] = usage.Record{
				RequestID: fmt.Sprintf("req_%016x", i), WorkspaceID: k.ws, KeyID: k.key,
				Model: models[i%len(models)], Endpoint: "/v1/chat/completions", Stream: i%3 == 0,
				PromptTokens: int64(200 + i%1500), CompletionTokens: int64(50 + i%700), CachedTokens: int64(i % 128),
				CostMicros: int64(100 + i%5000), Status: 200, LatencyMillis: int64(80 + i%2000),
				Source: usage.SourceUpstream, ClientIP: fmt.Sprintf("10.%d.%d.%d", i%256, (i/256)%256, i%200),
				Time: month.Add(time.Duration(i) * step),
			}
		}
		b.StartTimer()
		if err := l.Ship(context.Background(), recs[:n]); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	bg := context.Background()
	if _, err := s.DB.ExecContext(bg, "VACUUM ANALYZE usage_events, usage_rollups, latency_rollups"); err != nil {
		b.Fatal(err)
	}
	var eventBytes, rows, rollupBytes, rollupRows int64
	if err := s.DB.QueryRowContext(bg, `SELECT
		(SELECT COALESCE(SUM(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('usage_events')),
		(SELECT count(*) FROM usage_events),
		pg_total_relation_size('usage_rollups') + pg_total_relation_size('latency_rollups'),
		(SELECT count(*) FROM usage_rollups) + (SELECT count(*) FROM latency_rollups)`).Scan(&eventBytes, &rows, &rollupBytes, &rollupRows); err != nil {
		b.Fatal(err)
	}
	if rows != int64(b.N) {
		b.Fatalf("%d rows stored, want %d", rows, b.N)
	}
	timed := func(metric string, f func() error) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatalf("%s: %v", metric, err)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, metric)
	}
	timed("monthtodate_ms", func() error {
		_, err := l.MonthToDate(bg, month.Add(20*24*time.Hour))
		return err
	})
	f := ledger.Filter{WorkspaceID: keys[0].ws, From: month, To: month.AddDate(0, 1, 0)}
	timed("series_month_ms", func() error {
		_, err := l.Series(bg, f, ledger.Day)
		return err
	})
	timed("bykey_month_ms", func() error {
		_, err := l.ByKey(bg, f)
		return err
	})
	b.ReportMetric(float64(eventBytes)/float64(rows), "events_B/record")
	b.ReportMetric(float64(eventBytes)/(1<<20), "events_MiB")
	b.ReportMetric(float64(rollupBytes)/(1<<20), "rollups_MiB")
	b.ReportMetric(float64(rollupRows), "rollup_rows")
}
