package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/usage"
)

// BenchmarkShip ships batches of new records over ten keys and reports
// records/s, on SQLite and on PostgreSQL through COPY and through
// multi-row INSERTs.
func BenchmarkShip(b *testing.B) {
	paths := []struct {
		name    string
		open    func(testing.TB) *store.Store
		copyMin int
	}{
		{"sqlite", storetest.SQLite, 0},
		{"postgres/copy", storetest.Postgres, 1},
		{"postgres/values", storetest.Postgres, 0},
	}
	for _, size := range []int{10, 100, 1000, 10000} {
		for _, p := range paths {
			b.Run(fmt.Sprintf("%s/batch=%d", p.name, size), func(b *testing.B) {
				fx := newFixture(b, p.open(b))
				ledger.SetCopyMin(fx.l, p.copyMin)
				keys := make([]string, 10)
				for i := range keys {
					keys[i] = fx.key(b, fx.wsA, fmt.Sprint("bench-", i))
				}
				batch := make([]usage.Record, size)
				// Cancellable, as the spool's shipping context is: drivers
				// treat such a context differently.
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				start := time.Now()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					for j := range batch {
						batch[j] = rec(fmt.Sprintf("bench-%d-%d", i, j), fx.wsA, keys[j%len(keys)],
							start.Add(time.Duration(i*size+j)*time.Millisecond))
					}
					b.StartTimer()
					if err := fx.l.Ship(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}
