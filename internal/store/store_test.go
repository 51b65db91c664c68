package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/ent/migrate"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/migrations"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestParseURL(t *testing.T) {
	tests := []struct {
		name, url, driver, wantErr string
	}{
		{name: "sqlite relative", url: "sqlite://./data/oais.db", driver: "sqlite"},
		{name: "sqlite absolute", url: "sqlite:///var/lib/oais/oais.db", driver: "sqlite"},
		{name: "postgres", url: "postgres://u:p@127.0.0.1:5432/oais?sslmode=disable", driver: "pgx"},
		{name: "postgresql alias", url: "postgresql://u@h/db", driver: "pgx"},
		{name: "no scheme", url: "./data/oais.db", wantErr: "missing scheme"},
		{name: "mysql", url: "mysql://h/db", wantErr: "unsupported scheme"},
		{name: "sqlite no path", url: "sqlite://", wantErr: "needs a path"},
		{name: "postgres no host", url: "postgres:///db", wantErr: "needs a host"},
		{name: "garbage", url: "postgres://%zz", wantErr: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			driver, _, _, _, err := store.ParseURL(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || driver != tt.driver {
				t.Fatalf("driver = %q, err = %v; want %q", driver, err, tt.driver)
			}
		})
	}
}

// TestMigrationsMatchSchema fails when ent/schema changed without a new
// migration: after every migration is applied, ent must find nothing to do.
func TestMigrationsMatchSchema(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		st, err := s.MigrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Pending) != 0 || st.Dirty || st.Current != st.Latest || st.Latest == 0 {
			t.Fatalf("status after migrate up = %+v", st)
		}
		var buf bytes.Buffer
		if err := s.Ent.Schema.WriteTo(ctx, &buf, migrate.WithDropColumn(true), migrate.WithDropIndex(true), migrations.HidePartitioning()); err != nil {
			t.Fatal(err)
		}
		var stmts []string
		for _, line := range strings.Split(buf.String(), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line == "BEGIN;" || line == "COMMIT;" || strings.HasPrefix(line, "--") {
				continue
			}
			stmts = append(stmts, line)
		}
		if len(stmts) > 0 {
			t.Fatalf("ent/schema and migrations/ disagree; run `make generate`. Missing:\n%s", strings.Join(stmts, "\n"))
		}
		n, err := s.Migrate(ctx)
		if err != nil || n != 0 {
			t.Fatalf("second migrate up applied %d, err %v", n, err)
		}
	})
}

func TestClassify(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := viewer.SystemContext(context.Background())
		if _, err := s.Ent.User.Create().SetEmail("dup@example.com").Save(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := s.Ent.User.Create().SetEmail("dup@example.com").Save(ctx)
		if !errors.Is(store.Classify(err), store.ErrConflict) {
			t.Fatalf("duplicate email: %v, want ErrConflict", err)
		}
		_, err = s.Ent.User.Get(ctx, "usr_nope")
		if !errors.Is(store.Classify(err), store.ErrNotFound) {
			t.Fatalf("missing user: %v, want ErrNotFound", err)
		}
		_, err = s.Ent.APIKey.Create().SetWorkspaceID("ws_nope").SetLabel("x").SetSecretHash("h").SetMaskedKey("m").Save(ctx)
		if !errors.Is(store.Classify(err), store.ErrConstraint) && !errors.Is(store.Classify(err), store.ErrConflict) {
			t.Fatalf("dangling workspace: %v, want a constraint error", err)
		}
		if s.Dialect == "postgres" {
			// Values PostgreSQL cannot hold, whatever the table.
			var out any
			for _, arg := range []string{"nul\x00byte", "caf\xe9"} {
				err := s.DB.QueryRowContext(ctx, `SELECT $1::text`, arg).Scan(&out)
				if !errors.Is(store.Classify(err), store.ErrInvalidData) {
					t.Fatalf("text %q: %v, want ErrInvalidData", arg, err)
				}
			}
			err := s.DB.QueryRowContext(ctx, `SELECT $1::bigint + 1`, int64(math.MaxInt64)).Scan(&out)
			if !errors.Is(store.Classify(err), store.ErrInvalidData) {
				t.Fatalf("bigint overflow: %v, want ErrInvalidData", err)
			}
			// What pgx's statement cache meets behind a transaction
			// pooler: a statement prepared twice, or not at all, on the
			// server connection the query landed on (each in a
			// transaction, which keeps one server connection through
			// PgBouncer too).
			name := fmt.Sprintf("oais_twice_%d", time.Now().UnixNano())
			for _, q := range [][]string{{"PREPARE " + name + " AS SELECT 1", "PREPARE " + name + " AS SELECT 1"}, {"EXECUTE oais_never"}} {
				tx, err := s.DB.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, stmt := range q {
					_, err = tx.ExecContext(ctx, stmt)
				}
				_ = tx.Rollback()
				if !errors.Is(store.Classify(err), store.ErrStatementCache) {
					t.Fatalf("%s: %v, want ErrStatementCache", q[len(q)-1], err)
				}
			}
			return
		}
		// A trigger's RAISE(ABORT) on SQLite is a constraint error too.
		if _, err := s.DB.ExecContext(ctx, `CREATE TABLE guarded (x INTEGER)`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB.ExecContext(ctx, `CREATE TRIGGER guard BEFORE INSERT ON guarded BEGIN SELECT RAISE(ABORT, 'no'); END`); err != nil {
			t.Fatal(err)
		}
		_, err = s.DB.ExecContext(ctx, `INSERT INTO guarded VALUES (1)`)
		if !errors.Is(store.Classify(err), store.ErrConstraint) {
			t.Fatalf("trigger abort: %v, want ErrConstraint", err)
		}
	})
}

func TestOpenUnreachable(t *testing.T) {
	_, err := store.Open(context.Background(), "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if err == nil || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatal("password leaked")
	}
}
