package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/oais/oais/internal/usage"
)

// TestShipKeyCredit: Ship keeps each key's all-time cost
// (api_keys.credit_used_micros, the floor of its credit quota) as it keeps
// request_count: once per stored record, nothing for a refusal, and
// without moving updated_at.
func TestShipKeyCredit(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		before := fx.keyRow(t, fx.kA1)
		batch := []usage.Record{
			rec("c1", fx.wsA, fx.kA1, t0),
			rec("c2", fx.wsA, fx.kA1, t0.Add(time.Minute), func(r *usage.Record) { r.CostMicros = 250 }),
			// A refusal that carries a cost by mistake is stored without it.
			rec("c3", fx.wsA, fx.kA1, t0, status(429), func(r *usage.Record) {
				r.ErrorCode, r.Source, r.PromptTokens, r.CompletionTokens = "insufficient_quota", usage.SourceNone, 0, 0
			}),
			rec("c4", fx.wsA, fx.kA2, t0),
		}
		fx.ship(t, batch...)
		fx.ship(t, batch...) // shipped twice: counted once
		if got := fx.credit(t, fx.kA1); got != 350 {
			t.Errorf("A1 credit_used_micros = %d, want 350", got)
		}
		if got := fx.credit(t, fx.kA2); got != 100 {
			t.Errorf("A2 credit_used_micros = %d, want 100", got)
		}
		if after := fx.keyRow(t, fx.kA1); !after.updatedAt.Equal(before.updatedAt) {
			t.Errorf("updated_at moved from %v to %v; gateways would reload the key", before.updatedAt, after.updatedAt)
		}
	})
}

// TestShipAfterRequestReset: once a key's request count is reset
// (requests_reset_at), a record from before the reset that ships only now
// (it sat in a gateway's spool) is stored and billed, but not counted in
// the new request count; its cost still counts against the credit quota,
// which is never reset.
func TestShipAfterRequestReset(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		reset := t0.Add(time.Hour)
		if err := fx.s.Ent.APIKey.UpdateOneID(fx.kA1).SetRequestCount(0).SetCacheHits(0).SetRequestsResetAt(reset).Exec(fx.systemCtx); err != nil {
			t.Fatal(err)
		}
		fx.ship(t,
			rec("old", fx.wsA, fx.kA1, reset.Add(-time.Second)),
			rec("old-hit", fx.wsA, fx.kA1, reset.Add(-time.Second), cacheHit),
			rec("at", fx.wsA, fx.kA1, reset),
			rec("new-hit", fx.wsA, fx.kA1, reset.Add(time.Minute), cacheHit),
		)
		if n := fx.events(t); n != 4 {
			t.Fatalf("events = %d, want 4: every record is stored", n)
		}
		if k := fx.keyRow(t, fx.kA1); k.requests != 2 || k.cacheHits != 1 {
			t.Errorf("after the reset: %d requests, %d cache hits; want 2 and 1", k.requests, k.cacheHits)
		}
		if got := fx.credit(t, fx.kA1); got != 400 {
			t.Errorf("credit_used_micros = %d, want 400: cost before the reset counts too", got)
		}
	})
}

// TestBudgetsOfKeys: the floors of key budgets are read for every key with
// a request limit or a credit quota, deleted keys left out, with the time
// of the last reset.
func TestBudgetsOfKeys(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		ctx := fx.systemCtx
		reset := t0.Add(time.Hour)
		limited, quota, gone := fx.kA1, fx.kA2, fx.kB1
		plain := fx.key(t, fx.wsA, "plain")
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(fx.s.Ent.APIKey.UpdateOneID(limited).SetMaxRequests(10).SetRequestsResetAt(reset).Exec(ctx))
		must(fx.s.Ent.APIKey.UpdateOneID(quota).SetCreditQuotaCents(5).Exec(ctx))
		must(fx.s.Ent.APIKey.UpdateOneID(gone).SetCreditQuotaCents(5).SetDeletedAt(reset).Exec(ctx))
		fx.ship(t, rec("b1", fx.wsA, limited, reset), rec("b2", fx.wsA, quota, t0), rec("b3", fx.wsA, plain, t0), rec("b4", fx.wsB, gone, t0))
		if n := fx.events(t); n != 4 {
			t.Fatalf("events = %d, want 4: a deleted key's usage is still stored and billed", n)
		}
		b, err := fx.l.Budgets(context.Background(), t0)
		if err != nil {
			t.Fatal(err)
		}
		if d := diff(map[string]int64{limited: 1, quota: 1}, b.KeyRequests); d != "" {
			t.Errorf("KeyRequests:\n%s", d)
		}
		if d := diff(map[string]int64{limited: 100, quota: 100}, b.KeyCostMicros); d != "" {
			t.Errorf("KeyCostMicros:\n%s", d)
		}
		if at, ok := b.KeyResetAt[limited]; !ok || !at.Equal(reset) || len(b.KeyResetAt) != 1 {
			t.Errorf("KeyResetAt = %v, want %s: %v", b.KeyResetAt, limited, reset)
		}
	})
}

func (f *fixture) credit(t testing.TB, id string) int64 {
	t.Helper()
	k, err := f.s.Ent.APIKey.Get(f.systemCtx, id)
	if err != nil {
		t.Fatal(err)
	}
	return k.CreditUsedMicros
}

// TestShipRacingARequestReset: a batch of records from before a reset
// ships while the reset is committing. On PostgreSQL the batch read the
// key's requests_reset_at before the reset committed, then added its count
// on top of the reset's zero (its UPDATE waited for the reset's row lock):
// the reset was undone and the key refused requests it had just been given
// back (faulttest TestKeyLifecycleReachesGateways saw it in CI). The batch
// must read the reset it will add to: the key rows are locked first.
func TestShipRacingARequestReset(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		if fx.s.Dialect != "postgres" {
			t.Skip("SQLite ships under BEGIN IMMEDIATE: a reset cannot commit inside a shipment")
		}
		ctx := context.Background()
		reset := t0.Add(time.Hour)
		tx, err := fx.s.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET request_count = 0, requests_reset_at = $1 WHERE id = $2`, reset, fx.kA1); err != nil {
			t.Fatal(err)
		}
		shipped := make(chan error, 1)
		go func() {
			shipped <- fx.l.Ship(ctx, []usage.Record{rec("r1", fx.wsA, fx.kA1, reset.Add(-time.Second)), rec("r2", fx.wsA, fx.kA1, reset.Add(-time.Second))})
		}()
		time.Sleep(300 * time.Millisecond) // the shipment reads the key and waits on its row
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-shipped; err != nil {
			t.Fatal(err)
		}
		if k := fx.keyRow(t, fx.kA1); k.requests != 0 {
			t.Fatalf("request_count = %d after a reset that committed while records from before it shipped, want 0", k.requests)
		}
	})
}
