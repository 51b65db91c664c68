package spendalerts_test

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

// BenchmarkLedgerIngest measures what the alert worker and billing read
// from: usage events shipped into PostgreSQL through ledger.Ship in
// batches, as gateways' spools ship them. One op is one record, so
//
//	go test ./internal/spendalerts -run XXX -bench LedgerIngest -benchtime 1000000x
//
// ingests a million per batch size into a scratch database and reports
// records/s, the on-disk size of usage_events (table, indexes and TOAST)
// per record, and how long one MonthToDate (the worker's query each
// minute) takes over it. docs/billing.md quotes a run.
func BenchmarkLedgerIngest(b *testing.B) {
	for _, batch := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := storetest.Postgres(b)
			l := ledger.New(s)
			ctx := viewer.SystemContext(context.Background())
			// 20 workspaces of 10 keys: Ship's per-key counter updates are
			// part of the cost.
			type wk struct{ ws, key string }
			var keys []wk
			for w := 0; w < 20; w++ {
				ws, err := s.Ent.Workspace.Create().SetName(fmt.Sprint("bench", w)).SetSlug(fmt.Sprintf("bench-%d", w)).Save(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for k := 0; k < 10; k++ {
					key, err := s.Ent.APIKey.Create().SetWorkspaceID(ws.ID).SetLabel("k").
						SetSecretHash(fmt.Sprintf("h-%d-%d", w, k)).SetMaskedKey("sk-…k").Save(ctx)
					if err != nil {
						b.Fatal(err)
					}
					keys = append(keys, wk{ws.ID, key.ID})
				}
			}
			models := []string{"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "text-embedding-3-small"}
			// A month of traffic, spread evenly: the records land in one month.
			month := time.Date(2031, 3, 1, 0, 0, 0, 0, time.UTC)
			step := 28 * 24 * time.Hour / time.Duration(max(b.N, 1))
			recs := make([]usage.Record, batch)
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(batch, b.N-done)
				b.StopTimer()
				for j := 0; j < n; j++ {
					i := done + j
					k := keys[i%len(keys)]
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
			if _, err := s.DB.ExecContext(context.Background(), "VACUUM ANALYZE usage_events"); err != nil {
				b.Fatal(err)
			}
			var size, rows int64
			if err := s.DB.QueryRowContext(context.Background(),
				"SELECT pg_total_relation_size('usage_events'), (SELECT count(*) FROM usage_events)").Scan(&size, &rows); err != nil {
				b.Fatal(err)
			}
			if rows != int64(b.N) {
				b.Fatalf("%d rows stored, want %d", rows, b.N)
			}
			start := time.Now()
			mt, err := l.MonthToDate(context.Background(), month.Add(20*24*time.Hour))
			if err != nil || len(mt.Workspaces) == 0 {
				b.Fatalf("MonthToDate: %v", err)
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds()), "monthtodate_ms")
			b.ReportMetric(float64(size)/float64(rows), "table_B/record")
			b.ReportMetric(float64(size)/(1<<20), "table_MiB")
		})
	}
}
