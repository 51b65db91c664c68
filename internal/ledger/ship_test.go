package ledger_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/ent/usageevent"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

var t0 = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

func TestShipIdempotent(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		before := fx.keyRow(t, fx.kA1)
		batch := []usage.Record{
			rec("r1", fx.wsA, fx.kA1, t0),
			rec("r2", fx.wsA, fx.kA1, t0.Add(time.Minute), cacheHit),
			rec("r3", fx.wsA, fx.kA2, t0.Add(2*time.Minute)),
		}
		fx.ship(t, batch...)
		fx.ship(t, batch...) // a restart between Ship and the checkpoint
		if n := fx.events(t); n != 3 {
			t.Fatalf("events = %d, want 3", n)
		}
		a1, a2 := fx.keyRow(t, fx.kA1), fx.keyRow(t, fx.kA2)
		if a1.requests != 2 || a1.cacheHits != 1 || a2.requests != 1 || a2.cacheHits != 0 {
			t.Fatalf("counters A1 = %d/%d, A2 = %d/%d; want 2/1, 1/0", a1.requests, a1.cacheHits, a2.requests, a2.cacheHits)
		}
		if a1.lastUsed == nil || !a1.lastUsed.Equal(t0.Add(time.Minute)) {
			t.Fatalf("A1 last_used_at = %v, want %v", a1.lastUsed, t0.Add(time.Minute))
		}
		if !a1.updatedAt.Equal(before.updatedAt) {
			t.Fatalf("updated_at moved from %v to %v; gateways would reload the key", before.updatedAt, a1.updatedAt)
		}
	})
}

func TestShipPartialOverlap(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		fx.ship(t, rec("a", fx.wsA, fx.kA1, t0), rec("b", fx.wsA, fx.kA1, t0))
		fx.ship(t, rec("b", fx.wsA, fx.kA1, t0), rec("c", fx.wsA, fx.kA1, t0), rec("d", fx.wsA, fx.kA1, t0, cacheHit))
		if n := fx.events(t); n != 4 {
			t.Fatalf("events = %d, want 4", n)
		}
		if k := fx.keyRow(t, fx.kA1); k.requests != 4 || k.cacheHits != 1 {
			t.Fatalf("counters = %d/%d, want 4/1", k.requests, k.cacheHits)
		}
	})
}

func TestShipDuplicateInBatch(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		fx.ship(t, rec("a", fx.wsA, fx.kA1, t0), rec("a", fx.wsA, fx.kA1, t0.Add(time.Hour)))
		if n := fx.events(t); n != 1 {
			t.Fatalf("events = %d, want 1", n)
		}
		if k := fx.keyRow(t, fx.kA1); k.requests != 1 || !k.lastUsed.Equal(t0) {
			t.Fatalf("key = %+v, want 1 request last used %v (the first record wins)", k, t0)
		}
	})
}

func TestShipCountsAnsweredOnly(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		fx.ship(t,
			rec("ok", fx.wsA, fx.kA1, t0),
			rec("hit", fx.wsA, fx.kA1, t0, cacheHit),
			rec("redirect", fx.wsA, fx.kA1, t0, status(399)),
			rec("bad", fx.wsA, fx.kA1, t0, status(400)),
			rec("limited", fx.wsA, fx.kA1, t0, status(429)),
			rec("upstream", fx.wsA, fx.kA1, t0.Add(time.Hour), status(502), cacheHit), // newest: an error is still a use
		)
		if n := fx.events(t); n != 6 {
			t.Fatalf("events = %d, want 6: errors are stored for error rates", n)
		}
		k := fx.keyRow(t, fx.kA1)
		if k.requests != 3 || k.cacheHits != 1 {
			t.Fatalf("counters = %d/%d, want 3/1", k.requests, k.cacheHits)
		}
		if !k.lastUsed.Equal(t0.Add(time.Hour)) {
			t.Fatalf("last_used_at = %v, want %v", k.lastUsed, t0.Add(time.Hour))
		}
	})
}

func TestShipLastUsedAtMax(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		if err := fx.s.Ent.APIKey.UpdateOneID(fx.kA1).SetLastUsedAt(t0).Exec(fx.systemCtx); err != nil {
			t.Fatal(err)
		}
		before := fx.keyRow(t, fx.kA1)
		steps := []struct {
			name string
			at   time.Time
			want time.Time
		}{
			{"older keeps", t0.Add(-time.Hour), t0},
			{"equal keeps", t0, t0},
			{"newer moves", t0.Add(90 * time.Minute), t0.Add(90 * time.Minute)},
			{"in another zone", t0.Add(2 * time.Hour).In(time.FixedZone("X", 5*3600)), t0.Add(2 * time.Hour)},
			{"sub-second", t0.Add(2*time.Hour + 500*time.Millisecond), t0.Add(2*time.Hour + 500*time.Millisecond)},
		}
		for i, st := range steps {
			fx.ship(t, rec(fmt.Sprint("r", i), fx.wsA, fx.kA1, st.at))
			k := fx.keyRow(t, fx.kA1)
			if k.lastUsed == nil || !k.lastUsed.Equal(st.want) {
				t.Fatalf("%s: last_used_at = %v, want %v", st.name, k.lastUsed, st.want)
			}
			if k.lastUsed.Location() != time.UTC && k.lastUsed.Format("-0700") != "+0000" {
				t.Fatalf("%s: last_used_at %v is not UTC", st.name, k.lastUsed)
			}
			if !k.updatedAt.Equal(before.updatedAt) {
				t.Fatalf("%s: updated_at moved", st.name)
			}
		}
		if k := fx.keyRow(t, fx.kA1); k.requests != int64(len(steps)) {
			t.Fatalf("requests = %d, want %d", k.requests, len(steps))
		}
	})
}

func TestShipSkipsOrphans(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		err := fx.l.Ship(context.Background(), []usage.Record{
			rec("gone", fx.wsA, "key_01GONE", t0),
			rec("wrong-ws", fx.wsA, fx.kB1, t0),         // B's key claimed by A
			rec("no-ws", "ws_01GONE", "key_01GONE", t0), // workspace and key deleted
			rec("", fx.wsA, fx.kA1, t0),
			rec("bad-source", fx.wsA, fx.kA1, t0, func(r *usage.Record) { r.Source = "guess" }),
			rec("good", fx.wsA, fx.kA1, t0),
		})
		if err != nil {
			t.Fatalf("Ship = %v; one bad record must not block the batch", err)
		}
		if n := fx.events(t); n != 1 {
			t.Fatalf("events = %d, want only the good one", n)
		}
		if k := fx.keyRow(t, fx.kA1); k.requests != 1 {
			t.Fatalf("A1 requests = %d, want 1", k.requests)
		}
		if k := fx.keyRow(t, fx.kB1); k.requests != 0 || k.lastUsed != nil {
			t.Fatalf("B1 = %+v, want untouched", k)
		}
		if q := fx.quarantined(t); len(q) != 2 {
			t.Fatalf("quarantined %d, want the 2 malformed records", len(q))
		}
		logs := fx.logs.String()
		for _, want := range []string{"key_01GONE", fx.kB1, "quarantined", "count=2"} {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %q:\n%s", want, logs)
			}
		}
	})
}

func TestShipLongStrings(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		long := strings.Repeat("é", 150) // 300 bytes
		fx.ship(t, rec("long", fx.wsA, fx.kA1, t0, func(r *usage.Record) {
			r.Model, r.Endpoint, r.ClientIP = long, long, long
		}))
		reqs, err := fx.l.RecentRequests(context.Background(), fx.kA1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := reqs[0]; got.Model != strings.Repeat("é", 100) || got.Endpoint != strings.Repeat("é", 50) {
			t.Fatalf("model %d bytes, endpoint %d bytes; want 200 and 100", len(got.Model), len(got.Endpoint))
		}
	})
}

// TestShipLargeBatch crosses the per-statement row limit of both dialects.
func TestShipLargeBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("large batch")
	}
	eachPath(t, func(t *testing.T, fx *fixture) {
		const n = 7000
		batch := make([]usage.Record, n)
		for i := range batch {
			key := fx.kA1
			if i%2 == 1 {
				key = fx.kA2
			}
			batch[i] = rec(fmt.Sprint("big-", i), fx.wsA, key, t0.Add(time.Duration(i)*time.Second))
		}
		fx.ship(t, batch[:n/2]...)
		fx.ship(t, batch...)
		if got := fx.events(t); got != n {
			t.Fatalf("events = %d, want %d", got, n)
		}
		a1, a2 := fx.keyRow(t, fx.kA1), fx.keyRow(t, fx.kA2)
		if a1.requests != n/2 || a2.requests != n/2 {
			t.Fatalf("requests = %d, %d; want %d each", a1.requests, a2.requests, n/2)
		}
		if !a2.lastUsed.Equal(t0.Add((n - 1) * time.Second)) {
			t.Fatalf("A2 last_used_at = %v", a2.lastUsed)
		}
	})
}

func TestShipCancelled(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := fx.l.Ship(ctx, []usage.Record{rec("a", fx.wsA, fx.kA1, t0)}); err == nil {
			t.Fatal("Ship with a cancelled context succeeded")
		}
		// The pool must still work, and the batch go through on retry.
		fx.ship(t, rec("a", fx.wsA, fx.kA1, t0))
		if k := fx.keyRow(t, fx.kA1); k.requests != 1 {
			t.Fatalf("requests = %d, want 1", k.requests)
		}
	})
}

// TestShipConcurrent ships overlapping batches from several goroutines, as
// gateway replicas that share a database do: every record is stored and
// counted once, whichever shipper wins it, and none deadlocks.
func TestShipConcurrent(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		const shippers, n = 4, 300
		batch := make([]usage.Record, n)
		for i := range batch {
			key := []string{fx.kA1, fx.kA2}[i%2]
			batch[i] = rec(fmt.Sprint("c", i), fx.wsA, key, t0.Add(time.Duration(i)*time.Second))
		}
		errs := make(chan error, shippers)
		for g := range shippers {
			go func() {
				// Each ships the records in its own order and slices.
				mine := slices.Clone(batch)
				slices.Reverse(mine[g*n/shippers:])
				errs <- fx.l.Ship(context.Background(), mine)
			}()
		}
		deadline := time.After(time.Minute) // a deadlock guard, not a timing assertion
		for i := range shippers {
			select {
			case err := <-errs:
				if err != nil {
					t.Fatal(err)
				}
			case <-deadline:
				t.Fatalf("%d of %d shippers still running after a minute", shippers-i, shippers)
			}
		}
		if got := fx.events(t); got != n {
			t.Fatalf("events = %d, want %d", got, n)
		}
		if a1, a2 := fx.keyRow(t, fx.kA1), fx.keyRow(t, fx.kA2); a1.requests+a2.requests != n {
			t.Fatalf("requests = %d + %d, want %d", a1.requests, a2.requests, n)
		}
	})
}

// TestShipChannel: the channel that served a request (issue 17) lands in
// the ledger with the record, on every insert path, and ByChannel splits
// cost and errors by it; a record of no channel groups under "".
func TestShipChannel(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		on := func(ch string) func(*usage.Record) { return func(r *usage.Record) { r.Channel = ch } }
		fx.ship(t,
			rec("ch-1", fx.wsA, fx.kA1, t0, on("azure-east")),
			rec("ch-2", fx.wsA, fx.kA1, t0.Add(time.Minute), on("azure-east"), status(502), func(r *usage.Record) {
				r.ErrorCode, r.Source, r.PromptTokens, r.CompletionTokens, r.CostMicros = usage.ErrorCodeUpstream, usage.SourceNone, 0, 0, 0
			}),
			rec("ch-3", fx.wsA, fx.kA2, t0.Add(2*time.Minute), on("openai-1")),
			rec("ch-4", fx.wsA, fx.kA2, t0.Add(3*time.Minute)),
			rec("ch-5", fx.wsB, fx.kB1, t0, on("azure-east")),
		)
		ev, err := fx.s.Ent.UsageEvent.Query().Where(usageevent.RequestID("ch-1")).Only(fx.systemCtx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Channel != "azure-east" {
			t.Errorf("stored channel %q, want azure-east", ev.Channel)
		}
		gs, err := fx.l.ByChannel(context.Background(), ledger.Filter{WorkspaceID: fx.wsA, From: t0.Add(-time.Hour), To: t0.Add(2 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][3]int64{}
		for _, g := range gs {
			got[g.Key] = [3]int64{g.Requests, g.Errors, g.CostMicros}
		}
		want := map[string][3]int64{"azure-east": {1, 1, 100}, "openai-1": {1, 0, 100}, "": {1, 0, 100}}
		if d := diff(want, got); d != "" {
			t.Error(d)
		}
	})
}
