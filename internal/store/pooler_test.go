package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
)

// TestMigrationStatusThroughTransactionPooler attacks the migration check
// every binary runs at start (gateways every 250 ms until the control plane
// has migrated) through PgBouncer in transaction pooling: stores opened and
// checked four at a time while other clients run short transactions on the
// same database. golang-migrate's status took a session-level advisory
// lock and released it in a later statement, which the pooler may send to
// another server connection: the lock stayed behind on the first one, and
// the next check blocked on it without end (2 of 4 checks hung in the
// first round). Each check must return within 10 s.
func TestMigrationStatusThroughTransactionPooler(t *testing.T) {
	s := storetest.Postgres(t)
	dsn := storetest.PooledURL(t, s)
	ctx := context.Background()
	noise, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer noise.Close()
	var wg sync.WaitGroup
	var stop atomic.Bool
	for range 6 {
		wg.Go(func() {
			for !stop.Load() {
				if tx, err := noise.DB.BeginTx(ctx, nil); err == nil {
					_, _ = tx.ExecContext(ctx, "SELECT pg_sleep(0.002)")
					_ = tx.Commit()
				}
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()
	checks := 0
	for round := 0; round < 20 && !t.Failed(); round++ {
		var w sync.WaitGroup
		for range 4 {
			w.Go(func() {
				st, err := store.Open(ctx, dsn)
				if err != nil {
					t.Error(err)
					return
				}
				defer st.Close()
				done := make(chan error, 1)
				go func() {
					ms, err := st.MigrationStatus(ctx)
					if err == nil && (len(ms.Pending) > 0 || ms.Dirty || ms.Current == 0) {
						t.Errorf("status through the pooler: %+v, want migrated", ms)
					}
					done <- err
				}()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("MigrationStatus: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Errorf("MigrationStatus through the pooler hung for 10 s (round %d)", round)
				}
			})
		}
		w.Wait()
		checks += 4
	}
	if !t.Failed() {
		t.Logf("FIGURE: %d migration checks through PgBouncer (transaction pooling) beside 6 clients' transactions, none took over 10 s", checks)
	}
}

// TestMigrationStatusBeforeMigrating: a database nothing migrated yet (no
// version table) has every embedded migration pending, and a version
// table written by golang-migrate is read as it is.
func TestMigrationStatusBeforeMigrating(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		s, err := store.Open(ctx, storetest.SQLiteURL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ms, err := s.MigrationStatus(ctx)
		if err != nil || ms.Current != 0 || ms.Dirty || len(ms.Pending) == 0 || ms.Pending[len(ms.Pending)-1] != ms.Latest {
			t.Fatalf("fresh SQLite: %+v, %v; want nothing applied, every migration pending", ms, err)
		}
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if ms, err = s.MigrationStatus(ctx); err != nil || ms.Current != ms.Latest || len(ms.Pending) != 0 {
			t.Fatalf("after Migrate: %+v, %v", ms, err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		s := storetest.Postgres(t)
		if _, err := s.DB.ExecContext(ctx, "UPDATE schema_migrations SET dirty = true"); err != nil {
			t.Fatal(err)
		}
		ms, err := s.MigrationStatus(ctx)
		if err != nil || !ms.Dirty || ms.Current != ms.Latest {
			t.Fatalf("dirty version: %+v, %v", ms, err)
		}
		if _, err := s.DB.ExecContext(ctx, "DROP TABLE schema_migrations"); err != nil {
			t.Fatal(err)
		}
		if ms, err = s.MigrationStatus(ctx); err != nil || ms.Current != 0 || len(ms.Pending) == 0 {
			t.Fatalf("no version table: %+v, %v; want every migration pending", ms, err)
		}
	})
}
