package spool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/internal/usage"
)

// TestUnshippedCountsEachRecordOnce ships and appends concurrently while
// asking, again and again, what the sink holds plus what the spool still
// holds: every record appended before a call is in exactly one of the two.
// The gateway seeds budgets from that sum (ledger + unshipped spool); a
// record in both is spend counted twice, a record in neither is spend
// forgotten.
func TestUnshippedCountsEachRecordOnce(t *testing.T) {
	const writers, each = 4, 500
	s, _ := openSpool(t, t.TempDir(), Options{SegmentBytes: 16 << 10, MaxBytes: 16 << 20, SyncInterval: time.Millisecond})
	sink := &recordingSink{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx, sink, ShipOptions{BatchSize: 7, Interval: time.Millisecond}) }()

	var mu sync.Mutex
	appended := map[string]bool{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w * each; i < (w+1)*each; i++ {
				rec := testRecord(i)
				if err := s.Append(&rec); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				appended[rec.RequestID] = true
				mu.Unlock()
			}
		})
	}
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()

	checks := 0
	for done := false; !done; checks++ {
		select {
		case <-writing:
			done = true // one more check once every record is in
		default:
		}
		mu.Lock()
		before := make([]string, 0, len(appended))
		for id := range appended {
			before = append(before, id)
		}
		mu.Unlock()
		var shipped []string
		unshipped := map[string]int{}
		err := s.Unshipped(t.Context(),
			func(context.Context) error { shipped = sink.IDs(); return nil },
			func(r *usage.Record) { unshipped[r.RequestID]++ })
		if err != nil {
			t.Fatalf("Unshipped: %v", err)
		}
		inSink := map[string]int{}
		for _, id := range shipped {
			inSink[id]++
		}
		for _, id := range before {
			if n := inSink[id] + unshipped[id]; n != 1 {
				t.Fatalf("check %d: %s counted %d times (sink %d, unshipped %d), want once", checks, id, n, inSink[id], unshipped[id])
			}
		}
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("%d checks while %d records were appended and shipped", checks, writers*each)
}

func TestUnshippedErrors(t *testing.T) {
	s, _ := openSpool(t, t.TempDir(), Options{})
	appendRange(t, s, 0, 3)
	boom := errors.New("database down")
	err := s.Unshipped(t.Context(), func(context.Context) error { return boom }, func(*usage.Record) { t.Error("each called after read failed") })
	if !errors.Is(err, boom) {
		t.Errorf("read failing: %v, want it back", err)
	}
	n := 0
	if err := s.Unshipped(t.Context(), func(context.Context) error { return nil }, func(*usage.Record) { n++ }); err != nil || n != 3 {
		t.Errorf("Unshipped = %v with %d records, want 3", err, n)
	}
	closeSpool(t, s)
	if err := s.Unshipped(t.Context(), func(context.Context) error { return nil }, func(*usage.Record) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("closed spool: %v, want ErrClosed", err)
	}
}
